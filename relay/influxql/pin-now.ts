// now() in a statement that reads or removes points means the moment the client sent it. A replica that
// is behind applies the statement later, from a relay's queue, where now() would be later too: a
// "DELETE ... WHERE time < now() - 30d" would remove more there than on the others. So the relay writes
// the moment it accepted the statement in its place, as an integer of nanoseconds, which InfluxQL reads
// as a time ("time < 1700000000000000000 - 30d") the same on every replica, whenever it runs.
import { tokenize, type Token } from "./lexer.js";

/** `statement` with every call of now() (any case, quoted or not, as influxd reads them) replaced by `nowNs`. */
export function pinNow(statement: string, nowNs: bigint): string {
  const lexed = tokenize(statement);
  if ("error" in lexed) return statement;
  const { tokens } = lexed;
  let pinned = "";
  let copiedTo = 0;
  for (let i = 0; i + 2 < tokens.length; i++) {
    const [name, open, close] = [tokens[i]!, tokens[i + 1]!, tokens[i + 2]!];
    // influxd reads a call only with "(" right after the name: "now ()" is a parse error, left as it is.
    if (!isNow(name) || open.text !== "(" || open.start !== name.end || close.text !== ")") continue;
    pinned += statement.slice(copiedTo, name.start) + nowNs.toString();
    copiedTo = close.end;
    i += 2;
  }
  return pinned + statement.slice(copiedTo);
}

function isNow(token: Token): boolean {
  if (token.kind === "keyword-or-ident") return token.text.toLowerCase() === "now";
  return token.kind === "quoted-ident" && token.text.toLowerCase() === '"now"';
}
