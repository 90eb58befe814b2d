// drift-check-interval: the listener compares its outputs' recent points on a timer and shows the drift it
// finds on /metrics and /status. Cheap on purpose: per database, retention policy and measurement, counts of
// field values in a few buckets of the last drift-check-window, up to a moment the fan-out has surely reached
// every replica. What it finds is for alerting; influx-ha check and repair look at all of time.
import type { Logger } from "pino";
import { countPolicy, diffCounts, INTERNAL_DATABASE, measurementsOf, missingPoints, unionOver, type PolicyCounts } from "./counts.js";
import { quoteIdentifier } from "../influxql/quote.js";
import type { TimeRange } from "./influxql.js";
import { Replica, rowsOf, type Credentials, type ReplicaAddress } from "./replica.js";

export interface DriftWatchOptions {
  readonly replicas: readonly ReplicaAddress[];
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly credentials: Credentials | undefined;
  readonly logger: Logger;
}

/** What the last check found for one output: the buckets where it holds fewer points than another, and how many fewer. */
export interface OutputDrift {
  readonly buckets: number;
  readonly missingPoints: number;
}

export interface DriftCheckResult {
  /** ms since the epoch */
  readonly at: number;
  readonly durationMs: number;
  readonly outputs: ReadonlyMap<string, OutputDrift>;
}

/** Writes the relays were still fanning out land within this; the check stops this far before now. */
const SETTLE_MS = 2_000;
/** Buckets per window: enough to say roughly when, few enough to stay cheap. */
const BUCKETS_PER_WINDOW = 6n;
const QUERY_TIMEOUT_MS = 60_000;

export class DriftWatch {
  /** The last check that could read every replica. */
  last: DriftCheckResult | undefined;
  /** Why the latest check failed, until one succeeds. */
  lastError: string | undefined;
  readonly runs = { ok: 0, failed: 0 };
  private readonly replicas: Replica[];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly opts: DriftWatchOptions) {
    this.replicas = opts.replicas.map((address) => new Replica(address, opts.credentials, QUERY_TIMEOUT_MS));
  }

  start(): void {
    this.schedule();
  }

  /** One comparison of the window that ends SETTLE_MS before `nowMs`. */
  async checkOnce(nowMs = Date.now()): Promise<void> {
    const started = performance.now();
    try {
      const outputs = await this.compare(nowMs);
      this.last = { at: nowMs, durationMs: performance.now() - started, outputs };
      this.lastError = undefined;
      this.runs.ok++;
      const drifting = [...outputs].filter(([, d]) => d.buckets > 0);
      if (drifting.length > 0) {
        this.opts.logger.warn(
          { drift: Object.fromEntries(drifting) },
          `drift check: ${drifting.map(([name, d]) => `${name} lacks ${d.missingPoints} points`).join(", ")} of the last ${this.opts.windowMs / 1000}s; influx-ha check shows where`,
        );
      }
    } catch (err) {
      this.lastError = (err as Error).message;
      this.runs.failed++;
      this.opts.logger.warn({ err: this.lastError }, "drift check failed");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.all(this.replicas.map((r) => r.close()));
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.running = this.checkOnce().finally(() => this.schedule());
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  private async compare(nowMs: number): Promise<Map<string, OutputDrift>> {
    const endNs = BigInt(nowMs - SETTLE_MS) * 1_000_000n;
    const windowNs = BigInt(this.opts.windowMs) * 1_000_000n;
    const range: TimeRange = { start: endNs - windowNs, end: endNs };
    const bucketNs = windowNs / BUCKETS_PER_WINDOW > 0n ? windowNs / BUCKETS_PER_WINDOW : 1n;
    const drift = new Map(this.replicas.map((r) => [r.name, { buckets: 0, missingPoints: 0 }]));
    for (const database of await this.union((r) => this.databasesOf(r))) {
      const measurements = await this.union((r) => measurementsOf(r, database));
      if (measurements.length === 0) continue;
      for (const policy of await this.union((r) => this.policiesOf(r, database))) {
        const counted = await Promise.all(
          this.replicas.map(async (r) => [r.name, await countPolicy(r, database, policy, range, bucketNs, measurements)] as const),
        );
        for (const difference of diffCounts(database, policy, new Map<string, PolicyCounts>(counted), bucketNs, range)) {
          for (const [name, missing] of Object.entries(missingPoints(difference.counts))) {
            if (missing === 0) continue;
            const d = drift.get(name)!;
            d.buckets++;
            d.missingPoints += missing;
          }
        }
      }
    }
    return drift;
  }

  /** A replica that does not answer fails the check. */
  private union(list: (replica: Replica) => Promise<string[]>): Promise<string[]> {
    return unionOver(this.replicas, list);
  }

  private async databasesOf(replica: Replica): Promise<string[]> {
    const [series = []] = await replica.show("SHOW DATABASES");
    return rowsOf(series)
      .map((row) => String(row.name))
      .filter((name) => name !== INTERNAL_DATABASE);
  }

  private async policiesOf(replica: Replica, database: string): Promise<string[]> {
    const policies: string[] = [];
    for await (const series of replica.select(`SHOW RETENTION POLICIES ON ${quoteIdentifier(database)}`, database)) {
      policies.push(...rowsOf([series]).map((row) => String(row.name)));
    }
    return policies;
  }
}
