// pinNow (relay/influxql/pin-now.ts): now() in a queued statement becomes the moment it was accepted.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tokenize } from "../../relay/influxql/lexer.js";
import { pinNow } from "../../relay/influxql/pin-now.js";

const AT = 1_795_784_570_000_000_000n;

describe("pinNow", () => {
  it.each([
    ["DELETE FROM m WHERE time < now() - 30d", "DELETE FROM m WHERE time < 1795784570000000000 - 30d"],
    [
      "delete from m where time < NOW() - 1h and time > Now( ) - 2h",
      "delete from m where time < 1795784570000000000 - 1h and time > 1795784570000000000 - 2h",
    ],
    [
      'SELECT mean(v) INTO m2 FROM m WHERE time > "now"() - 1h GROUP BY time(1m)',
      "SELECT mean(v) INTO m2 FROM m WHERE time > 1795784570000000000 - 1h GROUP BY time(1m)",
    ],
  ])("%s", (statement, pinned) => {
    expect(pinNow(statement, AT)).toBe(pinned);
  });

  it.each([
    "DELETE FROM m WHERE host = 'now()'",
    'DELETE FROM "now()" WHERE time < 5',
    "DELETE FROM m WHERE time < now () - 1h", // influxd refuses it: left for influxd to say so
    "DELETE FROM m WHERE now = 1",
    "DELETE FROM m WHERE host =~ /now()/",
    "DELETE FROM m -- now()\nWHERE time < 5",
    "DELETE FROM m WHERE 'unterminated now()",
  ])("leaves %s as it is", (statement) => {
    expect(pinNow(statement, AT)).toBe(statement);
  });

  it("leaves a statement without a call of now() byte for byte, and leaves none in one that had some", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const pinned = pinNow(text, AT);
        const lexed = tokenize(pinned);
        if (!/now/i.test(text)) expect(pinned).toBe(text);
        if ("tokens" in lexed) {
          const names = lexed.tokens.map((t, i) => [t, lexed.tokens[i + 1]] as const);
          expect(names.some(([t, next]) => /^"?now"?$/i.test(t.text) && next?.text === "(" && next.start === t.end)).toBe(false);
        }
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom("now()", "NOW()", "x", "1h", "-", "<", " ", "time"), { maxLength: 12 }), (parts) => {
        const statement = `DELETE FROM m WHERE ${parts.join(" ")}`;
        const calls = parts.filter((p) => /^now\(\)$/i.test(p)).length;
        expect(pinNow(statement, AT).split(AT.toString()).length - 1).toBe(calls);
      }),
    );
  });
});
