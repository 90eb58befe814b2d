// Faults against two real influxd and the relay as its own process: kill -9 a backend or the relay
// under load, restart it, and every acknowledged point is on both replicas with the same values.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { startRelayProcess, writeConfig, type RelayProcess } from "../helpers/relay-process.js";
import { tempDir } from "../helpers/temp.js";
import { batchBody, post, writeLoad, type LoadProgress } from "../helpers/write-load.js";

const DB = "faults";
const BATCHES = 150;
const POINTS_PER_BATCH = 40;
/** Every loop here is bounded: attempts per batch (writeLoad's), and wall time for the whole load. */
const LOAD_DEADLINE_MS = 60_000;
const TEST_TIMEOUT_MS = 150_000;

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

interface Layout {
  replicas: Influxd[];
  port: number;
  config: string;
  spoolDir: string;
  relay: RelayProcess;
}

async function layout(): Promise<Layout> {
  const replicas = await Promise.all([startInfluxd(), startInfluxd()]);
  cleanup.push(() => Promise.all(replicas.map((r) => r.stop())));
  await Promise.all(replicas.map((r) => r.createDatabase(DB)));
  const port = await freePort();
  const spoolDir = tempDir();
  const outputs = replicas.map((r, i) => `{ name = "influx${i}", location = "${r.writeUrl}", timeout = "2s", max-delay-interval = "1s" }`);
  const config = writeConfig(`[[http]]\nbind-addr = "127.0.0.1:${port}"\nspool-dir = "${spoolDir}"\noutput = [${outputs.join(", ")}]\n`);
  const setup: Layout = { replicas, port, config, spoolDir, relay: await startRelayProcess(config, port) };
  cleanup.unshift(async () => setup.relay.child.kill("SIGKILL"));
  return setup;
}

const writeUrl = (port: number): string => `http://127.0.0.1:${port}/write?db=${DB}`;

/** Writes BATCHES batches one after another while `faults` runs at chosen points of the load. */
async function load(port: number, faults: (load: LoadProgress) => Promise<void>): Promise<number> {
  const opts = { url: writeUrl(port), maxBatches: BATCHES, pointsPerBatch: POINTS_PER_BATCH, deadlineMs: LOAD_DEADLINE_MS };
  const result = await writeLoad(opts, async (progress) => {
    await faults(progress);
    await progress.reached(BATCHES);
  });
  return result.acked;
}

async function health(port: number): Promise<{ status: string; outputs: Array<{ name: string; queue: { entries: number } }> }> {
  const res = await request(`http://127.0.0.1:${port}/health`);
  return (await res.body.json()) as never;
}

async function waitForDrained(port: number): Promise<void> {
  await waitFor(
    async () => {
      const h = await health(port).catch(() => undefined);
      return h?.status === "ok" && h.outputs.every((o) => o.queue.entries === 0);
    },
    { timeoutMs: 30_000, intervalMs: 100, what: "every queue to drain and every output to be up" },
  );
}

/** Every point on a replica, as "time batch v" lines in time order. */
async function pointsOn(replica: Influxd, measurement = "load"): Promise<string[]> {
  const rows = await replica.points(DB, measurement);
  return rows.map((r) => `${String(r.time)} ${String(r.batch ?? "")} ${String(r.v)}`).sort();
}

async function expectEveryBatchOnBoth(replicas: Influxd[]): Promise<void> {
  const [a, b] = await Promise.all(replicas.map((r) => pointsOn(r)));
  expect(a).toHaveLength(BATCHES * POINTS_PER_BATCH);
  expect(b).toEqual(a);
}

describe("acknowledged writes survive", () => {
  it(
    "kill -9 of one influxd under load, and its restart",
    async () => {
      const { replicas, port } = await layout();
      const acked = await load(port, async (progress) => {
        await progress.reached(BATCHES / 3);
        await replicas[1]!.kill9();
        await progress.reached((2 * BATCHES) / 3);
        await replicas[1]!.restart();
      });
      expect(acked).toBe(BATCHES);
      await waitForDrained(port);
      await expectEveryBatchOnBoth(replicas);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "kill -9 of the relay while it holds a queue, and its restart",
    async () => {
      const setup = await layout();
      const { replicas, port } = setup;
      const acked = await load(port, async (progress) => {
        await progress.reached(BATCHES / 5);
        await replicas[1]!.kill9(); // writes for it now go to the queue on disk
        await progress.reached((2 * BATCHES) / 5);
        setup.relay.child.kill("SIGKILL");
        await setup.relay.exited;
        setup.relay = await startRelayProcess(setup.config, port);
        await progress.reached((4 * BATCHES) / 5);
        await replicas[1]!.restart();
      });
      expect(acked).toBe(BATCHES);
      await waitForDrained(port);
      await expectEveryBatchOnBoth(replicas);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("seed 002's overwrite", () => {
  it(
    "cannot happen: a value written while the replica replays its queue lands after the queued one",
    async () => {
      const { replicas, port } = await layout();
      await replicas[1]!.kill9();
      // A backlog, then X = 1, all queued for the replica that is down.
      for (let batch = 0; batch < 30; batch++) expect(await post(writeUrl(port), batchBody(batch, POINTS_PER_BATCH))).toBe(204);
      expect(await post(writeUrl(port), "x v=1 1700000000000000000")).toBe(204);
      await replicas[1]!.restart();
      // X = 2 as soon as the replica is back, while its queue still has X = 1 in it.
      expect(await post(writeUrl(port), "x v=2 1700000000000000000")).toBe(204);
      await waitForDrained(port);
      for (const replica of replicas) expect(await pointsOn(replica, "x")).toEqual(["1700000000000000000  2"]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("a poison write in the queue", () => {
  it(
    "goes to dead-letter with InfluxDB's answer, and the good writes around it land",
    async () => {
      const { replicas, port, spoolDir } = await layout();
      // The replica already has `cpu v` as an integer, so the float below conflicts there only.
      await request(`${replicas[1]!.writeUrl}?db=${DB}`, { method: "POST", body: "cpu v=1i 1" }).then((r) => r.body.dump());
      await replicas[1]!.kill9();
      expect(await post(writeUrl(port), "mem v=1 1000")).toBe(204);
      expect(await post(writeUrl(port), "cpu v=2.5 2000")).toBe(204);
      expect(await post(writeUrl(port), "mem v=3 3000")).toBe(204);
      await replicas[1]!.restart();
      await waitForDrained(port);
      expect(await pointsOn(replicas[1]!, "mem")).toEqual(["1000  1", "3000  3"]);
      const dead = readFileSync(join(spoolDir, "influx1", "dead-letter.jsonl"), "utf8")
        .trim()
        .split("\n");
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!)).toMatchObject({ query: `db=${DB}`, status: 400, body: "cpu v=2.5 2000" });
      expect(JSON.parse(dead[0]!).answer).toMatch(/field type conflict/);
    },
    TEST_TIMEOUT_MS,
  );
});
