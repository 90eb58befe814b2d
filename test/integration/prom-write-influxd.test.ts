// Prometheus remote write through the relay to two real influxd 1.6: each stores every series as its own
// /api/v1/prom/write does (measurement = __name__, field "value", tags = the labels, __name__ among them);
// a replica killed -9 gets the remote writes it missed from the queue, in order with the line-protocol
// writes around them; and a body that does not decode is refused by the relay and reaches no replica.
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { promWritesServed } from "../helpers/influxd-vars.js";
import { waitFor } from "../helpers/ports.js";
import { startRelayOverInfluxd, type RelayOverInfluxd } from "../helpers/relay-over-influxd.js";
import { REMOTE_WRITE_HEADERS } from "../../relay/prompb.js";
import { remoteWriteBody, type Series } from "../helpers/remote-write.js";

const DB = "prom";
const T0 = 1_700_000_000_000; // ms
const NS_PER_MS = 1_000_000n;
const TEST_TIMEOUT_MS = 120_000;

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

async function layout(): Promise<{ replicas: Influxd[]; relay: RelayOverInfluxd }> {
  const replicas = await Promise.all([startInfluxd(), startInfluxd()]);
  cleanup.push(() => Promise.all(replicas.map((r) => r.stop())));
  await Promise.all(replicas.map((r) => r.createDatabase(DB)));
  const relay = await startRelayOverInfluxd(replicas);
  cleanup.unshift(() => relay.relay.close());
  return { replicas, relay };
}

