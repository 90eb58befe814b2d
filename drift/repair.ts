// `influx-ha repair`: makes the replicas whole from each other. Schema first (databases, retention policies,
// continuous queries; users are listed with the commands to run, since passwords cannot be read back), then
// every bucket `check` found different: copied whole into replicas that hold none of it, streamed in bounded
// memory, or merged field by field where both sides hold some. Only what a replica lacks is written, so a
// repair cut short is simply run again; conflicting values are left alone unless the operator names a replica
// to prefer. Ends with a check that proves the replicas match.
import { checkReplicas, durationNs, hasDrift, type CheckOptions, type DriftReport } from "./check.js";
import { countPolicy, diffCounts, missingPoints, pointCount, sameCounts, type BucketDifference } from "../relay/drift/counts.js";
import { source, timeCondition, type TimeRange } from "../relay/drift/influxql.js";
import { quoteIdentifier, quoteString } from "../relay/influxql/quote.js";
import {
  FIELD_TYPES,
  FieldTypeError,
  formatLine,
  formatRows,
  seriesKey,
  type FieldType,
  type FieldValue,
  type Point,
} from "./line-protocol.js";
import { planMerge, type Conflict, type Holdings, type SeriesHoldings } from "./merge.js";
import { RateLimit } from "./rate-limit.js";
import { WriteRefused, type Replica, type Series } from "../relay/drift/replica.js";
import {
  diffSchemas,
  readSchema,
  samePolicy,
  type ReplicaSchema,
  type RetentionPolicy,
  type SchemaDifference,
  type User,
} from "./schema.js";

export interface RepairOptions extends CheckOptions {
  /** Points per second written, over all replicas; unlimited when absent. */
  readonly rate: number | undefined;
  readonly dryRun: boolean;
  /** The replica whose values settle conflicts (and whose definitions settle schema that differs). */
  readonly prefer: string | undefined;
  /** Check-and-repair rounds at most: writes that were still arriving make a second round find a little more. */
  readonly rounds: number;
}

/** A schema change made (or, dry run, to make) on one replica. */
export interface SchemaAction {
  readonly replica: string;
  readonly statement: string;
  readonly database?: string;
}

/** Something repair cannot or may not do itself, with what the operator can run. */
export interface ManualStep {
  readonly what: string;
  readonly commands: readonly string[];
}

export interface BucketConflict extends Conflict {
  readonly database: string;
  readonly retentionPolicy: string;
}

export interface RepairOutcome {
  readonly first: DriftReport;
  readonly schemaActions: readonly SchemaAction[];
  readonly manual: readonly ManualStep[];
  /** Replica to points written into it (dry run: points it lacks, at least). */
  readonly written: Readonly<Record<string, number>>;
  readonly conflicts: readonly BucketConflict[];
  /** Conflicts settled by --prefer. */
  readonly settled: number;
  /** Points a replica refused for good (4xx), e.g. a field type conflict, with its answer. */
  readonly refused: readonly string[];
  /** Time spent copying and merging, checks and schema left out. */
  readonly copyMs: number;
  /** The last check: undefined on a dry run. */
  readonly last: DriftReport | undefined;
}

/** Points sent per write request. */
export const BATCH_POINTS = 5_000;
/** Write requests in flight per copy: keeps reading and writing overlapped. */
export const WRITES_IN_FLIGHT = 4;
/** Field values over all replicas that a merge holds in memory at most, before it splits the bucket finer. */
const MERGE_LIMIT = 50_000;
/** Finer buckets a large difference is split into, until a piece is small enough to merge. */
const FINER_NS = [3_600n, 60n, 1n].map((s) => s * 1_000_000_000n).concat([1_000_000n, 1_000n, 1n]);

export class Repair {
  private readonly byName: ReadonlyMap<string, Replica>;
  private readonly limit: RateLimit;
  private readonly fieldTypes = new Map<string, Promise<Map<string, FieldType>>>();
  private readonly written: Record<string, number> = {};
  /** Of the last round: a later round meets the same ones again. */
  private conflicts: BucketConflict[] = [];
  private refused: string[] = [];
  private readonly schemaActions: SchemaAction[] = [];
  private readonly manual: ManualStep[] = [];
  private settled = 0;
  private copyMs = 0;
  /** One batch per replica, database and policy, shared by every bucket: many small buckets make few writes. */
  private readonly writers = new Map<string, BatchWriter>();

