// influx-ha check and repair on the local layout (real influxd, relays and HAProxy): a replica down past the
// queue's max-queue-age comes back out of sync and is repaired, marks cleared on every relay; and a layout
// grown from two replicas to three has its new, empty replica seeded, kept from reads until then.
import { rmSync } from "node:fs";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { LocalLayout } from "../../local/layout.js";
import { planLocalLayout, type LocalPlan } from "../../local/plan.js";
import { influxHa } from "../helpers/influx-ha.js";
import { queriesServed } from "../helpers/influxd-vars.js";
import { freeLayoutPort } from "../helpers/layout-port.js";
import { useLocalLayout } from "../helpers/local-layout.js";
import { waitFor } from "../helpers/ports.js";
import { dumpDatabase } from "../helpers/replica-dump.js";
import { tempDir } from "../helpers/temp.js";

const TEST_TIMEOUT_MS = 150_000;
const MAX_QUEUE_AGE_MS = 2_000;

async function write(url: string, db: string, body: string): Promise<void> {
  const res = await request(`${url}/write?db=${db}`, { method: "POST", body });
  const text = await res.body.text();
  if (res.statusCode !== 204) throw new Error(`write through ${url}: ${res.statusCode} ${text}`);
}

async function statement(url: string, q: string): Promise<void> {
  const res = await request(`${url}/query`, {
    method: "POST",
    body: new URLSearchParams({ q }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`${q}: ${res.statusCode} ${text}`);
}

interface OutputStatus {
  name: string;
  outOfSync?: { reason: string } | null;
  queue: { entries: number };
}

async function outputs(relayUrl: string): Promise<OutputStatus[]> {
  const res = await request(`${relayUrl}/status`);
  return ((await res.body.json()) as { outputs: OutputStatus[] }).outputs;
}

/** `count` points a millisecond apart, ending now. */
const points = (measurement: string, count: number) => {
  const now = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: count }, (_, i) => `${measurement},host=h${i % 3} v=${i}i ${now - BigInt(i) * 1_000_000n}`).join("\n");
};

