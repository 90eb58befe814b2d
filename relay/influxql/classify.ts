// Splits a /query request's q into statements and says, for each, where the relay may run it: a read on
// one in-sync replica, a change of state on every replica in order, or nowhere because it concerns one
// server only. The class comes from the statement's leading keywords, named as in influxql's parse_tree.go.

import { keywordOf, tokenize, type Token } from "./lexer.js";

/** read: to one in-sync replica. write: to every replica, in order with the line-protocol writes. single-server: refused. */
export type StatementClass = "read" | "write" | "single-server";

export interface ClassifiedStatement {
  /** The statement's source text, trimmed, without its ';' (comments inside kept verbatim). */
  readonly text: string;
  readonly class: StatementClass;
  /** Upper-case leading keywords that name it, e.g. "SELECT", "SELECT INTO", "CREATE DATABASE", "SHOW SHARDS", "DROP SERIES". */
  readonly kind: string;
  /** For single-server: why it is refused, in one sentence a user can act on (e.g. shard ids differ per replica; query the replica directly). */
  readonly reason?: string;
  /**
   * A write that reads or removes stored points (DELETE, DROP SERIES/MEASUREMENT/RETENTION POLICY/DATABASE,
   * SELECT INTO): on each replica it must come after every write acknowledged before it, whichever relay took those.
   */
  readonly afterEarlierWrites?: true;
}

interface StatementRule {
  readonly class: StatementClass;
  readonly reason?: string;
  readonly afterEarlierWrites?: true;
}

const READ: StatementRule = { class: "read" };
const WRITE: StatementRule = { class: "write" };
const WRITE_AFTER_WRITES: StatementRule = { class: "write", afterEarlierWrites: true };

function refused(reason: string): StatementRule {
  return { class: "single-server", reason };
}

const SHARDS = refused("Shards and shard groups, and their ids, differ from replica to replica; send it to a replica's own address.");
const KILL = refused(
  "Query ids are given out by each server, so the id means another query or none on the other replicas; send KILL QUERY to the replica's own address.",
);
const SUBSCRIPTIONS = refused(
  "Subscriptions belong to each server, and one on every replica would send every point once per replica; manage them at a replica's own address.",
);

/**
 * Statements by their leading keywords; the longest name a statement starts with names it. A name
 * influxd does not know ("CREATE" alone) keeps the class of its first keyword: influxd refuses it on
 * every replica alike. SELECT and EXPLAIN also depend on INTO (see classifyStatement).
 */
const STATEMENTS: ReadonlyMap<string, StatementRule> = new Map([
  ["SELECT", READ],
  ["EXPLAIN", READ],
  ["EXPLAIN ANALYZE", READ],
  ["SHOW", READ],
  ["SHOW CONTINUOUS QUERIES", READ],
  ["SHOW DATABASES", READ],
  ["SHOW FIELD KEYS", READ],
  ["SHOW FIELD KEY CARDINALITY", READ],
  ["SHOW FIELD KEY EXACT CARDINALITY", READ],
  ["SHOW GRANTS", READ],
  ["SHOW MEASUREMENTS", READ],
  ["SHOW MEASUREMENT CARDINALITY", READ],
  ["SHOW MEASUREMENT EXACT CARDINALITY", READ],
  ["SHOW RETENTION POLICIES", READ],
  ["SHOW SERIES", READ],
  ["SHOW SERIES CARDINALITY", READ],
  ["SHOW SERIES EXACT CARDINALITY", READ],
  ["SHOW TAG KEYS", READ],
  ["SHOW TAG KEY CARDINALITY", READ],
  ["SHOW TAG KEY EXACT CARDINALITY", READ],
  ["SHOW TAG VALUES", READ],
  ["SHOW TAG VALUES CARDINALITY", READ],
  ["SHOW TAG VALUES EXACT CARDINALITY", READ],
  ["SHOW USERS", READ],
  ["SHOW SHARDS", SHARDS],
  ["SHOW SHARD GROUPS", SHARDS],
  ["SHOW QUERIES", refused("The running queries are each server's own; send SHOW QUERIES to a replica's own address.")],
  ["SHOW STATS", refused("Statistics describe one server; send SHOW STATS to a replica's own address.")],
  ["SHOW DIAGNOSTICS", refused("Diagnostics describe one server; send SHOW DIAGNOSTICS to a replica's own address.")],
  ["SHOW SUBSCRIPTIONS", SUBSCRIPTIONS],
  ["CREATE", WRITE],
  ["CREATE CONTINUOUS QUERY", WRITE],
  ["CREATE DATABASE", WRITE],
  ["CREATE RETENTION POLICY", WRITE],
  ["CREATE USER", WRITE],
  ["CREATE SUBSCRIPTION", SUBSCRIPTIONS],
  ["DROP", WRITE],
  ["DROP CONTINUOUS QUERY", WRITE],
  ["DROP DATABASE", WRITE_AFTER_WRITES],
  ["DROP MEASUREMENT", WRITE_AFTER_WRITES],
  ["DROP RETENTION POLICY", WRITE_AFTER_WRITES],
  ["DROP SERIES", WRITE_AFTER_WRITES],
  ["DROP USER", WRITE],
  [
    "DROP SHARD",
    refused(
      "Shard ids differ from replica to replica, so one id names different data on each; send DROP SHARD to a replica's own address.",
    ),
  ],
  ["DROP SUBSCRIPTION", SUBSCRIPTIONS],
  ["ALTER", WRITE],
  ["ALTER RETENTION POLICY", WRITE],
  ["SET", WRITE],
  ["SET PASSWORD", WRITE],
  ["GRANT", WRITE],
  ["REVOKE", WRITE],
  ["DELETE", WRITE_AFTER_WRITES],
  ["KILL", KILL],
  ["KILL QUERY", KILL],
]);

