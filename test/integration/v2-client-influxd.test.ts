// A v2 client (the npm @influxdata/influxdb-client, its WriteApi) writing through the relay to two real
// influxd 1.6, which have no /api/v2/write: the relay sends each request to their /write ("auto" learns
// their version), bucket "db/rp" as db and rp, the v2 precisions as v1's, and "Token user:password" as
// Basic credentials. Auth is on, so the credentials must really arrive; every point is read back from each
// replica directly.
import { HttpError, InfluxDB, Point, setLogger, type WritePrecisionType } from "@influxdata/influxdb-client";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRelay } from "../../relay/relay.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { startRelayOverInfluxd } from "../helpers/relay-over-influxd.js";

const ADMIN = "admin";
const PASSWORD = "pa:ss w0rd"; // a ':' and a space: Basic takes the password whole
const DB = "v2db";

let replicas: Influxd[] = [];
let relay: RunningRelay;
let relayUrl: string;

/** InfluxQL on one replica as the admin, straight to it; throws on any error. */
async function influxql(replica: Influxd, q: string, params: Record<string, string> = {}): Promise<any> {
  const res = await request(`${replica.url}/query`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(`${ADMIN}:${PASSWORD}`) },
    body: new URLSearchParams({ q, ...params }).toString(),
  });
  const answer = (await res.body.json()) as any;
  const error = answer.error ?? answer.results?.find((r: { error?: string }) => r.error)?.error;
  if (res.statusCode !== 200 || error) throw new Error(`${q}: HTTP ${res.statusCode}: ${error}`);
  return answer;
}

/** [time in seconds, tag host, field v] of every point of `measurement` in `rp`, as one replica has them. */
async function pointsOn(replica: Influxd, rp: string, measurement: string): Promise<unknown[][]> {
  const answer = await influxql(replica, `SELECT "host", "v" FROM "${rp}"."${measurement}"`, { db: DB, epoch: "s" });
  return answer.results[0].series?.[0]?.values ?? [];
}

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials).toString("base64")}`;
}

beforeAll(async () => {
  replicas = await Promise.all([startInfluxd({ authEnabled: true }), startInfluxd({ authEnabled: true })]);
  for (const replica of replicas) {
    // influxd takes the first admin user without credentials.
    const created = await request(`${replica.url}/query`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ q: `CREATE USER "${ADMIN}" WITH PASSWORD '${PASSWORD}' WITH ALL PRIVILEGES` }).toString(),
    });
    expect(created.statusCode, await created.body.text()).toBe(200);
    await influxql(replica, `CREATE DATABASE "${DB}"`);
    await influxql(replica, `CREATE RETENTION POLICY "week" ON "${DB}" DURATION 7d REPLICATION 1`);
  }
  ({ relay, url: relayUrl } = await startRelayOverInfluxd(replicas));
  // The client logs every failed write to the console; the tests look at the errors themselves.
  setLogger({ error: () => undefined, warn: () => undefined });
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await Promise.all(replicas.map((r) => r.stop()));
});

/** Writes the points with the real client and waits for its flush; rejects with the client's error. */
async function clientWrite(token: string | undefined, org: string, bucket: string, precision: WritePrecisionType, points: Point[]) {
  const client = new InfluxDB({ url: relayUrl, ...(token === undefined ? {} : { token }), timeout: 10_000 });
  const writeApi = client.getWriteApi(org, bucket, precision, { maxRetries: 0, batchSize: 10_000, flushInterval: 0 });
  writeApi.writePoints(points);
  try {
    await writeApi.flush();
  } finally {
    await writeApi.close().catch(() => undefined);
  }
}

describe("@influxdata/influxdb-client through the relay to two influxd 1.6", () => {
  it('writes to bucket "db/rp" with each v2 precision, and both replicas hold every point at the right time', async () => {
    const token = `${ADMIN}:${PASSWORD}`;
    // Within the policy's 7 days, on whole seconds, so each precision's digits name the same second.
    const second = Math.floor(Date.now() / 1000) - 3600;
    const cases: Array<[WritePrecisionType, (s: number) => string]> = [
      ["s", (s) => `${s}`],
      ["ms", (s) => `${s}000`],
      ["us", (s) => `${s}000000`],
      ["ns", (s) => `${s}000000000`],
    ];
    for (const [i, [precision, digits]] of cases.entries()) {
      const point = new Point("prec")
        .tag("host", precision)
        .floatField("v", 1.5)
        .timestamp(digits(second + i));
      await clientWrite(token, "any-org", `${DB}/week`, precision, [point]);
    }
    for (const replica of replicas) {
      expect(await pointsOn(replica, "week", "prec")).toEqual(cases.map(([precision], i) => [second + i, precision, 1.5]));
      expect(await pointsOn(replica, "autogen", "prec")).toEqual([]);
    }
  });

  it('writes to bucket "db" (no policy: the database\'s default), with org "", 500 points in one gzipped request', async () => {
    const base = 1_700_000_100;
    const points = Array.from({ length: 500 }, (_, i) =>
      new Point("bulk")
        .tag("host", `h${i % 7}`)
        .intField("v", i)
        .timestamp(base + i),
    );
    await clientWrite(`${ADMIN}:${PASSWORD}`, "", DB, "s", points);
    const [first, second] = await Promise.all(replicas.map((r) => pointsOn(r, "autogen", "bulk")));
    expect(first).toHaveLength(500);
    expect(second).toEqual(first);
    expect(first![0]).toEqual([base, "h0", 0]);
    expect(first![499]).toEqual([base + 499, `h${499 % 7}`, 499]);
    for (const replica of replicas) expect(await pointsOn(replica, "week", "bulk")).toEqual([]);
  });

  it("gets influxd's 401 for a wrong password, a token that is not user:password, and no token; nothing is stored or queued", async () => {
    const attempts: Array<[string, string | undefined]> = [
      ["a wrong password", `${ADMIN}:wrong`],
      ["a token without ':'", "0123456789abcdef"],
      ["no token", undefined],
    ];
    for (const [what, token] of attempts) {
      const error = await clientWrite(token, "", `${DB}/week`, "s", [new Point("denied").floatField("v", 1).timestamp("1700000200")]).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, what).toBeInstanceOf(HttpError);
      expect((error as HttpError).statusCode, what).toBe(401);
      expect((error as HttpError).body, what).toMatch(/authorization failed|unable to parse authentication credentials/);
    }
    for (const replica of replicas) expect(await pointsOn(replica, "week", "denied")).toEqual([]);
    const health = (await (await request(`${relayUrl}/health`)).body.json()) as {
      status: string;
      outputs: Array<{ queue: { entries: number } }>;
    };
    expect(health.status).toBe("ok");
    expect(health.outputs.map((o) => o.queue.entries)).toEqual([0, 0]);
  });
});
