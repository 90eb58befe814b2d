// The cheap comparison of data: how many values of each field every replica holds per measurement and time
// bucket, from `SELECT count(*) ... GROUP BY time()` per measurement, many to a request. Buckets default to the policy's
// shard duration, so a difference points at the shard group to look in. Counting is IO; the diff is pure.
import { clampTo, source, timeCondition, type TimeRange } from "./influxql.js";
import type { Replica } from "./replica.js";

/** Field name to its number of values. */
export type FieldCounts = ReadonlyMap<string, number>;
/** Measurement to bucket start (ns) to the counts in that bucket; buckets without values are absent. */
export type PolicyCounts = ReadonlyMap<string, ReadonlyMap<bigint, FieldCounts>>;

export interface BucketDifference {
  readonly database: string;
  readonly retentionPolicy: string;
  readonly measurement: string;
  /** The bucket, inside the range that was compared. */
  readonly range: TimeRange;
  /** Per replica, the values of each field it holds there (a replica holding none has an empty record). */
  readonly counts: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

const COUNT_PREFIX = "count_";

/** Statements per request: one per measurement, since count(*) over /.*\/ asks every measurement for every field of all of them. */
const MEASUREMENTS_PER_REQUEST = 100;

export function countQuery(
  database: string,
  retentionPolicy: string,
  range: TimeRange,
  bucketNs: bigint,
  measurements: readonly string[],
): string {
  return measurements
    .map(
      (measurement) =>
        `SELECT count(*) FROM ${source(database, retentionPolicy, measurement)} WHERE ${timeCondition(range)} ` +
        `GROUP BY time(${bucketNs}ns) fill(none)`,
    )
    .join("; ");
}

/** Each replica's own monitoring: different on every replica by design, never compared. */
export const INTERNAL_DATABASE = "_internal";

/** What `list` gives for any replica, sorted: a measurement or database one replica lacks counts as empty there. */
export async function unionOver(replicas: readonly Replica[], list: (replica: Replica) => Promise<string[]>): Promise<string[]> {
  const lists = await Promise.all(replicas.map(list));
  return [...new Set(lists.flat())].sort();
}

/** The measurements of a database on one replica (SHOW MEASUREMENTS knows no retention policy). */
export async function measurementsOf(replica: Replica, database: string): Promise<string[]> {
  const names: string[] = [];
  for await (const series of replica.select("SHOW MEASUREMENTS", database)) names.push(...series.values.map((row) => String(row[0])));
  return names;
}

export async function countPolicy(
  replica: Replica,
  database: string,
  retentionPolicy: string,
  range: TimeRange,
  bucketNs: bigint,
  measurements: readonly string[],
): Promise<PolicyCounts> {
  const counts = new Map<string, Map<bigint, Map<string, number>>>();
  for (let from = 0; from < measurements.length; from += MEASUREMENTS_PER_REQUEST) {
    const some = measurements.slice(from, from + MEASUREMENTS_PER_REQUEST);
    for await (const series of replica.select(countQuery(database, retentionPolicy, range, bucketNs, some), database)) {
      const buckets = counts.get(series.name) ?? new Map<bigint, Map<string, number>>();
      counts.set(series.name, buckets);
      for (const row of series.values) {
        const fields = buckets.get(BigInt(row[0] as number | bigint)) ?? new Map<string, number>();
        series.columns.forEach((column, i) => {
          const n = Number(row[i] ?? 0);
          if (i === 0 || !column.startsWith(COUNT_PREFIX) || n === 0) return;
          const field = column.slice(COUNT_PREFIX.length);
          fields.set(field, (fields.get(field) ?? 0) + n);
        });
        if (fields.size > 0) buckets.set(BigInt(row[0] as number | bigint), fields);
      }
    }
  }
  return counts;
}

/** Every bucket where the replicas' counts differ, ordered by measurement and time. */
export function diffCounts(
  database: string,
  retentionPolicy: string,
  byReplica: ReadonlyMap<string, PolicyCounts>,
  bucketNs: bigint,
  range: TimeRange,
): BucketDifference[] {
  const differences: BucketDifference[] = [];
  const measurements = new Set([...byReplica.values()].flatMap((counts) => [...counts.keys()]));
  for (const measurement of [...measurements].sort()) {
    const starts = new Set([...byReplica.values()].flatMap((counts) => [...(counts.get(measurement)?.keys() ?? [])]));
    for (const start of [...starts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const counts: Record<string, Record<string, number>> = {};
      for (const [replica, policy] of byReplica) counts[replica] = Object.fromEntries(policy.get(measurement)?.get(start) ?? []);
      if (!sameCounts(Object.values(counts))) {
        differences.push({ database, retentionPolicy, measurement, range: clampTo({ start, end: start + bucketNs }, range), counts });
      }
    }
  }
  return differences;
}

/** A replica's points in a bucket, as its most counted field: exact when every point carries that field. */
export function pointCount(fields: Readonly<Record<string, number>>): number {
  return Math.max(0, ...Object.values(fields));
}

/** Per replica, how many points it holds fewer than the fullest one in the bucket (0 for the fullest). */
export function missingPoints(counts: Readonly<Record<string, Readonly<Record<string, number>>>>): Record<string, number> {
  const most = Math.max(...Object.values(counts).map((fields) => pointCount(fields)));
  return Object.fromEntries(Object.entries(counts).map(([replica, fields]) => [replica, most - pointCount(fields)]));
}

/** Replicas holding at least as many values of every field as any other: the ones that look whole. */
export function wholeReplicas(counts: Readonly<Record<string, Readonly<Record<string, number>>>>): string[] {
  const replicas = Object.keys(counts);
  const fields = new Set(Object.values(counts).flatMap((c) => Object.keys(c)));
  return replicas.filter((r) => [...fields].every((f) => replicas.every((other) => (counts[r]![f] ?? 0) >= (counts[other]![f] ?? 0))));
}

export function sameCounts(counts: ReadonlyArray<Readonly<Record<string, number>>>): boolean {
  const [first, ...rest] = counts;
  if (first === undefined) return true;
  const keys = Object.keys(first);
  return rest.every((c) => Object.keys(c).length === keys.length && keys.every((k) => c[k] === first[k]));
}