  constructor(private readonly opts: RepairOptions) {
    this.byName = new Map(opts.replicas.map((r) => [r.name, r]));
    this.limit = new RateLimit(opts.rate);
    for (const r of opts.replicas) this.written[r.name] = 0;
  }

  /**
   * Before the relays' queues have drained: creates the databases (with their policies) that some replicas
   * lack and every replica holding them has no queued entry for. Writes queued for a replica that lacks the
   * database would otherwise wait for it, and hold the repair up; where the holders are drained, no queued
   * DROP DATABASE can be on its way, so creating it brings nothing back.
   */
  async prepare(drained: ReadonlySet<string>): Promise<void> {
    const schemas = new Map(await Promise.all(this.opts.replicas.map(async (r) => [r.name, await readSchema(r)] as const)));
    const safe = diffSchemas(schemas).flatMap((d) => (d.kind === "database" && d.presentOn.every((r) => drained.has(r)) ? [d] : []));
    if (safe.length > 0) await this.applySchema(safe, schemas, new Set(safe.map((d) => d.database)));
  }

  async run(): Promise<RepairOutcome> {
    const first = await checkReplicas(this.opts);
    let report = first;
    if (this.opts.dryRun) {
      this.planSchema(report.schema, report.schemas);
      for (const d of report.data) {
        for (const [replica, missing] of Object.entries(missingPoints(d.counts))) this.written[replica]! += missing;
      }
      return this.outcome(first, undefined);
    }
    for (let round = 0; round < this.opts.rounds && hasDrift(report); round++) {
      const before = this.totalWritten() + this.schemaActions.length;
      if (round === 0) await this.applySchema(report.schema, report.schemas);
      await this.repairData(report);
      report = await checkReplicas(this.opts);
      // A round that changed nothing will not be followed by one that does: what is left needs the operator.
      if (this.totalWritten() + this.schemaActions.length === before) break;
    }
    return this.outcome(first, report);
  }

  private outcome(first: DriftReport, last: DriftReport | undefined): RepairOutcome {
    const { schemaActions, manual, written, conflicts, settled, refused, copyMs } = this;
    return { first, schemaActions, manual, written, conflicts, settled, refused, copyMs, last };
  }

  private totalWritten(): number {
    return Object.values(this.written).reduce((a, b) => a + b, 0);
  }

  // ---- schema ----

  /**
   * `created` holds "replica/database" pairs this repair has just created: their policies are influxd's
   * defaults, not a definition of their own, so the other replicas' definition is chosen for them.
   */
  private planSchema(
    differences: readonly SchemaDifference[],
    schemas: ReadonlyMap<string, ReplicaSchema>,
    created: ReadonlySet<string> = new Set(),
  ): void {
    for (const d of differences) {
      if (d.kind !== "user" && this.opts.databases.length > 0 && !this.opts.databases.includes(d.database)) continue;
      switch (d.kind) {
        case "database": {
          // Made with the same default policy as where it exists, so influxd adds no autogen of its own.
          const policies = schemas.get(d.presentOn[0]!)?.databases.get(d.database)?.retentionPolicies ?? new Map<string, RetentionPolicy>();
          const [name, policy] = [...policies].find(([, p]) => p.default) ?? [];
          const statement = createDatabaseStatement(d.database, name === undefined ? undefined : { name, policy: policy! });
          for (const replica of d.missingOn) this.schemaActions.push({ replica, statement });
          break;
        }
        case "retention-policy": {
          // A policy only the databases this repair created hold is influxd's doing, not a definition to copy.
          const defined = Object.fromEntries(Object.entries(d.byReplica).filter(([replica]) => !created.has(`${replica}/${d.database}`)));
          if (Object.keys(defined).length === 0) break;
          const chosen = this.choose(defined, samePolicy);
          if (chosen === undefined) {
            this.manual.push(differentDefinitions(`retention policy ${d.database}.${d.name}`, d.byReplica, policyText));
            break;
          }
          for (const replica of this.opts.replicas.map((r) => r.name)) {
            const own = d.byReplica[replica];
            if (own !== undefined && samePolicy(own, chosen)) continue;
            const verb = own === undefined ? "CREATE" : "ALTER";
            this.schemaActions.push({ replica, statement: policyStatement(verb, d.name, d.database, chosen) });
          }
          break;
        }
        case "continuous-query": {
          const chosen = this.choose(d.byReplica, (a, b) => a === b);
          if (chosen === undefined) {
            this.manual.push(differentDefinitions(`continuous query ${d.database}.${d.name}`, d.byReplica, (q) => q));
            break;
          }
          for (const replica of this.opts.replicas.map((r) => r.name)) {
            const own = d.byReplica[replica];
            if (own === chosen) continue;
            if (own !== undefined) {
              this.schemaActions.push({
                replica,
                statement: `DROP CONTINUOUS QUERY ${quoteIdentifier(d.name)} ON ${quoteIdentifier(d.database)}`,
              });
            }
            this.schemaActions.push({ replica, statement: chosen, database: d.database });
          }
          break;
        }
        case "user":
          this.manual.push(userStep(d.name, d.missingOn, d.byReplica, this.opts.prefer));
          break;
      }
    }
  }

