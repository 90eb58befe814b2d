// influx-ha check and repair against two real influxd: check finds nothing between equal replicas and exactly
// the bucket of one deleted point; repair rebuilds a wiped replica (schema, every point, every field type, names
// full of spaces, commas and =), finishes what a repair killed with -9 left, and leaves conflicting values alone
// unless told which replica to prefer.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatLine } from "../../drift/line-protocol.js";
import { influxHa, type InfluxHaResult } from "../helpers/influx-ha.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { typedPoint } from "../helpers/line-points.js";
import { dumpDatabase } from "../helpers/replica-dump.js";
import { waitFor } from "../helpers/ports.js";

const TEST_TIMEOUT_MS = 120_000;
let a: Influxd;
let b: Influxd;

beforeAll(async () => {
  [a, b] = await Promise.all([startInfluxd(), startInfluxd()]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** influx-ha against the two replicas. */
function drift(command: string, ...rest: string[]): Promise<InfluxHaResult> {
  return influxHa([command, "--replica", `a=${a.url}`, "--replica", `b=${b.url}`, ...rest]);
}

async function post(url: string, q: string, db?: string): Promise<void> {
  const res = await fetch(`${url}/query${db ? `?db=${encodeURIComponent(db)}` : ""}`, { method: "POST", body: new URLSearchParams({ q }) });
  const text = await res.text();
  if (res.status !== 200 || text.includes('"error"')) throw new Error(`${q}: ${res.status} ${text}`);
}

async function write(url: string, db: string, body: string, rp?: string): Promise<void> {
  const res = await fetch(`${url}/write?${new URLSearchParams({ db, precision: "ns", ...(rp ? { rp } : {}) })}`, { method: "POST", body });
  if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`);
}

describe("influx-ha check against real influxd", () => {
  it(
    "finds nothing between equal replicas, then exactly the bucket of one deleted point, as a table and as JSON",
    async () => {
      const body = Array.from(
        { length: 200 },
        (_, i) => `cpu,host=h${i % 4} v=${i},n=${i}i ${1_700_000_000_000_000_000n + BigInt(i) * 3_600_000_000_000n}`,
      ).join("\n");
      for (const r of [a, b]) {
        await post(r.url, "CREATE DATABASE same");
        await write(r.url, "same", body);
      }
      const clean = await drift("check", "--db", "same");
      expect(clean.code, clean.out + clean.err).toBe(0);
      expect(clean.out).toContain("No drift: the replicas match.");

      // Hour 150 is in the week from 2023-11-16 (weeks from the epoch start on Thursdays, as influxd aligns shard groups).
      await post(b.url, `DELETE FROM cpu WHERE time = ${1_700_000_000_000_000_000n + 150n * 3_600_000_000_000n}`, "same");
      const found = await drift("check", "--db", "same", "--json");
      expect(found.code).toBe(1);
      const report = JSON.parse(found.out);
      expect(report.data).toEqual([
        expect.objectContaining({
          database: "same",
          retentionPolicy: "autogen",
          measurement: "cpu",
          from: "2023-11-16T00:00:00Z",
          to: "2023-11-23T00:00:00Z",
          points: { a: 168, b: 167 },
          whole: ["a"],
        }),
      ]);
      const hourly = await drift("check", "--db", "same", "--bucket", "1h", "--json");
      expect(JSON.parse(hourly.out).data.map((d: { from: string }) => d.from)).toEqual(["2023-11-21T04:00:00Z"]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("influx-ha repair against real influxd", () => {
  it(
    "rebuilds a replica whose disk was lost: databases, policies, continuous queries, every point and field type",
    async () => {
      await post(a.url, 'CREATE DATABASE "odd db"');
      await post(a.url, 'CREATE RETENTION POLICY "two weeks" ON "odd db" DURATION 14d REPLICATION 1 SHARD DURATION 1d DEFAULT');
      await post(
        a.url,
        'CREATE CONTINUOUS QUERY "cq hourly" ON "odd db" BEGIN SELECT mean(v) INTO "odd db"."two weeks".hourly FROM cpu GROUP BY time(1h) END',
      );
      await post(a.url, "CREATE USER reader WITH PASSWORD 'r3ader-pass'");
      const now = BigInt(Date.now()) * 1_000_000n;
      const points = fc.sample(typedPoint, { numRuns: 300, seed: 42 });
      const lines = points.map((p, i) =>
        formatLine(
          {
            measurement: p.measurement,
            tags: p.tags,
            fields: new Map(p.fields.map(([name, [, value]]) => [`${name}${i}`, value])),
            time: now - BigInt(i) * 1_000_000_000n,
          },
          new Map(p.fields.map(([name, [type]]) => [`${name}${i}`, type])),
        ),
      );
      await write(a.url, "odd db", lines.join("\n"));
      await write(a.url, "odd db", 'cpu,host=a\\ b v=1.5,n=9223372036854775807i,s="say \\"hi\\"",ok=true ' + now);
      // The lost disk: replica b comes back empty.
      await b.kill9();
      for (const part of ["data", "meta", "wal"]) rmSync(join(b.dir, part), { recursive: true, force: true });
      await b.restart();

      const result = await drift("repair");
      expect(result.code, result.out + result.err).toBe(1); // the user cannot be copied: it is left to the operator
      expect(result.out).toContain('on b: CREATE DATABASE "odd db"');
      expect(result.out).toContain('BY HAND: user "reader" is missing on b');
      expect(result.out).toContain(`CREATE USER "reader" WITH PASSWORD '<password>'`);
      expect(result.out).toMatch(/after: DRIFT: 1 schema difference\.\n$/);
      expect(await dumpDatabase(b, "odd db")).toEqual(await dumpDatabase(a, "odd db"));
      expect(await dumpDatabase(b, "same")).toEqual(await dumpDatabase(a, "same"));
      const cqs = async (r: Influxd) =>
        JSON.stringify(
          ((await r.query("SHOW CONTINUOUS QUERIES")).results[0].series as Array<{ name: string }>).sort((x, y) =>
            x.name.localeCompare(y.name),
          ),
        );
      expect(await cqs(b)).toEqual(await cqs(a));
      // As a set: SHOW RETENTION POLICIES lists them in the order they were made.
      const policies = async (r: Influxd) =>
        JSON.stringify(((await r.query('SHOW RETENTION POLICIES ON "odd db"')).results[0].series[0].values as string[][]).sort());
      expect(await policies(b)).toEqual(await policies(a));

      await post(b.url, "CREATE USER reader WITH PASSWORD 'r3ader-pass'");
      const again = await drift("check");
      expect(again.code, again.out).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "creates a missing database with the default policy it has elsewhere, and leaves the healthy replica's policies as they are",
    async () => {
      await post(a.url, 'CREATE DATABASE monthly WITH DURATION 30d REPLICATION 1 SHARD DURATION 1d NAME "month"');
      await write(a.url, "monthly", `m v=1 ${BigInt(Date.now() - 60_000) * 1_000_000n}`);
      const policies = async (r: Influxd) => JSON.stringify((await r.query("SHOW RETENTION POLICIES ON monthly")).results[0].series);
      const before = await policies(a);
      const result = await drift("repair", "--db", "monthly");
      expect(result.out).toContain('on b: CREATE DATABASE "monthly" WITH DURATION 30d REPLICATION 1 SHARD DURATION 1d NAME "month"');
      expect(result.out).not.toContain("autogen");
      expect(await policies(a)).toBe(before);
      expect(await policies(b)).toBe(before);
      expect(await dumpDatabase(b, "monthly")).toEqual(await dumpDatabase(a, "monthly"));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "ends with equal replicas when run again after a repair killed with -9 halfway",
    async () => {
      await post(a.url, "CREATE DATABASE halfway");
      const body = (from: number) =>
        Array.from({ length: 5_000 }, (_, i) => `m,k=${(from + i) % 50} v=${from + i}i ${BigInt(from + i) * 1_000_000_000n}`).join("\n");
      for (let n = 0; n < 8; n++) await write(a.url, "halfway", body(n * 5_000));
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          new URL("../../drift/main.ts", import.meta.url).pathname,
          "repair",
          "--replica",
          `a=${a.url}`,
          "--replica",
          `b=${b.url}`,
          "--db",
          "halfway",
          "--rate",
          "8000",
        ],
        { stdio: "ignore" },
      );
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await waitFor(
        async () =>
          Number((await b.query("SELECT count(v) FROM m", "halfway").catch(() => undefined))?.results[0].series?.[0]?.values[0][1] ?? 0) >=
          10_000,
        {
          timeoutMs: 60_000,
          what: "the first repair to write some of the points",
        },
      );
      child.kill("SIGKILL");
      await exited;
      const copied = Number((await b.query("SELECT count(v) FROM m", "halfway")).results[0].series[0].values[0][1]);
      expect(copied).toBeLessThan(40_000);
      const rerun = await drift("repair", "--db", "halfway");
      expect(rerun.code, rerun.out + rerun.err).toBe(0);
      expect(await dumpDatabase(b, "halfway")).toEqual(await dumpDatabase(a, "halfway"));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "copies what each side lacks, leaves a value the replicas hold differently alone, and settles it only with --prefer",
    async () => {
      for (const r of [a, b]) await post(r.url, "CREATE DATABASE clash");
      await write(a.url, "clash", "m v=1 1\nm v=2 2\nm w=5 3");
      await write(b.url, "clash", "m v=1 1\nm v=20 2\nm v=3 3\nm v=4 4");
      const left = await drift("repair", "--db", "clash");
      expect(left.code).toBe(1);
      expect(left.out).toContain("CONFLICTS: 1 values differ between replicas");
      expect(left.out).toContain("clash.autogen m 1970-01-01T00:00:00.000000002Z v: a=2 b=20");
      const both = async (r: Influxd) => JSON.stringify((await r.query("SELECT * FROM m", "clash")).results[0].series[0].values);
      expect(await both(a)).toBe(
        JSON.stringify([
          [1, 1, null],
          [2, 2, null],
          [3, 3, 5],
          [4, 4, null],
        ]),
      );
      expect(await both(b)).toBe(
        JSON.stringify([
          [1, 1, null],
          [2, 20, null],
          [3, 3, 5],
          [4, 4, null],
        ]),
      );

      // The counts now agree: only --deep's digests see the value that differs.
      const counted = await drift("check", "--db", "clash");
      expect(counted.code, counted.out).toBe(0);
      const settled = await drift("repair", "--db", "clash", "--deep", "--prefer", "b");
      expect(settled.code, settled.out).toBe(0);
      expect(await both(a)).toBe(await both(b));
      expect(await both(a)).toContain("[2,20,null]");
    },
    TEST_TIMEOUT_MS,
  );
});
