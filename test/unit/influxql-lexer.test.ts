// The InfluxQL tokenizer against what influxd 1.x's scanner does (checked on a real influxd where the
// Go source left room for doubt): where a ';' is not a separator, where '/' opens a regex, and errors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tokenize, type Token } from "../../relay/influxql/lexer.js";
import { nastyInfluxql } from "../helpers/influxql-text.js";

function tokensOf(source: string): readonly Token[] {
  const result = tokenize(source);
  if ("error" in result) throw new Error(`${JSON.stringify(source)}: ${result.error} at ${result.offset}`);
  return result.tokens;
}

/** Tokens as "kind text" strings, which read well in a failing expectation. */
function lex(source: string): string[] {
  return tokensOf(source).map((token) => `${token.kind} ${token.text}`);
}

function errorOf(source: string): { readonly error: string; readonly offset: number } {
  const result = tokenize(source);
  if (!("error" in result)) throw new Error(`expected an error for ${JSON.stringify(source)}`);
  return result;
}

describe("tokenize", () => {
  it("reads every kind of token, dropping whitespace and comments", () => {
    expect(lex("SELECT mean(\"v\") AS m FROM db.rp.cpu WHERE host = 'a' AND time > now() - 1h30m GROUP BY time(10s); -- done")).toEqual([
      "keyword-or-ident SELECT",
      "keyword-or-ident mean",
      "operator (",
      'quoted-ident "v"',
      "operator )",
      "keyword-or-ident AS",
      "keyword-or-ident m",
      "keyword-or-ident FROM",
      "keyword-or-ident db",
      "operator .",
      "keyword-or-ident rp",
      "operator .",
      "keyword-or-ident cpu",
      "keyword-or-ident WHERE",
      "keyword-or-ident host",
      "operator =",
      "string 'a'",
      "keyword-or-ident AND",
      "keyword-or-ident time",
      "operator >",
      "keyword-or-ident now",
      "operator (",
      "operator )",
      "operator -",
      "duration 1h30m",
      "keyword-or-ident GROUP",
      "keyword-or-ident BY",
      "keyword-or-ident time",
      "operator (",
      "duration 10s",
      "operator )",
      "semicolon ;",
    ]);
  });

  it("gives each token its offsets", () => {
    expect(tokensOf(" a\t'b'\n")).toEqual([
      { kind: "keyword-or-ident", text: "a", start: 1, end: 2 },
      { kind: "string", text: "'b'", start: 3, end: 6 },
    ]);
  });

  it("keeps ';' and comment starts inside strings and quoted identifiers", () => {
    expect(lex(`'a;b' "c;d" 'x -- y' "/* z */" 'it\\'s; fine' "we\\"ird;" 'back\\\\' 'nl\\n'`)).toEqual([
      "string 'a;b'",
      'quoted-ident "c;d"',
      "string 'x -- y'",
      'quoted-ident "/* z */"',
      "string 'it\\'s; fine'",
      'quoted-ident "we\\"ird;"',
      "string 'back\\\\'",
      "string 'nl\\n'",
    ]);
  });

  it("allows only influxd's escapes: \\n \\\\ \\' \\\"", () => {
    expect(lex(`'\\"' "\\'"`)).toEqual([`string '\\"'`, `quoted-ident "\\'"`]);
    expect(errorOf("SELECT 'a\\tb'")).toEqual({ error: "bad escape \\t in string", offset: 9 });
    expect(errorOf('SELECT "a\\/b"')).toEqual({ error: "bad escape \\/ in quoted identifier", offset: 9 });
    expect(errorOf("'a\\")).toEqual({ error: "bad escape \\ in string", offset: 2 });
  });

  it("refuses unterminated strings and a newline inside one, as influxd does", () => {
    expect(errorOf("SELECT 'abc")).toEqual({ error: "unterminated string", offset: 7 });
    expect(errorOf('SELECT "abc')).toEqual({ error: "unterminated quoted identifier", offset: 7 });
    expect(errorOf("SELECT 'a\nb'")).toEqual({ error: "newline in string", offset: 9 });
    expect(errorOf("SELECT 'a\rb'")).toEqual({ error: "newline in string", offset: 9 });
    expect(errorOf("SELECT 'it\\'s")).toEqual({ error: "unterminated string", offset: 7 });
  });

  it("reads a word followed by a quoted identifier as one identifier, as influxd does", () => {
    // influxd: `SELECT ab"c d" FROM m` selects the field "c d", and `SELECT"x"` is no SELECT at all.
    expect(lex('ab"c d" SELECT"x" "a"b')).toEqual([
      'quoted-ident ab"c d"',
      'quoted-ident SELECT"x"',
      'quoted-ident "a"',
      "keyword-or-ident b",
    ]);
  });

  it("reads identifiers as letters, digits and '_', not starting with a digit", () => {
    expect(lex("_a1 b_2 3c")).toEqual(["keyword-or-ident _a1", "keyword-or-ident b_2", "duration 3c"]);
    expect(errorOf("SELECT café")).toEqual({ error: 'illegal character "é"', offset: 10 });
  });

  it("skips line comments to the end of the line and block comments to their end", () => {
    expect(lex("a -- ; 'b\nc /* ; \n 'd */ e /**/ f /***/ g -- end")).toEqual([
      "keyword-or-ident a",
      "keyword-or-ident c",
      "keyword-or-ident e",
      "keyword-or-ident f",
      "keyword-or-ident g",
    ]);
    expect(lex("a--b\rc")).toEqual(["keyword-or-ident a", "keyword-or-ident c"]);
    expect(lex("a /* b */")).toEqual(["keyword-or-ident a"]);
  });

  it("refuses an unterminated block comment, which influxd reads as an illegal token", () => {
    expect(errorOf("SELECT a /* ; b")).toEqual({ error: "unterminated comment", offset: 9 });
    expect(errorOf("a /*/")).toEqual({ error: "unterminated comment", offset: 2 });
  });

  it("reads integers, decimals, durations and bound parameters", () => {
    expect(lex('12 1.5 .5 1. 10s 1h30m 10µs 1d2x 1.5h $name $1 $"a b" $ 2..3')).toEqual([
      "number 12",
      "number 1.5",
      "number .5",
      "number 1.",
      "duration 10s",
      "duration 1h30m",
      "duration 10µs",
      "duration 1d2x",
      "number 1.5",
      "keyword-or-ident h",
      "param $name",
      "param $1",
      'param $"a b"',
      "param $",
      "number 2.",
      "number .3",
    ]);
  });

  it("reads operators longest first", () => {
    expect(lex("a=~b!~c!=d<>e<=f>=g::h<i>j=k+l-m*n%o&p|q^r:s.t")).toEqual(
      "a =~ b !~ c != d <> e <= f >= g :: h < i > j = k + l - m * n % o & p | q ^ r : s . t"
        .split(" ")
        .map((text) => `${/[a-z]/.test(text) ? "keyword-or-ident" : "operator"} ${text}`),
    );
  });

  it("refuses characters influxd's scanner calls illegal", () => {
    for (const [source, char] of [
      ["a ! b", "!"],
      ["a # b", "#"],
      ["a ~ b", "~"],
      ["a\fb", "\f"],
      ["a\u00a0b", "\u00a0"],
      ["a 😀", "😀"],
    ] as const) {
      expect(errorOf(source), source).toEqual({ error: `illegal character ${JSON.stringify(char)}`, offset: source.indexOf(char) });
    }
  });

  it("refuses a NUL anywhere, even in a string or comment, before any other error", () => {
    expect(errorOf("CR\0EATE DATABASE x")).toEqual({ error: "NUL character", offset: 2 });
    expect(errorOf("'abc -- \0")).toEqual({ error: "NUL character", offset: 8 });
  });
});