const EXPLAIN_INTO = refused(
  "EXPLAIN runs on one replica, so its INTO would write there alone; send it to a replica's own address, or drop the INTO.",
);

/** What Go's unicode.IsSpace accepts: influxd's /query handler trims q with strings.TrimSpace before parsing it. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** Splits q into statements (empty ones — only whitespace/comments between ';' — dropped) and classifies each. */
export function classifyQuery(q: string): { readonly statements: readonly ClassifiedStatement[] } | { readonly error: string } {
  // The relay sends a q it cannot lex to one replica for influxd's own error, but influxd runs the text
  // around a NUL (see tokenize): sent to one replica, "CREATE DATABASE a\0" would create it there alone.
  if (q.includes("\0")) {
    const reason = "The query contains a NUL character, which InfluxDB reads in ways the relay cannot follow; remove it.";
    return { statements: [{ text: q, class: "single-server", kind: "UNKNOWN", reason }] };
  }
  let start = 0;
  let end = q.length;
  while (start < end && GO_SPACE.test(q[start]!)) start++;
  while (end > start && GO_SPACE.test(q[end - 1]!)) end--;
  const source = q.slice(start, end);
  const lexed = tokenize(source);
  if ("error" in lexed) return { error: `error parsing query: ${lexed.error} at offset ${start + lexed.offset}` };

  const statements: ClassifiedStatement[] = [];
  let statement: Token[] = [];
  for (const token of lexed.tokens) {
    if (token.kind !== "semicolon") statement.push(token);
    else if (statement.length > 0) {
      statements.push(classifyStatement(source, statement));
      statement = [];
    }
  }
  if (statement.length > 0) statements.push(classifyStatement(source, statement));
  return { statements };
}

function classifyStatement(source: string, tokens: readonly Token[]): ClassifiedStatement {
  const text = source.slice(tokens[0]!.start, tokens[tokens.length - 1]!.end);
  const kind = statementName(tokens);
  // Not a statement influxd knows: it answers with a parse error and changes nothing, so one replica will do.
  if (kind === undefined) return { text, class: "read", kind: "UNKNOWN" };
  // An unquoted INTO anywhere, a subquery's too, is the keyword; "into" quoted is a name.
  const into = tokens.some((token) => keywordOf(token) === "INTO");
  if (kind === "SELECT" && into) return { text, kind: "SELECT INTO", ...WRITE_AFTER_WRITES };
  if (kind.startsWith("EXPLAIN") && into) return { text, kind, ...EXPLAIN_INTO };
  return { text, kind, ...STATEMENTS.get(kind)! };
}

const LONGEST_NAME = Math.max(...[...STATEMENTS.keys()].map((name) => name.split(" ").length));

/** The longest name in STATEMENTS that the statement's leading keywords spell. */
function statementName(tokens: readonly Token[]): string | undefined {
  const leading: string[] = [];
  for (const token of tokens.slice(0, LONGEST_NAME)) {
    const keyword = keywordOf(token);
    if (keyword === undefined) break;
    leading.push(keyword);
  }
  for (let words = leading.length; words > 0; words--) {
    const name = leading.slice(0, words).join(" ");
    if (STATEMENTS.has(name)) return name;
  }
  return undefined;
}
