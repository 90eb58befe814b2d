// Splitting a /query q into statements and classing each as a read (one replica), a write (every replica)
// or single-server (refused): the relay's routing of InfluxQL rests on both being right.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classifyQuery, type ClassifiedStatement, type StatementClass } from "../../relay/influxql/classify.js";
import { KEYWORDS } from "../../relay/influxql/lexer.js";
import { nastyInfluxql } from "../helpers/influxql-text.js";

function statementsOf(q: string): readonly ClassifiedStatement[] {
  const result = classifyQuery(q);
  if ("error" in result) throw new Error(`${JSON.stringify(q)}: ${result.error}`);
  return result.statements;
}

/** Each statement as [text, class], which is what routing uses. */
function split(q: string): [string, StatementClass][] {
  return statementsOf(q).map((statement) => [statement.text, statement.class]);
}

function classOf(q: string): Omit<ClassifiedStatement, "text"> {
  const statements = statementsOf(q);
  expect(statements, q).toHaveLength(1);
  const { text: _text, ...rest } = statements[0]!;
  return rest;
}

describe("classifyQuery: splitting", () => {
  it("splits on ';' and drops empty statements, trailing ';' and comments between statements", () => {
    expect(split("SELECT a FROM m; ; CREATE DATABASE d;;\n-- bye\n;")).toEqual([
      ["SELECT a FROM m", "read"],
      ["CREATE DATABASE d", "write"],
    ]);
    expect(split("")).toEqual([]);
    expect(split(" ;; -- nothing\n /* ; */ ; ")).toEqual([]);
  });

  it("never splits on a ';' inside a string, quoted identifier, regex or comment", () => {
    expect(
      split(
        [
          "SELECT \"a;b\" FROM m WHERE s = 'c;d' -- e;f",
          "SELECT * FROM /g;h/ WHERE host =~ /a;b/ /* ; */",
          'DROP MEASUREMENT "we\\"ird;"',
          "SELECT v FROM m WHERE t = 'it\\'s; fine' AND u = '-- not a comment;'",
        ].join("\n;"),
      ),
    ).toEqual([
      ["SELECT \"a;b\" FROM m WHERE s = 'c;d'", "read"],
      ["SELECT * FROM /g;h/ WHERE host =~ /a;b/", "read"],
      ['DROP MEASUREMENT "we\\"ird;"', "write"],
      ["SELECT v FROM m WHERE t = 'it\\'s; fine' AND u = '-- not a comment;'", "read"],
    ]);
  });

  it("keeps comments inside a statement verbatim and trims the ones around it", () => {
    expect(split("  /* lead */ SELECT a -- why\n  FROM m /* ; */ WHERE b = 1 -- trail")).toEqual([
      ["SELECT a -- why\n  FROM m /* ; */ WHERE b = 1", "read"],
    ]);
    expect(split("DROP DATABASE d -- gone;\nSHOW DATABASES")).toEqual([["DROP DATABASE d -- gone;\nSHOW DATABASES", "write"]]);
  });

  it("tells division from a regex", () => {
    expect(split("SELECT a / 2 FROM m; SELECT b /2 FROM m")).toEqual([
      ["SELECT a / 2 FROM m", "read"],
      ["SELECT b /2 FROM m", "read"],
    ]);
    // influxd reads "a./b" as a / b, so the ';' after it ends the statement.
    expect(split("SELECT x FROM m WHERE a./b; DROP DATABASE d; SELECT c/2 FROM m")).toEqual([
      ["SELECT x FROM m WHERE a./b", "read"],
      ["DROP DATABASE d", "write"],
      ["SELECT c/2 FROM m", "read"],
    ]);
    expect(split("SELECT x FROM db.rp./m;DROP DATABASE d;/")).toEqual([["SELECT x FROM db.rp./m;DROP DATABASE d;/", "read"]]);
  });

  it("handles newlines, tabs, \\r\\n and any case", () => {
    expect(split("select\ta\r\nfrom\tm\n;\n\tDrOp\tSeRiEs FROM m\r\n")).toEqual([
      ["select\ta\r\nfrom\tm", "read"],
      ["DrOp\tSeRiEs FROM m", "write"],
    ]);
  });

  it("trims what Go's strings.TrimSpace trims, as influxd's handler does", () => {
    expect(split("\u00a0\f\vSHOW DATABASES\u3000\u0085")).toEqual([["SHOW DATABASES", "read"]]);
  });

  it("reports a lexical error with its offset in q", () => {
    expect(classifyQuery("  SELECT a FROM m WHERE b = 'x")).toEqual({ error: "error parsing query: unterminated string at offset 28" });
    expect(classifyQuery("SELECT 1; DROP DATABASE 'a\\qb'")).toEqual({
      error: "error parsing query: bad escape \\q in string at offset 26",
    });
    expect(classifyQuery("SELECT a FROM m /* ;")).toEqual({ error: "error parsing query: unterminated comment at offset 16" });
  });

  it("refuses a q with a NUL, which influxd may run in part on the one replica an error goes to", () => {
    const q = "CREATE DATABASE a\0; DROP DATABASE b";
    expect(statementsOf(q)).toEqual([{ text: q, class: "single-server", kind: "UNKNOWN", reason: expect.stringContaining("NUL") }]);
  });
});