async function post(url: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<[number, string]> {
  const res = await request(url, { method: "POST", body, headers });
  return [res.statusCode, await res.body.text()];
}

const promWrite = (relay: RelayOverInfluxd, series: readonly Series[]) =>
  post(`${relay.url}/api/v1/prom/write?db=${DB}`, remoteWriteBody(series), REMOTE_WRITE_HEADERS);
const lineWrite = (relay: RelayOverInfluxd, lines: string) => post(`${relay.url}/write?db=${DB}&precision=ms`, lines);

/** Every point of `measurement` on a replica as "time tags… value", sorted. */
async function pointsOn(replica: Influxd, measurement: string): Promise<string[]> {
  const rows = await replica.points(DB, measurement);
  return rows
    .map((row) => {
      const { time, value, ...tags } = row;
      const tagText = Object.entries(tags)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}=${String(v)}`)
        .sort()
        .join(",");
      return `${String(time)} ${tagText} ${String(value)}`;
    })
    .sort();
}

const ns = (ms: number): string => String(BigInt(ms) * NS_PER_MS);

async function waitForDrained(relay: RelayOverInfluxd): Promise<void> {
  await waitFor(
    async () => {
      const health = (await (await request(`${relay.url}/health`)).body.json()) as {
        status: string;
        outputs: Array<{ queue: { entries: number } }>;
      };
      return health.status === "ok" && health.outputs.every((o) => o.queue.entries === 0);
    },
    { timeoutMs: 60_000, intervalMs: 100, what: "every queue to drain and every output to be up" },
  );
}

describe("Prometheus remote write through the relay to two real influxd", () => {
  it(
    "stores every series on both replicas as influxd's /api/v1/prom/write does",
    async () => {
      const { replicas, relay } = await layout();
      const series: Series[] = [
        {
          labels: { __name__: "http_requests_total", job: "api", code: "200" },
          samples: [
            [10, T0],
            [12, T0 + 15_000],
            [15, T0 + 30_000],
          ],
        },
        { labels: { __name__: "up", job: "api", instance: "h:9100" }, samples: [[1, T0]] },
      ];
      expect(await promWrite(relay, series)).toEqual([204, ""]);
      for (const replica of replicas) {
        expect(await pointsOn(replica, "http_requests_total")).toEqual([
          `${ns(T0)} __name__=http_requests_total,code=200,job=api 10`,
          `${ns(T0 + 15_000)} __name__=http_requests_total,code=200,job=api 12`,
          `${ns(T0 + 30_000)} __name__=http_requests_total,code=200,job=api 15`,
        ]);
        expect(await pointsOn(replica, "up")).toEqual([`${ns(T0)} __name__=up,instance=h:9100,job=api 1`]);
        const fields = await replica.query("SHOW FIELD KEYS", DB);
        expect(fields.results[0].series.map((s: { name: string; values: string[][] }) => [s.name, s.values])).toEqual([
          ["http_requests_total", [["value", "float"]]],
          ["up", [["value", "float"]]],
        ]);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "queues for a replica killed -9 and replays in order with the line-protocol writes around it: every acknowledged sample on both",
    async () => {
      const { replicas, relay } = await layout();
      const batch = (n: number): Series[] => [
        {
          labels: { __name__: "load", batch: String(n) },
          samples: Array.from({ length: 20 }, (_, i) => [n * 100 + i, T0 + i * 1_000] as const),
        },
      ];
      const order = (value: number, at: number): Series[] => [{ labels: { __name__: "order", job: "api" }, samples: [[value, at]] }];
      const orderLine = (value: number, at: number) => `order,__name__=order,job=api value=${value} ${at}`;
      expect((await promWrite(relay, batch(0)))[0]).toBe(204);

      await replicas[1]!.kill9();
      for (let n = 1; n <= 10; n++) expect((await promWrite(relay, batch(n)))[0]).toBe(204);
      // The same point written by turns through both endpoints: only the order of replay decides what stays.
      expect((await promWrite(relay, order(1, T0)))[0]).toBe(204);
      expect((await lineWrite(relay, orderLine(2, T0)))[0]).toBe(204);
      expect((await lineWrite(relay, orderLine(5, T0 + 1)))[0]).toBe(204);
      expect((await promWrite(relay, order(6, T0 + 1)))[0]).toBe(204);
      const status = (await (await request(`${relay.url}/status`)).body.json()) as { outputs: Array<{ queue: { entries: number } }> };
      expect(status.outputs[1]!.queue.entries).toBe(14);

      await replicas[1]!.restart();
      await waitForDrained(relay);
      const expectedLoad = Array.from({ length: 11 }, (_, n) =>
        Array.from({ length: 20 }, (_, i) => `${ns(T0 + i * 1_000)} __name__=load,batch=${n} ${n * 100 + i}`),
      )
        .flat()
        .sort();
      for (const replica of replicas) {
        expect(await pointsOn(replica, "load")).toEqual(expectedLoad);
        expect(await pointsOn(replica, "order")).toEqual([`${ns(T0)} __name__=order,job=api 2`, `${ns(T0 + 1)} __name__=order,job=api 6`]);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refuses a body that does not decode with 400 saying why, and no replica sees it; influxd refuses it too",
    async () => {
      const { replicas, relay } = await layout();
      const served = () => Promise.all(replicas.map((r) => promWritesServed(r.url)));
      const before = await served();
      const garbage = Buffer.from("up 1\n");
      const [status, answer] = await post(`${relay.url}/api/v1/prom/write?db=${DB}`, garbage, REMOTE_WRITE_HEADERS);
      expect([status, JSON.parse(answer)]).toEqual([
        400,
        { error: "invalid Prometheus remote write body: not a snappy block: snappy: corrupt block; nothing was written" },
      ]);
      expect(await served()).toEqual(before);
      // The count does move for a body that reaches a replica: the relay's good one, then the garbage sent straight.
      expect((await promWrite(relay, [{ labels: { __name__: "up" }, samples: [[1, T0]] }]))[0]).toBe(204);
      expect(await served()).toEqual(before.map((n) => n + 1));
      const direct = await post(`${replicas[0]!.url}/api/v1/prom/write?db=${DB}`, garbage, REMOTE_WRITE_HEADERS);
      expect([direct[0], JSON.parse(direct[1])]).toEqual([400, { error: "snappy: corrupt input" }]);
    },
    TEST_TIMEOUT_MS,
  );
});