describe("a replica down longer than max-queue-age, through the local layout", () => {
  const fx = useLocalLayout({ name: "drift", databases: ["telegraf"], queue: { maxQueueAge: `${MAX_QUEUE_AGE_MS}ms` } });

  it(
    "is marked out of sync, shown by check bucket by bucket, repaired, and the marks cleared on every relay",
    async () => {
      const victim = fx.layout.influxd("influxd-1");
      await victim.kill9();
      // Each relay queues a write, then drops the writes after max-queue-age has passed: both mark influxd-1.
      for (const relay of fx.plan.relays) await write(relay.url, "telegraf", points("queued", 10));
      await new Promise((resolve) => setTimeout(resolve, MAX_QUEUE_AGE_MS + 500));
      for (const relay of fx.plan.relays) await write(relay.url, "telegraf", points(`dropped_by_${relay.name.replace("-", "_")}`, 20));
      // Statements are queued past the bounds; the writes into the new database are dropped for influxd-1.
      await statement(
        fx.plan.clientUrl,
        "CREATE DATABASE later; CREATE RETENTION POLICY month ON later DURATION 30d REPLICATION 1 DEFAULT",
      );
      for (const relay of fx.plan.relays) await write(relay.url, "later", points(`late_by_${relay.name.replace("-", "_")}`, 5));
      for (const relay of fx.plan.relays) {
        expect((await outputs(relay.url)).find((o) => o.name === "influxd-1")?.outOfSync?.reason, relay.name).toMatch(/max-queue-age/);
      }

      await victim.restart();
      await waitFor(async () => (await Promise.all(fx.plan.relays.map((r) => outputs(r.url)))).flat().every((o) => o.queue.entries === 0), {
        timeoutMs: 30_000,
        what: "the relays to replay what they queued",
      });
      // What check reports must be older than the writes still being fanned out (it counts again 2 s back).
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const found = await influxHa(["check", "--run-dir", fx.plan.runDir, "--json"]);
      expect(found.code, found.out + found.err).toBe(1);
      const report = JSON.parse(found.out);
      expect(report.schema).toEqual([]);
      expect(
        report.data.map((d: { database: string; measurement: string; points: Record<string, number>; whole: string[] }) => [
          d.database,
          d.measurement,
          d.points,
          d.whole,
        ]),
      ).toEqual([
        ["later", "late_by_relay_0", { "influxd-0": 5, "influxd-1": 0 }, ["influxd-0"]],
        ["later", "late_by_relay_1", { "influxd-0": 5, "influxd-1": 0 }, ["influxd-0"]],
        ["telegraf", "dropped_by_relay_0", { "influxd-0": 20, "influxd-1": 0 }, ["influxd-0"]],
        ["telegraf", "dropped_by_relay_1", { "influxd-0": 20, "influxd-1": 0 }, ["influxd-0"]],
      ]);

      const repaired = await influxHa(["repair", "--run-dir", fx.plan.runDir]);
      expect(repaired.code, repaired.out + repaired.err).toBe(0);
      expect(repaired.out).toContain("DATA: wrote 50 points into influxd-1");
      expect(repaired.out.match(/influxd-1 back in sync/g)).toHaveLength(2);
      for (const relay of fx.plan.relays) {
        expect(
          (await outputs(relay.url)).every((o) => !o.outOfSync),
          relay.name,
        ).toBe(true);
      }
      const [zero, one] = ["influxd-0", "influxd-1"].map((name) => fx.layout.influxd(name));
      for (const db of ["telegraf", "later"]) expect(await dumpDatabase(one!, db)).toEqual(await dumpDatabase(zero!, db));
      const after = await influxHa(["check", "--run-dir", fx.plan.runDir]);
      expect(after.code, after.out).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("a layout grown from two replicas to three", () => {
  it(
    "keeps reads off the new replica, which check shows empty, until repair has seeded it",
    async () => {
      const runDir = tempDir("influx-ha-grow-");
      const port = await freeLayoutPort(3);
      const secrets = { statsPassword: "grow-stats-password", relayAdminToken: "grow-relay-admin-token" };
      const plan = (replicas: number): LocalPlan =>
        planLocalLayout({ port, replicas, runDir, databases: ["telegraf"], watch: false }, secrets);
      const quiet = { info: () => undefined, warn: () => undefined };
      let layout = new LocalLayout(plan(2), quiet, { restart: false });
      try {
        await layout.start();
        const two = plan(2);
        await statement(
          two.clientUrl,
          "CREATE DATABASE extra; CREATE RETENTION POLICY week ON extra DURATION 7d REPLICATION 1 SHARD DURATION 1d",
        );
        await write(two.clientUrl, "telegraf", points("before_growth", 300));
        await write(`${two.clientUrl}`, "extra", points("kept", 10));
        await layout.stop();

        const three = plan(3);
        layout = new LocalLayout(three, quiet, { restart: false });
        await layout.start();
        for (const relay of three.relays) {
          expect((await outputs(relay.url)).find((o) => o.name === "influxd-2")?.outOfSync?.reason, relay.name).toMatch(/a new output/);
        }
        const newUrl = three.replicas[2]!.url;
        const served = await queriesServed(newUrl);
        for (let i = 0; i < 6; i++)
          await request(`${three.clientUrl}/query?db=telegraf&q=SELECT+count(v)+FROM+before_growth`).then((r) => r.body.dump());
        expect(await queriesServed(newUrl)).toBe(served);

        // Clients go on writing into the database the new replica lacks: its writes wait in the relays' queues.
        await write(three.clientUrl, "extra", points("after_growth", 10));
        const found = await influxHa(["check", "--run-dir", runDir, "--json"]);
        expect(found.code).toBe(1);
        const report = JSON.parse(found.out);
        expect(
          report.schema.map((d: { kind: string; database?: string; missingOn: string[] }) => [d.kind, d.database, d.missingOn]),
        ).toEqual([["database", "extra", ["influxd-2"]]]);

        const repaired = await influxHa(["repair", "--run-dir", runDir]);
        expect(repaired.code, repaired.out + repaired.err).toBe(0);
        const replicas = three.replicas.map((r) => layout.influxd(r.name));
        for (const db of ["telegraf", "extra"]) {
          const expected = await dumpDatabase(replicas[0]!, db);
          expect(expected.length).toBeGreaterThan(0);
          for (const replica of replicas.slice(1)) expect(await dumpDatabase(replica, db)).toEqual(expected);
        }
        for (const relay of three.relays)
          expect(
            (await outputs(relay.url)).every((o) => !o.outOfSync),
            relay.name,
          ).toBe(true);
        // Once every relay has heard from its peers again, reads reach the new replica too.
        await waitFor(
          async () => {
            for (let i = 0; i < 3; i++)
              await request(`${three.clientUrl}/query?db=telegraf&q=SELECT+count(v)+FROM+before_growth`).then((r) => r.body.dump());
            return (await queriesServed(newUrl)) > served;
          },
          { timeoutMs: 20_000, what: "a read to reach the seeded replica" },
        );
      } finally {
        await layout.stop();
        rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
    TEST_TIMEOUT_MS,
  );
});