describe("classifyQuery: classes", () => {
  it.each([
    ["SELECT a FROM m", "read", "SELECT"],
    ['SELECT "into" FROM m', "read", "SELECT"],
    ["SELECT a AS \"INTO\" FROM m WHERE b = 'into'", "read", "SELECT"],
    ["SELECT a INTO b FROM m", "write", "SELECT INTO"],
    ["select a into db.rp.:MEASUREMENT from /m/", "write", "SELECT INTO"],
    ["SELECT a FROM (SELECT b INTO c FROM m)", "write", "SELECT INTO"],
    ["EXPLAIN SELECT a FROM m", "read", "EXPLAIN"],
    ["EXPLAIN ANALYZE VERBOSE SELECT a FROM m", "read", "EXPLAIN ANALYZE"],
    ["SHOW DATABASES", "read", "SHOW DATABASES"],
    ["SHOW MEASUREMENTS WITH MEASUREMENT =~ /cpu/", "read", "SHOW MEASUREMENTS"],
    ["SHOW TAG VALUES FROM m WITH KEY = host", "read", "SHOW TAG VALUES"],
    ["SHOW TAG VALUES EXACT CARDINALITY FROM m WITH KEY = host", "read", "SHOW TAG VALUES EXACT CARDINALITY"],
    ["SHOW SERIES CARDINALITY", "read", "SHOW SERIES CARDINALITY"],
    ["SHOW RETENTION POLICIES ON d", "read", "SHOW RETENTION POLICIES"],
    ["SHOW CONTINUOUS QUERIES", "read", "SHOW CONTINUOUS QUERIES"],
    ["SHOW GRANTS FOR bob", "read", "SHOW GRANTS"],
    ["SHOW FIELD KEYS", "read", "SHOW FIELD KEYS"],
    ["SHOW USERS", "read", "SHOW USERS"],
    ["SHOW NONSENSE", "read", "SHOW"],
    ["CREATE DATABASE d WITH DURATION 1d", "write", "CREATE DATABASE"],
    ["CREATE RETENTION POLICY rp ON d DURATION 1h REPLICATION 1 DEFAULT", "write", "CREATE RETENTION POLICY"],
    ["CREATE USER bob WITH PASSWORD 'x;y' WITH ALL PRIVILEGES", "write", "CREATE USER"],
    [
      "CREATE CONTINUOUS QUERY cq ON d RESAMPLE EVERY 1m BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1m) END",
      "write",
      "CREATE CONTINUOUS QUERY",
    ],
    ["CREATE NONSENSE", "write", "CREATE"],
    ["DROP DATABASE d", "write", "DROP DATABASE"],
    ["DROP RETENTION POLICY rp ON d", "write", "DROP RETENTION POLICY"],
    ["DROP USER bob", "write", "DROP USER"],
    ['DROP CONTINUOUS QUERY cq ON "d"', "write", "DROP CONTINUOUS QUERY"],
    ["DROP MEASUREMENT m", "write", "DROP MEASUREMENT"],
    ["DROP SERIES FROM /m/ WHERE host = 'a'", "write", "DROP SERIES"],
    ['DROP "SHARD" 1', "write", "DROP"],
    ["ALTER RETENTION POLICY rp ON d DURATION 2h", "write", "ALTER RETENTION POLICY"],
    ["SET PASSWORD FOR bob = 'x'", "write", "SET PASSWORD"],
    ["GRANT READ ON d TO bob", "write", "GRANT"],
    ["REVOKE ALL PRIVILEGES FROM bob", "write", "REVOKE"],
    ["DELETE FROM m WHERE time < now() - 1d", "write", "DELETE"],
    ["INSERT cpu v=1", "read", "UNKNOWN"],
    ["'SELECT'", "read", "UNKNOWN"],
    ['"DROP" DATABASE d', "read", "UNKNOWN"],
    ['SELECT"a" INTO b FROM m', "read", "UNKNOWN"],
    ["(SELECT a INTO b FROM m)", "read", "UNKNOWN"],
    ["$q", "read", "UNKNOWN"],
  ] as const)("%s: %s %s", (q, expectedClass, kind) => {
    const { afterEarlierWrites: _after, ...rest } = classOf(q);
    expect(rest).toEqual({ class: expectedClass, kind });
  });

  it("marks the writes that read or remove stored points, and only those, to come after every earlier write", () => {
    const after = (q: string) => classOf(q).afterEarlierWrites === true;
    for (const q of [
      "DELETE FROM m WHERE time < 5",
      "DROP SERIES FROM m",
      "drop measurement m",
      "DROP RETENTION POLICY rp ON d",
      "DROP DATABASE d",
      "SELECT * INTO m2 FROM m",
    ]) {
      expect(after(q), q).toBe(true);
    }
    for (const q of [
      "CREATE DATABASE d",
      "CREATE RETENTION POLICY rp ON d DURATION 1h REPLICATION 1",
      "ALTER RETENTION POLICY rp ON d DURATION 2h",
      "CREATE USER bob WITH PASSWORD 'x'",
      "GRANT ALL TO bob",
      "DROP USER bob",
      "CREATE CONTINUOUS QUERY cq ON d BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1m) END",
      "DROP CONTINUOUS QUERY cq ON d",
      "SELECT * FROM m",
    ]) {
      expect(after(q), q).toBe(false);
    }
  });

  it.each([
    ["DROP SHARD 12", "DROP SHARD"],
    ["KILL QUERY 36", "KILL QUERY"],
    ['KILL QUERY 36 ON "host:8088"', "KILL QUERY"],
    ["SHOW SHARDS", "SHOW SHARDS"],
    ["show shard groups", "SHOW SHARD GROUPS"],
    ["SHOW QUERIES", "SHOW QUERIES"],
    ["SHOW STATS FOR 'httpd'", "SHOW STATS"],
    ["SHOW DIAGNOSTICS", "SHOW DIAGNOSTICS"],
    ["SHOW SUBSCRIPTIONS", "SHOW SUBSCRIPTIONS"],
    ["CREATE SUBSCRIPTION s ON d.rp DESTINATIONS ALL 'udp://h:9090'", "CREATE SUBSCRIPTION"],
    ["DROP SUBSCRIPTION s ON d.rp", "DROP SUBSCRIPTION"],
    ["EXPLAIN SELECT a INTO b FROM m", "EXPLAIN"],
    ["EXPLAIN ANALYZE SELECT a INTO b FROM m", "EXPLAIN ANALYZE"],
  ])("%s: single-server %s, with a reason pointing at the replica's own address", (q, kind) => {
    expect(classOf(q)).toEqual({ class: "single-server", kind, reason: expect.stringMatching(/^[A-Z].*replica's own address.*\.$/) });
  });

  it("explains why each single-server statement is refused", () => {
    expect(classOf("DROP SHARD 1").reason).toMatch(/shard ids differ/i);
    expect(classOf("KILL QUERY 1").reason).toMatch(/query ids/i);
    expect(classOf("CREATE SUBSCRIPTION s ON d.rp DESTINATIONS ALL 'x'").reason).toMatch(/every point once per replica/);
    expect(classOf("EXPLAIN ANALYZE SELECT a INTO b FROM m").reason).toMatch(/INTO/);
  });

  it("classes by the statement's own keywords, not the ones in its strings, names or comments", () => {
    expect(split("SELECT a FROM m WHERE b = 'x; DROP DATABASE d'")).toEqual([["SELECT a FROM m WHERE b = 'x; DROP DATABASE d'", "read"]]);
    expect(split('SELECT "x; INTO y" FROM m -- INTO')).toEqual([['SELECT "x; INTO y" FROM m', "read"]]);
    expect(split("/* DROP */ SELECT a FROM m")).toEqual([["SELECT a FROM m", "read"]]);
    expect(classOf("DROP /* DATABASE */ SHARD 1").kind).toBe("DROP SHARD");
  });
});

// Generators for statements whose split and class are known, built from pieces that carry every
// character that could fool a splitter: ';', quotes, backslashes, "--", "/*", newlines.

const TRICKY_TEXT = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom(";", "'", '"', "\\", "--", "/*", "*/", "/", "\n", " ", "INTO", "\u00e9", "\u{1f600}"),
      fc.string({ unit: "binary", maxLength: 1 }),
    ),
    maxLength: 12,
  })
  .map((text) => text.replace(/\0/g, ""));