describe("tokenize: regex or division", () => {
  it("reads '/' after an operand as division", () => {
    expect(lex("SELECT a / 2, (b)/c, 4/d, 'x'/e, \"f\"/g FROM m")).toEqual([
      "keyword-or-ident SELECT",
      "keyword-or-ident a",
      "operator /",
      "number 2",
      "operator ,",
      "operator (",
      "keyword-or-ident b",
      "operator )",
      "operator /",
      "keyword-or-ident c",
      "operator ,",
      "number 4",
      "operator /",
      "keyword-or-ident d",
      "operator ,",
      "string 'x'",
      "operator /",
      "keyword-or-ident e",
      "operator ,",
      'quoted-ident "f"',
      "operator /",
      "keyword-or-ident g",
      "keyword-or-ident FROM",
      "keyword-or-ident m",
    ]);
  });

  it("reads a regex wherever influxd's parser scans one", () => {
    const regexes = (source: string) =>
      tokensOf(source)
        .filter((token) => token.kind === "regex")
        .map((token) => token.text);
    expect(regexes("SELECT * FROM /cpu.*/")).toEqual(["/cpu.*/"]);
    expect(regexes("SELECT * FROM m WHERE host =~ /a;b/ AND dc !~/c;d/")).toEqual(["/a;b/", "/c;d/"]);
    expect(regexes("SELECT /f;1/, /f;2/ FROM a, /m;1/ GROUP BY /t;1/, /t;2/")).toEqual(["/f;1/", "/f;2/", "/m;1/", "/t;1/", "/t;2/"]);
    expect(regexes("SELECT count(/v;1/), top(v, /v;2/, 3) FROM m")).toEqual(["/v;1/", "/v;2/"]);
    expect(regexes("SELECT a FROM db.rp./m;1/, db../m;2/")).toEqual(["/m;1/", "/m;2/"]);
    expect(regexes("SHOW MEASUREMENTS WITH MEASUREMENT = /m;1/; SHOW MEASUREMENTS WITH MEASUREMENT = rp./m;2/")).toEqual([
      "/m;1/",
      "/m;2/",
    ]);
    expect(regexes("SHOW TAG KEYS FROM /m;1/; DROP SERIES FROM /m;2/; DELETE FROM /m;3/ WHERE a =~ /t;1/")).toEqual([
      "/m;1/",
      "/m;2/",
      "/m;3/",
      "/t;1/",
    ]);
    expect(regexes("SELECT a FROM (SELECT b FROM m), /m;1/")).toEqual(["/m;1/"]);
    expect(regexes("select * from /cpu/ where a =~\n\t/b/")).toEqual(["/cpu/", "/b/"]);
  });

  it("reads '/' after a '.' outside FROM as division, as influxd does (\"a./b/2\" is a / b / 2)", () => {
    expect(lex("SELECT x FROM m WHERE a./b; SELECT c/2 FROM m").filter((token) => token.startsWith("semicolon"))).toHaveLength(1);
    expect(lex("SELECT a./b/2 FROM (SELECT c FROM db.rp.m WHERE d./e/2)")).not.toContainEqual(expect.stringMatching(/^regex/));
  });

  it("reads \\/ inside a regex as an escaped '/', and any other backslash as itself", () => {
    expect(lex("a =~ /x\\/;y/")).toContain("regex /x\\/;y/");
    // "\\/" is a backslash then an escaped '/': it does not close the regex.
    expect(lex("a =~ /x\\\\/;y/")).toContain("regex /x\\\\/;y/");
    expect(lex("a =~ /\\d+\\.\\w/")).toContain("regex /\\d+\\.\\w/");
  });

  it("refuses an unterminated regex and one spanning lines", () => {
    expect(errorOf("SELECT * FROM /cpu")).toEqual({ error: "unterminated regex", offset: 14 });
    expect(errorOf("SELECT * FROM /cpu\n/")).toEqual({ error: "unterminated regex", offset: 14 });
    expect(errorOf("a =~ /x\\/")).toEqual({ error: "unterminated regex", offset: 5 });
  });

  it("reads '/*' as a comment even where a regex may start", () => {
    // influxd would scan a regex starting with '*', which Go's regexp refuses: the query fails either way.
    expect(lex("SELECT /* ; */ a FROM /* x */ m")).toEqual([
      "keyword-or-ident SELECT",
      "keyword-or-ident a",
      "keyword-or-ident FROM",
      "keyword-or-ident m",
    ]);
  });

  it("lets a regex start after whitespace and comments that follow =~", () => {
    expect(lex("a =~ -- c\n /b;c/")).toEqual(["keyword-or-ident a", "operator =~", "regex /b;c/"]);
  });
});