  /** The one definition every replica holding it agrees on, or the preferred replica's. */
  private choose<T>(byReplica: Readonly<Record<string, T>>, same: (a: T, b: T) => boolean): T | undefined {
    const held = Object.values(byReplica);
    if (held.every((v) => same(v, held[0]!))) return held[0];
    return this.opts.prefer === undefined ? undefined : byReplica[this.opts.prefer];
  }

  /**
   * Databases first, then the schema read again: a database just created holds influxd's default policy,
   * which is then altered to the other replicas' definition, and their other policies and queries added.
   */
  /** `only`: the databases whose policies and queries follow; every difference when absent. */
  private async applySchema(
    differences: readonly SchemaDifference[],
    schemas: ReadonlyMap<string, ReplicaSchema>,
    only?: ReadonlySet<string>,
  ): Promise<void> {
    const databases = differences.filter((d) => d.kind === "database");
    if (databases.length === 0) return this.apply(differences, schemas);
    await this.apply(databases, schemas);
    const created = new Set(databases.flatMap((d) => d.missingOn.map((replica) => `${replica}/${d.database}`)));
    const reread = new Map(await Promise.all(this.opts.replicas.map(async (r) => [r.name, await readSchema(r)] as const)));
    const next = diffSchemas(reread).filter((d) => only === undefined || (d.kind !== "user" && only.has(d.database)));
    await this.apply(next, reread, created);
  }

  private async apply(
    differences: readonly SchemaDifference[],
    schemas: ReadonlyMap<string, ReplicaSchema>,
    created?: ReadonlySet<string>,
  ): Promise<void> {
    const from = this.schemaActions.length;
    this.planSchema(differences, schemas, created);
    for (const action of this.schemaActions.slice(from)) await this.byName.get(action.replica)!.execute(action.statement, action.database);
  }

  // ---- data ----

  private async repairData(report: DriftReport): Promise<void> {
    const { progress } = this.opts;
    const started = performance.now();
    this.conflicts = [];
    this.refused = [];
    progress.start("repairing", report.data.length + report.content.length);
    const widths = new Map(report.policies.map((p) => [JSON.stringify([p.database, p.retentionPolicy]), p.bucketNs]));
    for (const d of report.data) {
      await this.repairBucket(d, widths.get(JSON.stringify([d.database, d.retentionPolicy]))!);
      progress.advance(1, this.progressDetail());
    }
    for (const c of report.content) {
      await this.merge(c);
      progress.advance(1, this.progressDetail());
    }
    await Promise.all([...this.writers.values()].map((w) => w.flush()));
    this.writers.clear();
    this.copyMs += performance.now() - started;
    progress.done();
  }

  private progressDetail(): string {
    return `${this.totalWritten()} points written`;
  }