/** Text a literal can hold: influxd has no escape for \r. */
const LITERAL_TEXT = TRICKY_TEXT.map((text) => text.replace(/\r/g, ""));

const quote = (text: string, mark: string) => mark + text.replace(new RegExp(`[\\\\${mark}]`, "g"), "\\$&").replace(/\n/g, "\\n") + mark;
const STRING = LITERAL_TEXT.map((text) => quote(text, "'"));
const QUOTED_IDENT = LITERAL_TEXT.map((text) => quote(text, '"'));
/** A regex may not span lines nor end in a backslash (it would escape the closing '/'); a leading '*' would make it a comment. */
const REGEX = LITERAL_TEXT.map((text) => `/${text.replace(/\n/g, "").replace(/^\*/, "x*").replace(/\\$/, "\\x").replace(/\//g, "\\/")}/`);
const IDENT = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/).filter((word) => !KEYWORDS.has(word.toUpperCase()));
const NAME = fc.oneof(IDENT, QUOTED_IDENT);
const BLOCK_COMMENT = TRICKY_TEXT.map((text) => `/*${text.replace(/\*\//g, "")}*/`).filter(
  (comment) => !comment.slice(2, -2).includes("*/"),
);
const LINE_COMMENT = TRICKY_TEXT.map((text) => `--${text.replace(/[\n\r]/g, "")}\n`);
const GAP = fc
  .array(fc.oneof(fc.constantFrom(" ", "\n", "\t", "\r\n"), BLOCK_COMMENT, LINE_COMMENT), { maxLength: 3 })
  .map((parts) => parts.join(""));

