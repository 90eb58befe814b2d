// `influx-ha check`: compares the replicas' schema and, per retention policy, measurement and time bucket,
// their counts of field values; with `deep`, also a digest of every bucket whose counts agree. Read-only.
import { createHash } from "node:crypto";
import { parseGoDuration } from "../relay/duration.js";
import { countPolicy, diffCounts, measurementsOf, unionOver, type BucketDifference, type PolicyCounts } from "../relay/drift/counts.js";
import { clampTo, floorTo, source, timeCondition, type TimeRange } from "../relay/drift/influxql.js";
import type { Progress } from "./progress.js";
import type { Replica } from "../relay/drift/replica.js";
import { diffSchemas, readSchema, type ReplicaSchema, type SchemaDifference } from "./schema.js";

export interface CheckOptions {
  readonly replicas: readonly Replica[];
  readonly range: TimeRange;
  /** Bucket width; each policy's shard duration when absent. */
  readonly bucketNs: bigint | undefined;
  /** Only these databases; every one but _internal when empty. */
  readonly databases: readonly string[];
  readonly deep: boolean;
  readonly progress: Progress;
  /** How long after a write its fan-out to every replica is surely done; differences newer than that are counted again. */
  readonly settleMs: number;
  /** The check's notion of now, in ms (tests pin it). */
  readonly now?: number;
}

/** A bucket whose counts agree but whose points differ: found by `deep` only. */
export interface ContentDifference {
  readonly database: string;
  readonly retentionPolicy: string;
  readonly measurement: string;
  readonly range: TimeRange;
  /** Replica to the SHA-256 of its points in the bucket. */
  readonly digests: Readonly<Record<string, string>>;
}

export interface DriftReport {
  readonly replicas: readonly string[];
  readonly schema: readonly SchemaDifference[];
  readonly data: readonly BucketDifference[];
  readonly content: readonly ContentDifference[];
  /** Each compared retention policy and the bucket width used for it. */
  readonly policies: ReadonlyArray<{ readonly database: string; readonly retentionPolicy: string; readonly bucketNs: bigint }>;
  readonly schemas: ReadonlyMap<string, ReplicaSchema>;
}

export function hasDrift(report: DriftReport): boolean {
  return report.schema.length > 0 || report.data.length > 0 || report.content.length > 0;
}

/** A policy whose shard duration cannot be read falls back to InfluxDB's own default for an infinite one. */
const DEFAULT_BUCKET_NS = 7n * 24n * 3_600n * 1_000_000_000n;

export async function checkReplicas(opts: CheckOptions): Promise<DriftReport> {
  const { replicas, progress } = opts;
  const schemaList = await Promise.all(replicas.map((r) => readSchema(r)));
  const schemas = new Map(replicas.map((r, i) => [r.name, schemaList[i]!]));
  const policies = policiesToCompare(schemas, opts.databases, opts.range, opts.now ?? Date.now()).map((p) => ({
    ...p,
    bucketNs: opts.bucketNs ?? p.shardBucketNs,
  }));

  // Every measurement any replica has, per database: one that a replica lacks counts as empty there.
  const measurements = new Map<string, string[]>();
  for (const database of new Set(policies.map((p) => p.database))) {
    measurements.set(database, await unionOver(replicas, (r) => measurementsOf(r, database)));
  }
  progress.start("counting", policies.length * replicas.length);
  const data: BucketDifference[] = [];
  const content: ContentDifference[] = [];
  const counted = [];
  for (const policy of policies) {
    const { database, retentionPolicy, bucketNs, range } = policy;
    const byReplica = new Map<string, PolicyCounts>(
      await Promise.all(
        replicas.map(async (r) => {
          const counts = await countPolicy(r, database, retentionPolicy, range, bucketNs, measurements.get(database)!);
          progress.advance(1);
          return [r.name, counts] as const;
        }),
      ),
    );
    counted.push({ policy, byReplica, differences: diffCounts(database, retentionPolicy, byReplica, bucketNs, range) });
  }
  // One pause covers every count taken before it: the writes being fanned out then have landed.
  if (counted.some((c) => c.differences.length > 0)) await new Promise((resolve) => setTimeout(resolve, opts.settleMs));
  for (const { policy, byReplica, differences: first } of counted) {
    const differences = await confirmDifferences(opts, first, policy.bucketNs);
    data.push(...differences);
    if (opts.deep) content.push(...(await compareDigests(opts, policy, byReplica, differences)));
  }
  progress.done();
  return {
    replicas: replicas.map((r) => r.name),
    // --db limits the schema compared too; users belong to no database and are always compared.
    schema: diffSchemas(schemas).filter((d) => d.kind === "user" || opts.databases.length === 0 || opts.databases.includes(d.database)),
    data,
    content,
    policies: policies.map(({ database, retentionPolicy, bucketNs }) => ({ database, retentionPolicy, bucketNs })),
    schemas,
  };
}

/**
 * Every database and retention policy any replica has, but _internal; a policy's shard duration from the first
 * replica holding it. A policy with a finite duration is compared from its second-oldest shard group on: the
 * oldest may already be expired on one replica and not yet on another, and that is not drift.
 */