  private async repairBucket(d: BucketDifference, widthNs: bigint): Promise<void> {
    const holders = Object.entries(d.counts).filter(([, fields]) => pointCount(fields) > 0);
    const empty = Object.keys(d.counts).filter((r) => pointCount(d.counts[r]!) === 0);
    if (holders.length === 0) return;
    if (empty.length > 0 && sameCounts(holders.map(([, fields]) => fields))) {
      await this.copy(d, holders[0]![0], empty);
      return;
    }
    const values = holders.reduce((sum, [, fields]) => sum + Object.values(fields).reduce((a, b) => a + b, 0), 0);
    const finer = FINER_NS.find((ns) => ns < widthNs && ns < d.range.end - d.range.start);
    if (values <= MERGE_LIMIT || finer === undefined) {
      await this.merge(d);
      return;
    }
    const counted = await Promise.all(
      this.opts.replicas.map(
        async (r) => [r.name, await countPolicy(r, d.database, d.retentionPolicy, d.range, finer, [d.measurement])] as const,
      ),
    );
    for (const piece of diffCounts(d.database, d.retentionPolicy, new Map(counted), finer, d.range)) await this.repairBucket(piece, finer);
  }

  /** Streams every point of the bucket from one replica into replicas that hold none of it. */
  private async copy(d: BucketDifference, from: string, into: readonly string[]): Promise<void> {
    const types = await this.typesOf(from, d);
    const writers = into.map((name) => this.writerFor(name, d));
    for await (const series of this.byName.get(from)!.select(selectBucket(d), d.database)) {
      const lines = formatRows(series, types, (row, problem) =>
        this.refused.push(`${d.database}.${d.retentionPolicy} ${series.name} row ${row}: ${problem}`),
      );
      await Promise.all(writers.map((w) => w.add(lines)));
    }
  }

  private writerFor(replica: string, d: { database: string; retentionPolicy: string }): BatchWriter {
    const key = JSON.stringify([replica, d.database, d.retentionPolicy]);
    let writer = this.writers.get(key);
    if (writer === undefined) {
      writer = new BatchWriter(this.byName.get(replica)!, d, this.limit, this.written, (problem) => this.refused.push(problem));
      this.writers.set(key, writer);
    }
    return writer;
  }

  /** Loads the bucket from every replica and writes each one what it lacks. */
  private async merge(d: { database: string; retentionPolicy: string; measurement: string; range: TimeRange }): Promise<void> {
    const holdings = new Map<string, Holdings>();
    for (const replica of this.opts.replicas) holdings.set(replica.name, await load(replica, d));
    const plan = planMerge(holdings, this.opts.prefer);
    this.settled += plan.settled;
    for (const conflict of plan.conflicts) this.conflicts.push({ ...conflict, database: d.database, retentionPolicy: d.retentionPolicy });
    for (const [name, points] of plan.writes) {
      if (points.length === 0) continue;
      const types = await this.mergedTypes(d);
      const writer = this.writerFor(name, d);
      await writer.add(points.flatMap((point) => this.line(point, types, d) ?? []));
    }
  }

  private line(point: Point, types: ReadonlyMap<string, FieldType>, d: { database: string; retentionPolicy: string }): string | undefined {
    try {
      return formatLine(point, types);
    } catch (err) {
      if (!(err instanceof FieldTypeError)) throw err;
      this.refused.push(`${d.database}.${d.retentionPolicy} ${seriesKey(point.measurement, point.tags)} ${point.time}: ${err.message}`);
      return undefined;
    }
  }

  /** Field types from SHOW FIELD KEYS on the replica the points come from. */
  private typesOf(replica: string, d: { database: string; retentionPolicy: string; measurement: string }): Promise<Map<string, FieldType>> {
    const key = JSON.stringify([replica, d.database, d.retentionPolicy, d.measurement]);
    let types = this.fieldTypes.get(key);
    if (types === undefined) {
      types = readFieldTypes(this.byName.get(replica)!, d);
      this.fieldTypes.set(key, types);
    }
    return types;
  }

  /** Types over every replica: a field typed differently on two replicas is left out, and its points refused. */
  private async mergedTypes(d: { database: string; retentionPolicy: string; measurement: string }): Promise<Map<string, FieldType>> {
    const all = await Promise.all(this.opts.replicas.map((r) => this.typesOf(r.name, d)));
    const merged = new Map<string, FieldType>();
    const clashing = new Set<string>();
    for (const types of all) {
      for (const [field, type] of types) {
        if (merged.has(field) && merged.get(field) !== type) clashing.add(field);
        merged.set(field, type);
      }
    }
    for (const field of clashing) merged.delete(field);
    return merged;
  }
}