interface Generated {
  readonly text: string;
  readonly class: StatementClass;
}

const CASES = fc.constantFrom<(word: string) => string>(
  (word) => word.toUpperCase(),
  (word) => word.toLowerCase(),
  (word) => word[0]! + word.slice(1).toLowerCase(),
);

/** Statements from templates: `k` spells keywords in the statement's case, `g` is a gap of whitespace or comments. */
const STATEMENT: fc.Arbitrary<Generated> = fc
  .record({ k: CASES, g: GAP, name: NAME, other: NAME, string: STRING, regex: REGEX, regex2: REGEX, int: fc.nat() })
  .chain(({ k, g, name, other, string, regex, regex2, int }) => {
    const kw = (words: string) => words.split(" ").map(k).join(" ");
    const templates: [string, StatementClass][] = [
      [`${kw("SELECT")} ${name} ${kw("FROM")} ${other} ${kw("WHERE")} ${other} = ${string}`, "read"],
      [`${kw("SELECT")} * ${kw("FROM")} ${regex} ${kw("WHERE")} ${name} =~ ${regex2}${g}${kw("AND")} ${other} !~ ${regex}`, "read"],
      [`${kw("SELECT")} ${name} / 2 ${g}/ ${other} ${g} ${kw("FROM")} ${other}, ${regex}`, "read"],
      [
        `${kw("SELECT")} count(${regex}), ${regex2} ${kw("FROM")} ${name}.${other}.${regex} ${kw("GROUP BY")} ${regex2}, time(1h30m)`,
        "read",
      ],
      [`${kw("SELECT")} ${name} ${kw("INTO")} ${other} ${kw("FROM")} ${name} ${g} ${kw("WHERE")} ${name} = ${string}`, "write"],
      [`${kw("EXPLAIN")} ${kw("SELECT")} ${name} ${kw("FROM")} ${regex}`, "read"],
      [`${kw("SHOW TAG VALUES FROM")} ${name} ${kw("WITH KEY")} = ${other}`, "read"],
      [`${kw("SHOW MEASUREMENTS WITH MEASUREMENT")} =~ ${regex}`, "read"],
      [`${kw("CREATE DATABASE")} ${name}`, "write"],
      [`${kw("DROP MEASUREMENT")} ${g} ${name}`, "write"],
      [`${kw("DROP SERIES FROM")} ${regex} ${kw("WHERE")} ${name} = ${string}`, "write"],
      [`${kw("DELETE FROM")} ${name} ${kw("WHERE")} ${other} = ${string}`, "write"],
      [`${kw("SET PASSWORD FOR")} ${name} = ${string}`, "write"],
      [`${kw("CREATE USER")} ${name} ${kw("WITH PASSWORD")} ${string}`, "write"],
      [
        `${kw("CREATE CONTINUOUS QUERY")} ${name} ${kw("ON")} ${other} ${kw("BEGIN SELECT")} mean(${name}) ${kw("INTO")} ${other} ${kw("FROM")} ${regex} ${kw("GROUP BY")} time(1h) ${kw("END")}`,
        "write",
      ],
      [`${kw("DROP SHARD")} ${int}`, "single-server"],
      [`${kw("KILL QUERY")} ${int}`, "single-server"],
      [`${kw("SHOW SHARDS")}`, "single-server"],
      [`${kw("CREATE SUBSCRIPTION")} ${name} ${kw("ON")} ${other}.${name} ${kw("DESTINATIONS ALL")} ${string}, ${string}`, "single-server"],
      [`${kw("EXPLAIN ANALYZE SELECT")} ${name} ${kw("INTO")} ${other} ${kw("FROM")} ${name}`, "single-server"],
      [`${string} ${name}`, "read"],
    ];
    return fc.constantFrom(...templates.map(([text, statementClass]) => ({ text, class: statementClass })));
  });

