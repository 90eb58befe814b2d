// The whole InfluxDB API through the local layout, end to end with real processes: Debian's haproxy,
// our two relays, two Debian influxd. Schema, users, continuous queries and deletes reach both
// replicas, in order with the writes, even across a replica killed -9; reads never go to a replica
// that a relay is behind on or has out of sync; Debian's influx CLI runs its usual flow. Each result
// is checked on each replica directly.
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { findBinary } from "../../local/tools.js";
import { STALE_HEADER } from "../../relay/query.js";
import { queriesServed } from "../helpers/influxd-vars.js";
import { useLocalLayout } from "../helpers/local-layout.js";
import { waitFor } from "../helpers/ports.js";

const TEST_TIMEOUT_MS = 120_000;

const fx = useLocalLayout({ name: "api", databases: ["telegraf"] });

type Results = Array<{ error?: string; series?: Array<{ name: string; columns: string[]; values: unknown[][] }> }>;

/** A statement through the client endpoint, by POST as clients send them; fails on any error in the answer. */
async function statement(q: string, db?: string): Promise<void> {
  const res = await request(`${fx.plan.clientUrl}/query${db ? `?db=${db}` : ""}`, {
    method: "POST",
    body: new URLSearchParams({ q }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  const text = await res.body.text();
  expect(res.statusCode, `${q}: ${text}`).toBe(200);
  expect(
    (JSON.parse(text) as { results: Results }).results.every((r) => r.error === undefined),
    `${q}: ${text}`,
  ).toBe(true);
}

async function write(db: string, body: string, via = fx.plan.clientUrl, rp?: string): Promise<void> {
  const res = await request(`${via}/write?${new URLSearchParams({ db, ...(rp ? { rp } : {}) })}`, { method: "POST", body });
  expect(res.statusCode, await res.body.text()).toBe(204);
}

/** A read's results, from `url` (a replica, a relay or the client endpoint), with the answer's stale header. */
async function read(url: string, q: string, db?: string): Promise<{ results: Results; stale: string | undefined }> {
  const res = await request(`${url}/query?${new URLSearchParams({ q, ...(db ? { db } : {}) })}`);
  const text = await res.body.text();
  expect(res.statusCode, text).toBe(200);
  const stale = res.headers[STALE_HEADER];
  return { results: (JSON.parse(text) as { results: Results }).results, stale: typeof stale === "string" ? stale : undefined };
}

/** The first column of every row of the first statement's first series, sorted. */
async function column(url: string, q: string, db?: string): Promise<string[]> {
  const { results } = await read(url, q, db);
  return (results[0]?.series?.[0]?.values ?? []).map((row) => String(row[0])).sort();
}

async function countOf(url: string, db: string, from: string): Promise<number> {
  const { results } = await read(url, `SELECT count(v) FROM ${from}`, db);
  return Number(results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

const replicaUrls = (): string[] => fx.plan.replicas.map((r) => r.url);

/** Bounded wait until no relay holds anything for any replica, nor sees a peer that does. */
async function waitForRelaysInSync(): Promise<void> {
  await waitFor(
    async () => {
      for (const relay of fx.plan.relays) {
        const res = await request(`${relay.url}/status`);
        const status = (await res.body.json()) as {
          outputs: Array<{ behind: boolean }>;
          peers: Array<{ behind: string[] }>;
          fencedByPeers: string[];
        };
        // A relay routes reads by its peers' state as it last polled them, and by their fences, so those must be clear too.
        if (status.outputs.some((o) => o.behind) || status.peers.some((p) => p.behind.length > 0) || status.fencedByPeers.length > 0) {
          return false;
        }
      }
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: "every relay, and its view of its peers, to hold nothing for any replica" },
  );
}

describe("the whole InfluxDB API through the local layout", () => {
  it("creates a database on every replica, and a write into it answers 204 and lands on both", async () => {
    await statement("CREATE DATABASE newdb");
    for (const url of replicaUrls()) expect(await column(url, "SHOW DATABASES"), url).toContain("newdb");
    await write("newdb", "cpu,host=a v=1 1700000000000000000");
    await waitFor(async () => (await Promise.all(replicaUrls().map((url) => countOf(url, "newdb", "cpu")))).every((n) => n === 1), {
      timeoutMs: 10_000,
      what: "the point on both replicas",
    });
  });

  it(
    "brings a replica killed -9 back to the same schema and data: a database, writes, a retention policy, a DROP MEASUREMENT queued behind writes to it and a DELETE with now()",
    async () => {
      const victim = fx.layout.influxd("influxd-1");
      await victim.kill9();
      await statement("CREATE DATABASE down_db");
      // Recent points: the week's retention policy takes nothing older than a week.
      const base = BigInt(Date.now() - 3_600_000) * 1_000_000n;
      const points = (measurement: string, from: number, count: number) =>
        Array.from({ length: count }, (_, i) => `${measurement},host=h v=${from + i} ${base + BigInt((from + i) * 1_000_000)}`).join("\n");
      // Through HAProxy, so the requests go to both relays in turn: the DROP must still follow every write before it.
      for (let batch = 0; batch < 4; batch++) await write("down_db", points("gone", batch * 100, 100));
      await write("down_db", points("kept", 0, 100));
      await statement("CREATE RETENTION POLICY week ON down_db DURATION 7d REPLICATION 1");
      await write("down_db", points("inweek", 0, 10), fx.plan.clientUrl, "week");
      await statement("DROP MEASUREMENT gone", "down_db");
      // now() is pinned to when the relay took the DELETE: the replica that applies it later deletes the same.
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      await write("down_db", `aged v=1 ${nowNs - 7_200_000_000_000n}\naged v=2 ${nowNs}`);
      await statement("DELETE FROM aged WHERE time < now() - 90m", "down_db");
      await write("down_db", points("after", 0, 5));

      await victim.restart();
      await waitForRelaysInSync();
      const [a, b] = replicaUrls() as [string, string];
      for (const q of ["SHOW DATABASES", "SHOW RETENTION POLICIES ON down_db", "SHOW MEASUREMENTS ON down_db"]) {
        expect(await column(b, q), q).toEqual(await column(a, q));
      }
      expect(await column(b, "SHOW MEASUREMENTS ON down_db")).toEqual(["after", "aged", "inweek", "kept"]);
      expect(await column(b, "SHOW RETENTION POLICIES ON down_db")).toEqual(["autogen", "week"]);
      for (const url of [a, b]) {
        expect(await countOf(url, "down_db", "kept"), url).toBe(100);
        expect(await countOf(url, "down_db", "after"), url).toBe(5);
        expect(await countOf(url, "down_db", '"week"."inweek"'), url).toBe(10);
        expect(await countOf(url, "down_db", "gone"), url).toBe(0);
        expect(await countOf(url, "down_db", "aged"), url).toBe(1);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "sends no read to a replica while either relay is behind on it, and spreads reads over both again once it has caught up",
    async () => {
      const victim = fx.layout.influxd("influxd-1");
      const [, behindRelay] = fx.plan.relays as [unknown, { url: string }];
      await statement("CREATE DATABASE lag");
      await victim.kill9();
      // A backlog on relay-1 only, whose last write is the one point the lagging replica could be missing.
      const batch = (n: number) => Array.from({ length: 1_000 }, (_, i) => `fill v=${i} ${n * 1_000 + i + 1}`).join("\n");
      for (let n = 0; n < 50; n++) await write("lag", batch(n), behindRelay.url);
      await write("lag", "marker v=1 1", behindRelay.url);
      await victim.restart();

      let readsWhileBehind = 0;
      const deadline = Date.now() + 60_000;
      for (let i = 0; Date.now() < deadline; i++) {
        const behind = await fetchBehind(behindRelay.url);
        const via = [fx.plan.clientUrl, ...fx.plan.relays.map((r) => r.url)][i % 3]!;
        const { results, stale } = await read(via, "SELECT count(v) FROM marker", "lag");
        expect(stale, via).toBeUndefined();
        expect(results[0]?.series?.[0]?.values[0]?.[1], `read ${i} through ${via}`).toBe(1);
        if (!behind) break;
        readsWhileBehind++;
      }
      expect(readsWhileBehind).toBeGreaterThan(0);
      await waitForRelaysInSync();
      const before = await queriesServed(fx.plan.replicas[1]!.url);
      for (let i = 0; i < 6; i++) await read(fx.plan.clientUrl, "SELECT count(v) FROM marker", "lag");
      expect(await queriesServed(fx.plan.replicas[1]!.url)).toBeGreaterThan(before);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "sends no read to a replica a relay has marked out of sync, through either relay",
    async () => {
      const marking = fx.plan.relays[0]!;
      const marker = join(fx.plan.topology.relays[0]!.spoolDir, "influxd-1", "OUT-OF-SYNC");
      writeFileSync(marker, `${JSON.stringify({ since: new Date().toISOString(), reason: "set by the test" })}\n`);
      await fx.layout.restartRelays([marking.name]);
      await waitFor(async () => (await fetchBehindAtPeer(fx.plan.relays[1]!.url)).includes("influxd-1"), {
        timeoutMs: 10_000,
        what: "relay-1 to learn relay-0's out-of-sync mark",
      });
      const before = await queriesServed(fx.plan.replicas[1]!.url);
      for (let i = 0; i < 6; i++) {
        const via = [fx.plan.clientUrl, ...fx.plan.relays.map((r) => r.url)][i % 3]!;
        expect((await read(via, "SHOW DATABASES")).stale, via).toBeUndefined();
      }
      expect(await queriesServed(fx.plan.replicas[1]!.url)).toBe(before);
      rmSync(marker);
      await fx.layout.restartRelays([marking.name]);
      await waitFor(async () => (await fetchBehindAtPeer(fx.plan.relays[1]!.url)).length === 0, {
        timeoutMs: 10_000,
        what: "relay-1 to see the mark gone",
      });
    },
    TEST_TIMEOUT_MS,
  );

  it("creates users, grants and a continuous query on both replicas", async () => {
    await statement("CREATE DATABASE metrics");
    await statement("CREATE USER reader WITH PASSWORD 'r3ader-pass'; GRANT READ ON metrics TO reader");
    await statement(
      "CREATE CONTINUOUS QUERY cq_hourly ON metrics BEGIN SELECT mean(v) INTO metrics.autogen.hourly FROM cpu GROUP BY time(1h) END",
    );
    for (const url of replicaUrls()) {
      expect(await column(url, "SHOW USERS"), url).toContain("reader");
      const grants = (await read(url, "SHOW GRANTS FOR reader")).results[0]?.series?.[0]?.values;
      expect(grants, url).toEqual([["metrics", "READ"]]);
      const cqs = (await read(url, "SHOW CONTINUOUS QUERIES")).results[0]?.series?.find((s) => s.name === "metrics")?.values;
      expect(
        cqs?.map((row) => row[0]),
        url,
      ).toEqual(["cq_hourly"]);
    }
  });

  it("runs Debian's influx CLI through the endpoint: create, retention policy, insert, select, drop", async () => {
    const influx = findBinary("influx");
    expect(influx, "Debian's influxdb-client (the influx CLI) is installed by the test setup").toBeDefined();
    const run = async (...args: string[]): Promise<string> => {
      const { stdout } = await promisify(execFile)(influx!, ["-host", "127.0.0.1", "-port", new URL(fx.plan.clientUrl).port, ...args], {
        timeout: 20_000,
      });
      return stdout;
    };
    await run("-execute", "CREATE DATABASE clidb");
    await run("-execute", "CREATE RETENTION POLICY month ON clidb DURATION 30d REPLICATION 1 DEFAULT");
    const at = String(BigInt(Date.now()) * 1_000_000n); // within the month's retention
    await run("-database", "clidb", "-execute", `INSERT temperature,room=kitchen c=21.5 ${at}`);
    for (const url of replicaUrls()) {
      expect(await column(url, "SHOW RETENTION POLICIES ON clidb"), url).toEqual(["autogen", "month"]);
      await waitFor(async () => (await countOfField(url, "clidb", "temperature")) === 1, {
        timeoutMs: 10_000,
        what: `the point on ${url}`,
      });
    }
    expect(await run("-database", "clidb", "-format", "csv", "-execute", "SELECT c FROM temperature")).toBe(
      `name,time,c\ntemperature,${at},21.5\n`,
    );
    await run("-database", "clidb", "-execute", "DROP MEASUREMENT temperature");
    for (const url of replicaUrls()) expect(await column(url, "SHOW MEASUREMENTS ON clidb"), url).toEqual([]);
    await run("-execute", "DROP DATABASE clidb");
    for (const url of replicaUrls()) expect(await column(url, "SHOW DATABASES"), url).not.toContain("clidb");
  });
});

async function countOfField(url: string, db: string, measurement: string): Promise<number> {
  const { results } = await read(url, `SELECT count(c) FROM ${measurement}`, db);
  return Number(results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/** Whether the relay holds anything for any replica. */
async function fetchBehind(relayUrl: string): Promise<boolean> {
  const res = await request(`${relayUrl}/status`);
  return ((await res.body.json()) as { outputs: Array<{ behind: boolean }> }).outputs.some((o) => o.behind);
}

/** The replicas a relay's peers hold back, as the relay last heard. */
async function fetchBehindAtPeer(relayUrl: string): Promise<string[]> {
  const res = await request(`${relayUrl}/status`);
  return ((await res.body.json()) as { peers: Array<{ behind: string[] }> }).peers.flatMap((p) => p.behind);
}