/** Writes lines in batches, a few requests in flight, counting what each replica took. */
class BatchWriter {
  private lines: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly replica: Replica,
    private readonly d: { database: string; retentionPolicy: string },
    private readonly limit: RateLimit,
    private readonly written: Record<string, number>,
    private readonly refuse: (problem: string) => void,
  ) {}

  async add(lines: readonly string[]): Promise<void> {
    for (const line of lines) this.lines.push(line);
    while (this.lines.length >= BATCH_POINTS) await this.send();
  }

  async flush(): Promise<void> {
    if (this.lines.length > 0) await this.send();
    await Promise.all(this.inFlight);
  }

  private async send(): Promise<void> {
    const lines = this.lines.splice(0, BATCH_POINTS);
    while (this.inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    await this.limit.take(lines.length);
    const write = this.replica
      .write(this.d.database, this.d.retentionPolicy, lines.join("\n"))
      .then(() => {
        this.written[this.replica.name]! += lines.length;
      })
      .catch((err: unknown) => {
        // A 4xx is about the points (type conflict, beyond retention): said and left; anything else stops the repair.
        if (!(err instanceof WriteRefused) || err.status >= 500) throw err;
        this.refuse(err.message);
      })
      .finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
  }
}

function selectBucket(d: { database: string; retentionPolicy: string; measurement: string; range: TimeRange }): string {
  return `SELECT * FROM ${source(d.database, d.retentionPolicy, d.measurement)} WHERE ${timeCondition(d.range)} GROUP BY *`;
}

/** The points of one chunk of a `SELECT * ... GROUP BY *` answer: tags from the series, fields from the columns. */
function pointsInSeries(series: Series): Point[] {
  const tags = Object.fromEntries(Object.entries(series.tags ?? {}).filter(([, v]) => v !== ""));
  return series.values.map((row) => {
    const fields = new Map<string, FieldValue>();
    for (let i = 1; i < row.length; i++) if (row[i] !== null && row[i] !== undefined) fields.set(series.columns[i]!, row[i] as FieldValue);
    return { measurement: series.name, tags, fields, time: BigInt(row[0] as number | bigint) };
  });
}

async function load(
  replica: Replica,
  d: { database: string; retentionPolicy: string; measurement: string; range: TimeRange },
): Promise<Holdings> {
  const holdings = new Map<string, SeriesHoldings & { times: Map<bigint, ReadonlyMap<string, FieldValue>> }>();
  for await (const series of replica.select(selectBucket(d), d.database)) {
    for (const point of pointsInSeries(series)) {
      const key = seriesKey(point.measurement, point.tags);
      const held = holdings.get(key) ?? { measurement: point.measurement, tags: point.tags, times: new Map() };
      held.times.set(point.time, point.fields);
      holdings.set(key, held);
    }
  }
  return holdings;
}

async function readFieldTypes(
  replica: Replica,
  d: { database: string; retentionPolicy: string; measurement: string },
): Promise<Map<string, FieldType>> {
  const types = new Map<string, FieldType>();
  for await (const series of replica.select(
    `SHOW FIELD KEYS FROM ${quoteIdentifier(d.retentionPolicy)}.${quoteIdentifier(d.measurement)}`,
    d.database,
  )) {
    for (const [field, type] of series.values) {
      if (FIELD_TYPES.includes(type as FieldType)) types.set(String(field), type as FieldType);
    }
  }
  return types;
}

/** An InfluxQL duration literal: INF for 0s, else the largest unit that divides the duration exactly. */
export function influxqlDuration(goDuration: string): string {
  const ns = durationNs(goDuration);
  if (ns === undefined) return "INF";
  const units: ReadonlyArray<readonly [string, bigint]> = [
    ["w", 604_800_000_000_000n],
    ["d", 86_400_000_000_000n],
    ["h", 3_600_000_000_000n],
    ["m", 60_000_000_000n],
    ["s", 1_000_000_000n],
    ["ms", 1_000_000n],
    ["u", 1_000n],
  ];
  for (const [unit, size] of units) if (ns % size === 0n) return `${ns / size}${unit}`;
  return `${ns}ns`;
}

