// npm run soak: the local layout under a paced write load through HAProxy while a seeded plan of faults
// (soak/plan.ts) kills, freezes and restarts replicas and relays one at a time. At the end every fault is
// healed, the relays drain their queues, and the invariant is checked on each replica directly: every
// acknowledged point is there, and the replicas hold exactly the same points.
import { request } from "undici";
import type { LocalLayout } from "../local/layout.js";
import type { LocalPlan } from "../local/plan.js";
import { sleep, waitFor } from "../local/wait.js";
import { writeLoad } from "../test/helpers/write-load.js";
import { describeFault, planFaults, type Fault } from "./plan.js";

export interface SoakOptions {
  readonly plan: LocalPlan;
  /** Started, with restarts of its own off: the soak heals what it breaks. */
  readonly layout: LocalLayout;
  readonly database: string;
  readonly seed: number;
  readonly faults: number;
  readonly log: (line: string) => void;
}

export interface SoakResult {
  readonly seed: number;
  readonly faults: readonly Fault[];
  readonly ackedBatches: number;
  readonly points: number;
  /** Attempts a client had to retry: answers other than 204, or none. */
  readonly retries: number;
  /** Points of the soak measurement on each replica, by name. */
  readonly pointsOnReplicas: Readonly<Record<string, number>>;
  /** Empty when the invariant holds. */
  readonly violations: readonly string[];
}

const MEASUREMENT = "soak";
const POINTS_PER_BATCH = 50;
const WRITERS = 4;
const SYNC_TIMEOUT_MS = 180_000;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const { plan, layout, log } = opts;
  const faults = planFaults({
    seed: opts.seed,
    faults: opts.faults,
    replicas: plan.replicas.map((r) => r.name),
    relays: plan.relays.map((r) => r.name),
    holdMs: { min: 500, max: 3_000 },
    settleMs: { min: 300, max: 1_500 },
  });
  log(`soak: seed ${opts.seed}, ${faults.length} faults (replay with npm run soak -- --seed ${opts.seed} --faults ${faults.length})`);
  const budgetMs = faults.reduce((sum, f) => sum + f.holdMs + f.settleMs, 0) + 120_000;
  const load = await writeLoad(
    {
      url: `${plan.clientUrl}/write?db=${encodeURIComponent(opts.database)}`,
      measurement: MEASUREMENT,
      maxBatches: 1_000_000,
      pointsPerBatch: POINTS_PER_BATCH,
      concurrency: WRITERS,
      pauseMs: 20,
      attemptsPerBatch: 2_000,
      deadlineMs: budgetMs,
    },
    async (progress) => {
      await progress.reached(10);
      for (const [i, fault] of faults.entries()) {
        log(`soak: fault ${i + 1}/${faults.length}: ${describeFault(fault)} (${progress.acked} batches acknowledged so far)`);
        await inflict(layout, fault);
        await progress.reached(progress.acked + 5);
      }
    },
  );
  log(`soak: load done, ${load.acked} batches acknowledged, ${load.failedAttempts} retried; waiting for the relays to drain`);
  await waitForRelaysInSync(plan);
  const pointsOnReplicas: Record<string, number> = {};
  const perBatch: Record<string, Map<string, number>> = {};
  for (const replica of plan.replicas) {
    perBatch[replica.name] = await countsByBatch(replica.url, opts.database);
    pointsOnReplicas[replica.name] = [...perBatch[replica.name]!.values()].reduce((sum, n) => sum + n, 0);
  }
  const violations: string[] = [];
  for (const replica of plan.replicas) {
    const counts = perBatch[replica.name]!;
    const missing = Array.from({ length: load.acked }, (_, batch) => `b${batch}`).filter((b) => counts.get(b) !== POINTS_PER_BATCH);
    if (missing.length > 0)
      violations.push(`${replica.name} lacks points of ${missing.length} acknowledged batches: ${missing.slice(0, 10).join(", ")}`);
  }
  const [first, ...others] = plan.replicas.map((r) => r.name);
  for (const other of others) {
    if (!sameCounts(perBatch[first!]!, perBatch[other]!)) violations.push(`${first} and ${other} do not hold the same points`);
  }
  return {
    seed: opts.seed,
    faults,
    ackedBatches: load.acked,
    points: load.acked * POINTS_PER_BATCH,
    retries: load.failedAttempts,
    pointsOnReplicas,
    violations,
  };
}

/** Breaks the target, waits the fault's hold, heals it, and lets the load run on for its settle time. */
async function inflict(layout: LocalLayout, fault: Fault): Promise<void> {
  const { role, name } = fault.target;
  const pid = (): number => {
    const found = role === "replica" ? layout.influxd(name).pid : layout.relayPid(name);
    if (found === undefined) throw new Error(`${name} is not running`);
    return found;
  };
  if (fault.kind === "freeze") {
    const frozen = pid();
    process.kill(frozen, "SIGSTOP");
    try {
      await sleep(fault.holdMs);
    } finally {
      process.kill(frozen, "SIGCONT");
    }
  } else if (role === "replica") {
    const influxd = layout.influxd(name);
    if (fault.kind === "kill") await influxd.kill9();
    await sleep(fault.holdMs);
    await influxd.restart();
  } else {
    if (fault.kind === "kill") process.kill(pid(), "SIGKILL");
    await sleep(fault.holdMs);
    await layout.restartRelays([name]);
  }
  await sleep(fault.settleMs);
}

async function waitForRelaysInSync(plan: LocalPlan): Promise<void> {
  await waitFor(
    async () => {
      for (const relay of plan.relays) {
        const res = await request(`${relay.url}/status`);
        const status = (await res.body.json()) as { outputs: Array<{ behind: boolean }> };
        if (res.statusCode !== 200 || status.outputs.some((o) => o.behind)) return false;
      }
      return true;
    },
    { timeoutMs: SYNC_TIMEOUT_MS, intervalMs: 500, what: "every relay to hold nothing for any replica" },
  );
}

async function countsByBatch(url: string, database: string): Promise<Map<string, number>> {
  const params = new URLSearchParams({ db: database, q: `SELECT count(v) FROM "${MEASUREMENT}" GROUP BY "batch"` });
  const res = await request(`${url}/query?${params}`);
  const answer = (await res.body.json()) as {
    results: Array<{ error?: string; series?: Array<{ tags: { batch: string }; values: number[][] }> }>;
  };
  const result = answer.results[0];
  if (res.statusCode !== 200 || result?.error) throw new Error(`counting on ${url}: ${result?.error ?? res.statusCode}`);
  return new Map((result?.series ?? []).map((s) => [s.tags.batch, s.values[0]?.[1] ?? 0]));
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  return a.size === b.size && [...a].every(([batch, n]) => b.get(batch) === n);
}