function policiesToCompare(
  schemas: ReadonlyMap<string, ReplicaSchema>,
  only: readonly string[],
  range: TimeRange,
  nowMs: number,
): Array<{ database: string; retentionPolicy: string; shardBucketNs: bigint; range: TimeRange }> {
  const found = new Map<string, { database: string; retentionPolicy: string; shardBucketNs: bigint; range: TimeRange }>();
  for (const schema of schemas.values()) {
    for (const [database, db] of schema.databases) {
      if (only.length > 0 && !only.includes(database)) continue;
      for (const [retentionPolicy, policy] of db.retentionPolicies) {
        const key = JSON.stringify([database, retentionPolicy]);
        if (found.has(key)) continue;
        const shardBucketNs = durationNs(policy.shardGroupDuration) ?? DEFAULT_BUCKET_NS;
        const keptNs = durationNs(policy.duration);
        let start = range.start;
        if (keptNs !== undefined) {
          const oldestKept = BigInt(nowMs) * 1_000_000n - keptNs;
          const secondShard = floorTo(oldestKept, shardBucketNs) + shardBucketNs;
          if (secondShard > start) start = secondShard;
        }
        found.set(key, { database, retentionPolicy, shardBucketNs, range: { start, end: range.end } });
      }
    }
  }
  return [...found.values()].sort((a, b) => a.database.localeCompare(b.database) || a.retentionPolicy.localeCompare(b.retentionPolicy));
}

/**
 * Counts each differing bucket again, after the caller's pause, up to `settleMs` before the recount: a write the
 * relays were still fanning out then lands on every replica, and only what still differs is drift. A bucket
 * wholly after that moment (points stamped in the future) is counted again whole.
 */
async function confirmDifferences(
  opts: CheckOptions,
  differences: readonly BucketDifference[],
  bucketNs: bigint,
): Promise<BucketDifference[]> {
  const [first] = differences;
  if (first === undefined) return [];
  const { database, retentionPolicy } = first;
  const cap = BigInt(opts.now ?? Date.now()) * 1_000_000n - BigInt(opts.settleMs) * 1_000_000n;
  // One count over the differing buckets before the cap, one over those after it: two queries, not one per bucket.
  const start = differences.reduce((min, d) => (d.range.start < min ? d.range.start : min), first.range.start);
  const end = differences.reduce((max, d) => (d.range.end > max ? d.range.end : max), first.range.end);
  const ranges = start < cap ? [{ start, end: cap < end ? cap : end }] : [];
  // A bucket the cap cuts is counted up to the cap in the first; the second starts at the next whole bucket.
  const aligned = floorTo(cap, bucketNs);
  const afterCap = aligned === cap ? cap : aligned + bucketNs;
  if (end > afterCap) ranges.push({ start: afterCap > start ? afterCap : start, end });
  const wanted = new Set(differences.map((d) => JSON.stringify([d.measurement, String(floorTo(d.range.start, bucketNs))])));
  const confirmed: BucketDifference[] = [];
  for (const range of ranges) {
    const counted = await Promise.all(
      opts.replicas.map(
        async (r) =>
          [
            r.name,
            await countPolicy(r, database, retentionPolicy, range, bucketNs, [...new Set(differences.map((d) => d.measurement))]),
          ] as const,
      ),
    );
    for (const d of diffCounts(database, retentionPolicy, new Map(counted), bucketNs, range)) {
      if (wanted.has(JSON.stringify([d.measurement, String(floorTo(d.range.start, bucketNs))]))) confirmed.push(d);
    }
  }
  return confirmed;
}

/** A Go duration as nanoseconds; undefined for one that is not, or not positive. */
export function durationNs(text: string): bigint | undefined {
  const ms = parseGoDuration(text);
  return ms === undefined || ms <= 0 ? undefined : BigInt(Math.round(ms * 1e6));
}

/** For every bucket whose counts agree on all replicas, the digests of its points; the buckets where they differ. */
async function compareDigests(
  opts: CheckOptions,
  policy: { readonly database: string; readonly retentionPolicy: string; readonly range: TimeRange; readonly bucketNs: bigint },
  byReplica: ReadonlyMap<string, PolicyCounts>,
  countDifferences: readonly BucketDifference[],
): Promise<ContentDifference[]> {
  const { database, retentionPolicy, bucketNs } = policy;
  const differing = new Set(countDifferences.map((d) => JSON.stringify([d.measurement, String(d.range.start)])));
  const [first] = byReplica.values();
  const agreeing: Array<{ measurement: string; range: TimeRange }> = [];
  for (const [measurement, buckets] of first ?? []) {
    for (const start of buckets.keys()) {
      const range = clampTo({ start, end: start + bucketNs }, policy.range);
      if (!differing.has(JSON.stringify([measurement, String(range.start)]))) agreeing.push({ measurement, range });
    }
  }
  opts.progress.start(`digests of ${database}.${retentionPolicy}`, agreeing.length);
  const found: ContentDifference[] = [];
  for (const { measurement, range } of agreeing) {
    const digests = Object.fromEntries(
      await Promise.all(
        opts.replicas.map(async (r) => [r.name, await digestOf(r, database, retentionPolicy, measurement, range)] as const),
      ),
    );
    if (new Set(Object.values(digests)).size > 1) found.push({ database, retentionPolicy, measurement, range, digests });
    opts.progress.advance(1);
  }
  return found;
}

/** SHA-256 over every point of the bucket, series by series in influxd's order, each row with its series. */
async function digestOf(
  replica: Replica,
  database: string,
  retentionPolicy: string,
  measurement: string,
  range: TimeRange,
): Promise<string> {
  const hash = createHash("sha256");
  const q = `SELECT * FROM ${source(database, retentionPolicy, measurement)} WHERE ${timeCondition(range)} GROUP BY *`;
  for await (const series of replica.select(q, database)) {
    const key = JSON.stringify([series.name, Object.entries(series.tags ?? {}).filter(([, v]) => v !== "")]);
    for (const row of series.values) {
      // Only the fields the point has: a column another shard adds to SELECT * is null here on one replica only.
      const values = row.flatMap((value, i) => (value === null ? [] : [[series.columns[i], value]]));
      hash.update(`${key}${JSON.stringify(values, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))}\n`);
    }
  }
  return hash.digest("hex");
}