/** The scanner's corners, with a few more: parameters, durations, CR, tab, non-ASCII, NUL, keywords. */
const NASTY = nastyInfluxql(["$", "h", "\r", "\t", "é", "\0", "FROM", "SELECT"], 60);
const ANY_TEXT = fc.oneof(fc.string(), fc.string({ unit: "binary" }), NASTY);

describe("tokenize: properties", () => {
  it("never throws, and its tokens lie in order inside the source, each the text it covers", () => {
    fc.assert(
      fc.property(ANY_TEXT, (source) => {
        const result = tokenize(source);
        if ("error" in result) {
          expect(result.offset).toBeGreaterThanOrEqual(0);
          expect(result.offset).toBeLessThan(source.length);
          return;
        }
        let previousEnd = 0;
        for (const token of result.tokens) {
          expect(token.start).toBeGreaterThanOrEqual(previousEnd);
          expect(token.end).toBeGreaterThan(token.start);
          expect(token.end).toBeLessThanOrEqual(source.length);
          expect(token.text).toBe(source.slice(token.start, token.end));
          previousEnd = token.end;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("reads the same tokens when whitespace or comments are put between them", () => {
    const fragments = fc.array(
      fc.constantFrom(
        "SELECT",
        "FROM",
        "BY",
        "a",
        "db",
        "'s;t'",
        '"q;i"',
        'ab"c"',
        "/r;e/",
        "/",
        "*",
        "-",
        "=~",
        "=",
        "!=",
        "<",
        "(",
        ")",
        ",",
        ".",
        ":",
        "1",
        "1.",
        ".5",
        "10s",
        "$p",
        ";",
      ),
    );
    const separator = fc.constantFrom(" ", "\n", "\t ", " /* ; ' */ ", ' -- ; " \n', "\r\n");
    fc.assert(
      fc.property(fragments, fc.array(fc.constantFrom("", " ")), fc.array(separator, { minLength: 1 }), (pieces, glue, separators) => {
        const source = pieces.map((piece, i) => piece + (glue[i] ?? "")).join("");
        const result = tokenize(source);
        fc.pre(!("error" in result));
        const expected = result.tokens.map((token) => `${token.kind} ${token.text}`);
        const spaced = result.tokens.map((token, i) => (i === 0 ? "" : separators[i % separators.length]!) + token.text).join("");
        expect(lex(spaced)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