/** CREATE DATABASE, WITH the default policy it has elsewhere when there is one. */
function createDatabaseStatement(database: string, defaultPolicy: { name: string; policy: RetentionPolicy } | undefined): string {
  if (defaultPolicy === undefined) return `CREATE DATABASE ${quoteIdentifier(database)}`;
  const { name, policy } = defaultPolicy;
  return (
    `CREATE DATABASE ${quoteIdentifier(database)} WITH DURATION ${influxqlDuration(policy.duration)} REPLICATION ${policy.replicaN} ` +
    `SHARD DURATION ${influxqlDuration(policy.shardGroupDuration)} NAME ${quoteIdentifier(name)}`
  );
}

export function policyStatement(verb: "CREATE" | "ALTER", name: string, database: string, policy: RetentionPolicy): string {
  return (
    `${verb} RETENTION POLICY ${quoteIdentifier(name)} ON ${quoteIdentifier(database)} DURATION ${influxqlDuration(policy.duration)} ` +
    `REPLICATION ${policy.replicaN} SHARD DURATION ${influxqlDuration(policy.shardGroupDuration)}${policy.default ? " DEFAULT" : ""}`
  );
}

const policyText = (p: RetentionPolicy): string =>
  `DURATION ${influxqlDuration(p.duration)} SHARD DURATION ${influxqlDuration(p.shardGroupDuration)} REPLICATION ${p.replicaN}${p.default ? " DEFAULT" : ""}`;

function differentDefinitions<T>(what: string, byReplica: Readonly<Record<string, T>>, show: (value: T) => string): ManualStep {
  return {
    what: `${what} is defined differently on the replicas; run repair with --prefer REPLICA to make every replica use one replica's definition`,
    commands: Object.entries(byReplica).map(([replica, value]) => `-- ${replica}: ${show(value)}`),
  };
}

/** A user cannot be copied: its password is stored hashed. The commands to run, per replica that needs them. */
function userStep(
  name: string,
  missingOn: readonly string[],
  byReplica: Readonly<Record<string, User>>,
  prefer: string | undefined,
): ManualStep {
  const model = (prefer === undefined ? undefined : byReplica[prefer]) ?? Object.values(byReplica)[0]!;
  const grants = (user: User) =>
    [...user.grants].map(([db, privilege]) => `GRANT ${privilege} ON ${quoteIdentifier(db)} TO ${quoteIdentifier(name)}`);
  const commands: string[] = [];
  for (const replica of missingOn) {
    commands.push(
      `-- on ${replica}:`,
      `CREATE USER ${quoteIdentifier(name)} WITH PASSWORD ${quoteString("<password>")}${model.admin ? " WITH ALL PRIVILEGES" : ""}`,
      ...grants(model),
    );
  }
  const differing = Object.entries(byReplica).filter(
    ([, user]) => user.admin !== model.admin || grants(user).join() !== grants(model).join(),
  );
  for (const [replica, user] of differing) {
    const extra = [...user.grants]
      .filter(([db, privilege]) => model.grants.get(db) !== privilege && !model.grants.has(db))
      .map(([db, privilege]) => `REVOKE ${privilege} ON ${quoteIdentifier(db)} FROM ${quoteIdentifier(name)}`);
    commands.push(
      `-- on ${replica} (now: ${user.admin ? "admin, " : ""}${grants(user).join("; ") || "no grants"}):`,
      ...grants(model),
      ...extra,
    );
    if (model.admin && !user.admin) commands.push(`GRANT ALL PRIVILEGES TO ${quoteIdentifier(name)}`);
    if (!model.admin && user.admin) commands.push(`REVOKE ALL PRIVILEGES FROM ${quoteIdentifier(name)}`);
  }
  const what =
    missingOn.length > 0
      ? `user "${name}" is missing on ${missingOn.join(", ")}`
      : `user "${name}" has different privileges on the replicas`;
  return { what: `${what}; passwords cannot be copied, so repair leaves users to you`, commands };
}
