// Flags of `influx-ha check` and `influx-ha repair`. Pure: the caller passes the environment and the clock.
import { parseGoDuration } from "../relay/duration.js";
import { ALL_TIME, type TimeRange } from "../relay/drift/influxql.js";

export type Command = "check" | "repair";

/** Where the replicas are: the local layout's run dir, a relay's config, or URLs given one by one. */
export type Where =
  | { readonly kind: "run-dir"; readonly dir: string }
  | { readonly kind: "config"; readonly file: string }
  | {
      readonly kind: "urls";
      readonly replicas: ReadonlyArray<{ readonly name: string; readonly url: string }>;
      readonly relays: readonly string[];
    };

export interface DriftArgs {
  readonly command: Command;
  readonly where: Where;
  readonly databases: readonly string[];
  readonly bucketNs: bigint | undefined;
  readonly range: TimeRange;
  readonly deep: boolean;
  readonly json: boolean;
  /** repair only */
  readonly rate: number | undefined;
  readonly dryRun: boolean;
  readonly prefer: string | undefined;
  /** How long repair waits for the relays to replay what they hold before it starts. */
  readonly waitMs: number;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `Usage: influx-ha check  [WHERE] [--db NAME]... [--bucket DURATION] [--since TIME] [--until TIME] [--deep] [--json]
       influx-ha repair [WHERE] [same flags] [--rate POINTS] [--dry-run] [--prefer REPLICA] [--wait DURATION]
       (from the project: npm run check -- ..., npm run repair -- ...)

check compares the replicas: their databases, retention policies, continuous queries and users, and per
retention policy, measurement and time bucket, how many values of each field every replica holds (with
--deep also a digest of each bucket's points). It prints every difference and exits 1 if there is one.
repair makes the replicas whole from each other: it creates missing databases, retention policies and
continuous queries, copies every point a replica lacks from one that has it, and checks again. It never
deletes a point, and changes a value two replicas hold differently only with --prefer. Run it again after
an interruption: it writes only what is still missing. When the replicas match, it clears the relays'
out-of-sync marks, so reads go to the repaired replica again.

WHERE (one of; default --run-dir .run, the local layout of npm start):
  --run-dir DIR         the local layout's run dir: its relay-*/relay.toml name the replicas and relays
  --config FILE         a relay's relay.toml: its outputs are the replicas; it and its peers are the relays
  --replica [NAME=]URL  a replica's base URL (http://host:8086); give two or more
  --relay URL           with --replica: a relay whose out-of-sync marks repair clears; repeatable

Flags:
  --db NAME             only this database; repeatable (default: every one but _internal)
  --bucket DURATION     width of the compared time buckets, e.g. 1h (default: each policy's shard duration)
  --since TIME, --until TIME
                        only points from/before TIME: RFC 3339 (2026-11-27T00:00:00Z) or a duration ago (24h)
  --deep                also compare a SHA-256 of the points of every bucket whose counts agree (reads them all)
  --json                print the report as JSON
  --rate POINTS         repair: write at most POINTS points per second (default: unlimited)
  --dry-run             repair: say what would be done, change nothing
  --prefer REPLICA      repair: settle values and definitions that differ with this replica's
  --wait DURATION       repair: how long to wait for the relays to replay their queues first (default 60s)

Credentials: INFLUX_USERNAME and INFLUX_PASSWORD, as the influx CLI reads them (never on the command line).
The relays' admin token: the admin-token of their relay.toml, or INFLUX_HA_ADMIN_TOKEN.

Exit status: 0 the replicas match; 1 they differ (after repair: what it could not settle); 2 a bad command
line, or a replica or relay that cannot be reached.`;

export function parseDriftArgs(argv: readonly string[], nowMs: number): DriftArgs | "help" {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") return "help";
  if (command !== "check" && command !== "repair") {
    throw new UsageError(command === undefined ? "name a command: check or repair" : `unknown command "${command}": use check or repair`);
  }
  let runDir: string | undefined;
  let config: string | undefined;
  const replicas: Array<{ name: string; url: string }> = [];
  const relays: string[] = [];
  const databases: string[] = [];
  let bucketNs: bigint | undefined;
  let since: bigint | undefined;
  let until: bigint | undefined;
  let deep = false;
  let json = false;
  let rate: number | undefined;
  let dryRun = false;
  let prefer: string | undefined;
  let waitMs = 60_000;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new UsageError(`unexpected argument "${arg}"`);
    const name = match[1]!;
    if (name === "help") return "help";
    const value = (): string => {
      const v = match[2] ?? rest[++i];
      if (v === undefined || v === "") throw new UsageError(`--${name} needs a value`);
      return v;
    };
    const repairOnly = () => {
      if (command !== "repair") throw new UsageError(`--${name} is a flag of repair, not of check`);
    };
    switch (name) {
      case "run-dir":
        runDir = once(runDir, name, value());
        break;
      case "config":
        config = once(config, name, value());
        break;
      case "replica":
        replicas.push(replicaFlag(value()));
        break;
      case "relay":
        relays.push(baseUrl("--relay", value()));
        break;
      case "db":
        databases.push(value());
        break;
      case "bucket":
        bucketNs = once(bucketNs, name, positiveDuration("--bucket", value()));
        break;
      case "since":
        since = once(since, name, timeFlag("--since", value(), nowMs));
        break;
      case "until":
        until = once(until, name, timeFlag("--until", value(), nowMs));
        break;
      case "deep":
        deep = true;
        break;
      case "json":
        json = true;
        break;
      case "rate": {
        repairOnly();
        const n = Number(value());
        if (!Number.isInteger(n) || n <= 0)
          throw new UsageError(`--rate must be a whole number of points per second above 0, not "${match[2] ?? rest[i]}"`);
        rate = n;
        break;
      }
      case "dry-run":
        repairOnly();
        dryRun = true;
        break;
      case "prefer":
        repairOnly();
        prefer = once(prefer, name, value());
        break;
      case "wait": {
        repairOnly();
        const ms = parseGoDuration(value());
        if (ms === undefined || ms < 0) throw new UsageError(`--wait must be a duration such as 60s or 10m`);
        waitMs = ms;
        break;
      }
      default:
        throw new UsageError(`unknown flag --${name}`);
    }
  }
  const sources = [runDir !== undefined, config !== undefined, replicas.length > 0].filter(Boolean).length;
  if (sources > 1) throw new UsageError("give one of --run-dir, --config and --replica, not several");
  if (relays.length > 0 && replicas.length === 0)
    throw new UsageError("--relay goes with --replica: --run-dir and --config name the relays themselves");
  if (replicas.length === 1) throw new UsageError("give at least two --replica: there is nothing to compare one replica with");
  const names = replicas.map((r) => r.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`two --replica are named "${twice}"`);
  if (prefer !== undefined && replicas.length > 0 && !names.includes(prefer)) {
    throw new UsageError(`--prefer ${prefer} names no replica: they are ${names.join(", ")}`);
  }
  const range = { start: since ?? ALL_TIME.start, end: until ?? ALL_TIME.end };
  if (range.start >= range.end) throw new UsageError("--since must be before --until");
  const where: Where =
    config !== undefined
      ? { kind: "config", file: config }
      : replicas.length > 0
        ? { kind: "urls", replicas, relays }
        : { kind: "run-dir", dir: runDir ?? ".run" };
  return { command, where, databases, bucketNs, range, deep, json, rate, dryRun, prefer, waitMs };
}

