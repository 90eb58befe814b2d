// The whole local layout, end to end with real processes: Debian's haproxy in front, our two relays,
// two Debian influxd. Writes and queries go through HAProxy while an influxd, then a relay, is killed
// with SIGKILL mid-load and restarted; every acknowledged point ends up on both replicas, and queries
// never miss one.
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { waitForServerState } from "../helpers/haproxy.js";
import { queriesServed } from "../helpers/influxd-vars.js";
import { useLocalLayout } from "../helpers/local-layout.js";
import { waitFor } from "../helpers/ports.js";
import { writeLoad, type WriteLoadOptions } from "../helpers/write-load.js";

const DB = "faults";
const POINTS_PER_BATCH = 50;
const WRITERS = 4;
const TEST_TIMEOUT_MS = 150_000;

const warnings: string[] = [];
const fx = useLocalLayout({ name: "faults", databases: [DB], warn: (line) => warnings.push(line) });

const writeUrl = (): string => `${fx.plan.clientUrl}/write?db=${DB}`;

/** Paced writers through HAProxy, so the load still runs while HAProxy notices a fault (seconds). */
function load(measurement: string): WriteLoadOptions {
  return {
    url: writeUrl(),
    measurement,
    maxBatches: 5_000,
    pointsPerBatch: POINTS_PER_BATCH,
    concurrency: WRITERS,
    pauseMs: 20,
    deadlineMs: 90_000,
  };
}

/** SELECT count(v) of a measurement, through HAProxy or on one replica. */
async function count(baseUrl: string, measurement: string): Promise<number> {
  const params = new URLSearchParams({ db: DB, q: `SELECT count(v) FROM "${measurement}"` });
  const res = await request(`${baseUrl}/query?${params}`);
  const json = (await res.body.json()) as { results: Array<{ series?: Array<{ values: number[][] }> }> };
  expect(res.statusCode).toBe(200);
  return json.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

async function waitForState(server: string, status: string): Promise<void> {
  // Checks every 2 s; 3 failures mark a server down, 2 successes up again.
  await waitForServerState(() => fx.layout.serverStates(), server, status, 20_000);
}

/** The replicas that served `reads` queries through HAProxy. */
async function queryServingReplicas(reads = 4): Promise<string[]> {
  const before = await Promise.all(fx.plan.replicas.map((r) => queriesServed(r.url)));
  for (let i = 0; i < reads; i++) await count(fx.plan.clientUrl, "none");
  const after = await Promise.all(fx.plan.replicas.map((r) => queriesServed(r.url)));
  return fx.plan.replicas.filter((_, i) => after[i]! > before[i]!).map((r) => r.name);
}

/** Bounded wait until both replicas hold `expected` points of the measurement. */
async function waitForBothReplicas(measurement: string, expected: number): Promise<void> {
  await waitFor(async () => (await Promise.all(fx.plan.replicas.map((r) => count(r.url, measurement)))).every((n) => n === expected), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: `${expected} points of ${measurement} on both replicas`,
  });
}

describe("the local HA layout, through haproxy", () => {
  it("takes a write and answers a query for it", async () => {
    const res = await request(writeUrl(), { method: "POST", body: "cpu,host=a v=1 1700000000000000000" });
    expect(res.statusCode, await res.body.text()).toBe(204);
    await waitForBothReplicas("cpu", 1);
    expect(await count(fx.plan.clientUrl, "cpu")).toBe(1);
    // HAProxy sends everything to the relays; they choose the replica.
    expect((await fx.layout.serverStates()).map((s) => `${s.server} ${s.status}`)).toEqual(["relay-0 UP", "relay-1 UP"]);
  });

  it(
    "keeps taking every write and answering queries while a replica is killed -9, and heals after its restart",
    async () => {
      // Reads are spread over the replicas in sync: both serve them.
      expect((await queryServingReplicas()).sort()).toEqual(["influxd-0", "influxd-1"]);
      const victim = fx.plan.replicas[0]!;
      const other = fx.plan.replicas[1]!;
      const influxd = fx.layout.influxd(victim.name);
      const result = await writeLoad(load("kill_influxd"), async (progress) => {
        await progress.reached(20);
        await influxd.kill9();
        await progress.reached(progress.acked + 10);
        // Queries go to the other replica, which has every acknowledged point.
        expect(await queryServingReplicas()).toEqual([other.name]);
        // Taken before the query: batches acknowledged while it runs may or may not be in its answer.
        const acked = progress.acked;
        expect(await count(fx.plan.clientUrl, "kill_influxd")).toBeGreaterThanOrEqual(acked * POINTS_PER_BATCH);
        await progress.reached(progress.acked + 10);
        await influxd.restart();
        await progress.reached(progress.acked + 20);
      });
      // The relays queue what the dead replica misses and answer 204 once the other has it: no client saw an error.
      expect(result.failedAttempts).toBe(0);
      await waitForBothReplicas("kill_influxd", result.acked * POINTS_PER_BATCH);
      // Caught up, the replica that was away serves reads again.
      await waitFor(async () => (await queryServingReplicas(6)).includes(victim.name), {
        timeoutMs: 20_000,
        what: `${victim.name} to serve reads again`,
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "keeps taking writes through the other relay while one is killed -9, and uses it again after its restart",
    async () => {
      const result = await writeLoad(load("kill_relay"), async (progress) => {
        await progress.reached(20);
        process.kill(fx.layout.relayPid("relay-0")!, "SIGKILL");
        await waitForState("relay-0", "DOWN");
        await progress.reached(progress.acked + 10);
        await fx.layout.restartRelays(["relay-0"]);
        await waitForState("relay-0", "UP");
        await progress.reached(progress.acked + 20);
      });
      // Only writes in flight on the killed relay can fail; HAProxy retries the ones that find it gone.
      expect(result.failedAttempts).toBeLessThanOrEqual(WRITERS);
      expect(warnings.some((w) => w.startsWith("relay-0 exited unexpectedly (signal SIGKILL)"))).toBe(true);
      await waitForBothReplicas("kill_relay", result.acked * POINTS_PER_BATCH);
    },
    TEST_TIMEOUT_MS,
  );
});