describe("classifyQuery: properties", () => {
  it("splits statements joined by ';' and any whitespace or comments back into the same texts and classes", () => {
    fc.assert(
      fc.property(fc.array(STATEMENT, { maxLength: 6 }), fc.array(GAP), fc.array(fc.nat(2)), (statements, gaps, extraSemicolons) => {
        const gap = (i: number) => gaps[i % Math.max(gaps.length, 1)] ?? "";
        const q =
          gap(0) +
          statements.map((statement, i) => statement.text + gap(i + 1) + ";".repeat(1 + (extraSemicolons[i] ?? 0)) + gap(i + 2)).join("") +
          gap(statements.length + 2);
        expect(split(q)).toEqual(statements.map((statement) => [statement.text, statement.class]));
      }),
      { numRuns: 1000 },
    );
  });

  it("gives the same statements for q as for its statements' texts joined again", () => {
    const nasty = nastyInfluxql(["SELECT", "FROM", "INTO", "DROP", "SHARD"], 40);
    fc.assert(
      fc.property(nasty, (q) => {
        const result = classifyQuery(q);
        fc.pre(!("error" in result));
        expect(statementsOf(result.statements.map((statement) => statement.text).join(";\n"))).toEqual(result.statements);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on any q", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" })), (q) => {
        const result = classifyQuery(q);
        if ("error" in result) expect(result.error).toMatch(/^error parsing query: .+ at offset \d+$/);
        else for (const statement of result.statements) expect(q).toContain(statement.text);
      }),
      { numRuns: 2000 },
    );
  });
});