function once<T>(current: T | undefined, name: string, value: T): T {
  if (current !== undefined) throw new UsageError(`--${name} is given twice`);
  return value;
}

function replicaFlag(text: string): { name: string; url: string } {
  const match = /^([^=/:]+)=(.+)$/s.exec(text);
  const url = baseUrl("--replica", match ? match[2]! : text);
  return { name: match ? match[1]! : new URL(url).host, url };
}

/** An http(s) URL without a trailing slash. */
function baseUrl(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} ${text} is not a URL: write it as http://host:8086`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${flag} ${text}: only http:// and https:// URLs`);
  if (url.search !== "" || url.hash !== "") throw new UsageError(`${flag} ${text}: give the base URL, without a query`);
  return url.href.replace(/\/+$/, "");
}

function positiveDuration(flag: string, text: string): bigint {
  const ms = parseGoDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} must be a duration above 0 such as 1h or 10m, not "${text}"`);
  return BigInt(Math.round(ms * 1e6));
}

/** RFC 3339, or a Go duration meaning that long ago. */
function timeFlag(flag: string, text: string, nowMs: number): bigint {
  const ago = parseGoDuration(text);
  if (ago !== undefined && ago >= 0) return BigInt(Math.round((nowMs - ago) * 1e6));
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  const ms = match ? Date.parse(`${match[1]}${match[3]}`) : NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`${flag} must be an RFC 3339 time (2026-11-27T00:00:00Z) or a duration ago (24h), not "${text}"`);
  return BigInt(ms) * 1_000_000n + BigInt((match![2] ?? "").padEnd(9, "0"));
}
