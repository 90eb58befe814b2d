// POST /api/v1/prom/write through buildApp against scripted backends: bodies that do not decode are refused
// and reach no backend; good ones reach every backend as they came, are answered as /write's are, queue
// in order with line-protocol writes around them, go to the dead-letter file when refused on replay, are
// counted, and hold their bytes in the in-flight budget.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { compress } from "@stablelib/snappy";
import type { FastifyInstance } from "fastify";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { remoteWriteSamples } from "../../relay/prom-write.js";
import { SeriesLabelBytes, WriteRequest, WriteRequestSeries } from "../../relay/prompb.js";
import { waitFor } from "../helpers/ports.js";
import { useRelayApps } from "../helpers/relay-app.js";
import { REMOTE_WRITE_HEADERS } from "../../relay/prompb.js";
import { remoteWriteBody } from "../helpers/remote-write.js";
import { startScriptedBackend } from "../helpers/scripted-backend.js";

const { relayOver, backends, onCleanup } = useRelayApps({ adminToken: false, timeout: "1s" });

const UP = { __name__: "up", job: "api" };
/** One series of `n` samples, told apart by `tag`. */
const body = (tag: string, n = 1): Buffer =>
  remoteWriteBody([{ labels: { ...UP, tag }, samples: Array.from({ length: n }, (_, i) => [i, 1_700_000_000_000 + i] as const) }]);

function promWrite(app: FastifyInstance, payload: Buffer, url = "/api/v1/prom/write?db=prom", headers: Record<string, string> = {}) {
  return app.inject({ method: "POST", url, payload, headers: { ...REMOTE_WRITE_HEADERS, ...headers } });
}

const queueEntries = async (app: FastifyInstance, output: string): Promise<number> =>
  (await app.inject("/health")).json().outputs.find((o: { name: string }) => o.name === output).queue.entries;

/** A body whose single series holds `series` as its bytes, encoded with the relay's own reading of the message. */
function withSeriesBytes(series: Uint8Array): Buffer {
  return Buffer.from(compress(WriteRequestSeries.encode({ timeseries: [series] }).finish()));
}

describe("a remote write body that does not decode", () => {
  const refusal = (why: string) => `invalid Prometheus remote write body: ${why}; nothing was written`;
  const valid = body("a", 2);
  const small = WriteRequest.encode({ timeseries: [{ labels: [{ name: "__name__", value: "up" }] }] }).finish();
  const badLabel = SeriesLabelBytes.encode({
    labels: [{ name: Buffer.from("__name__"), value: Buffer.from([0x75, 0xff, 0x70]) }],
    samples: [{ value: 1, timestamp: 1 }],
  }).finish();
  const cases: Array<[what: string, payload: Buffer, error: string]> = [
    ["text", Buffer.from("up 1"), refusal("not a snappy block: snappy: corrupt block")],
    ["nothing", Buffer.alloc(0), refusal("not a snappy block: snappy: corrupt block")],
    ["a snappy block cut short", valid.subarray(0, valid.length - 3), refusal("not a snappy block: snappy: corrupt block")],
    // Whole elements, but fewer bytes than its header declares: influxd's Go decoder refuses it, and so must the relay.
    [
      "a snappy block shorter than it declares",
      (() => {
        const block = Buffer.from(compress(small));
        block[0]! += 1; // a one-byte length header: the message is under 128 bytes
        return block;
      })(),
      refusal("not a snappy block: snappy: corrupt block"),
    ],
    [
      "snappy around something that is not protobuf",
      Buffer.from(compress(Buffer.from('up{job="api"} 1\n'))),
      refusal("not a prometheus.WriteRequest: index out of range: 7 + 61 > 16"),
    ],
    [
      "a WriteRequest cut short",
      Buffer.from(compress(small.subarray(0, 8))),
      refusal("not a prometheus.WriteRequest: index out of range: 2 + 16 > 8"),
    ],
    [
      "a series that is not a TimeSeries",
      withSeriesBytes(Buffer.from([0x00, 0x00])),
      refusal("time series 1 of 1 is not a prometheus.TimeSeries: illegal tag: field number 0"),
    ],
    ["a label that is not UTF-8", withSeriesBytes(badLabel), refusal("time series 1 of 1 has a label that is not valid UTF-8")],
  ];

  it("gets 400 saying why, and reaches no backend", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    for (const [what, payload, error] of cases) {
      const res = await promWrite(app, payload);
      expect([what, res.statusCode, res.json()]).toEqual([what, 400, { error }]);
    }
    expect([...a!.requests, ...b!.requests]).toEqual([]);
    expect((await promWrite(app, valid)).statusCode).toBe(204); // the same app takes a good one
    expect([a!.requests.length, b!.requests.length]).toEqual([1, 1]);
  });

  it("gets 413 when it would decompress past max-body-size, and 415 in another encoding or message", async () => {
    const [a] = await backends(1);
    const { app } = await relayOver([a!], { listener: "max-body-size = 1000" });
    const large = Buffer.from(
      compress(WriteRequest.encode({ timeseries: [{ labels: [{ name: "__name__", value: "x".repeat(1_000) }] }] }).finish()),
    );
    expect(large.length).toBeLessThan(1_000);
    const tooLarge = await promWrite(app, large);
    expect([tooLarge.statusCode, tooLarge.json()]).toEqual([
      413,
      { error: "the remote write body decompresses to 1019 bytes: the limit is 1000 bytes (max-body-size)" },
    ]);
    const gzip = await promWrite(app, body("a"), undefined, { "content-encoding": "gzip" });
    expect([gzip.statusCode, gzip.json()]).toEqual([415, { error: 'unsupported Content-Encoding "gzip": send snappy or no encoding' }]);
    const v2 = await promWrite(app, body("a"), undefined, {
      "content-type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    });
    expect([v2.statusCode, v2.json()]).toEqual([
      415,
      {
        error:
          "unsupported remote write message io.prometheus.write.v2.Request: InfluxDB 1.x takes remote write 1.0 (prometheus.WriteRequest)",
      },
    ]);
    const noDb = await promWrite(app, body("a"), "/api/v1/prom/write");
    expect([noDb.statusCode, noDb.json()]).toEqual([400, { error: "database is required" }]);
    expect(a!.requests).toEqual([]);
  });
});

describe("a remote write", () => {
  it("counts its samples for the stats, NaN ones included (influxd skips those)", () => {
    const series = [
      {
        labels: UP,
        samples: [
          [1, 1],
          [2, 2],
          [Number.NaN, 3],
        ] as const,
      },
      { labels: { __name__: "down" }, samples: [] },
    ];
    expect(remoteWriteSamples(remoteWriteBody(series), 1_000)).toBe(3);
    expect(remoteWriteSamples(remoteWriteBody([]), 1_000)).toBe(0);
  });

  it("reaches every backend as the client sent it, with the query it reads, its auth and Prometheus' headers", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!], { listener: 'default-retention-policy = "two_weeks"' });
    const payload = body("a", 3);
    const res = await promWrite(app, payload, "/api/v1/prom/write?db=prom&u=bob&p=secret&precision=s&extra=1", {
      authorization: "Basic Ym9iOnNlY3JldA==",
      "content-type": "application/x-protobuf;proto=prometheus.WriteRequest",
    });
    expect(res.statusCode).toBe(204);
    for (const backend of [a!, b!]) {
      const [received] = backend.requests;
      expect(received!.url).toBe("/api/v1/prom/write?db=prom&u=bob&p=secret&rp=two_weeks");
      expect(received!.body.equals(payload)).toBe(true);
      expect(received!.headers).toMatchObject({ ...REMOTE_WRITE_HEADERS, authorization: "Basic Ym9iOnNlY3JldA==" });
    }
    const metrics = (await app.inject("/metrics")).body;
    for (const [name, value] of [
      ["influx_relay_prom_writes_in_total", 1],
      ["influx_relay_prom_samples_in_total", 3],
      ["influx_relay_writes_in_total", 1],
      ["influx_relay_points_in_total", 3],
      ["influx_relay_bytes_in_total", payload.length],
    ] as const) {
      expect(metrics).toContain(`${name}{listener="http-0"} ${value}\n`);
    }
    expect((await app.inject("/status")).json().totals).toMatchObject({ writes: 1, points: 3, promWrites: 1, promSamples: 3 });
  });

  it("gets a backend's 4xx passed back, and is not kept for the backend that missed it", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const refusal = '{"error":"+/-Inf is an unsupported value for field value"}';
    a!.reply = { status: 400, body: refusal };
    b!.reply = { status: 500 };
    const res = await promWrite(app, remoteWriteBody([{ labels: UP, samples: [[Number.POSITIVE_INFINITY, 1]] }]));
    expect([res.statusCode, res.body]).toEqual([400, refusal]);
    expect(await queueEntries(app, "out2")).toBe(0);
  });

  it("queues for a backend that missed it and replays in order with the line-protocol writes around it, each on its own", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    const first = body("first");
    const second = body("second", 2);
    const last = body("last");
    expect((await promWrite(app, first)).statusCode).toBe(204);
    expect((await promWrite(app, second)).statusCode).toBe(204);
    expect((await app.inject({ method: "POST", url: "/write?db=prom", payload: "up,job=api value=2 1" })).statusCode).toBe(204);
    expect((await promWrite(app, last)).statusCode).toBe(204);
    expect(await queueEntries(app, "out2")).toBe(4);
    const tried = b!.requests.length;
    b!.reply = { status: 204 };
    await waitFor(async () => (await queueEntries(app, "out2")) === 0, { timeoutMs: 10_000, what: "out2's queue to drain" });
    const replayed = b!.requests.slice(tried);
    expect(replayed.map((r) => r.url)).toEqual([
      "/api/v1/prom/write?db=prom",
      "/api/v1/prom/write?db=prom",
      "/write?db=prom",
      "/api/v1/prom/write?db=prom",
    ]);
    expect(replayed.map((r) => r.body.toString("base64"))).toEqual(
      [first, second, Buffer.from("up,job=api value=2 1"), last].map((x) => x.toString("base64")),
    );
    for (const r of [replayed[0]!, replayed[3]!]) expect(r.headers).toMatchObject(REMOTE_WRITE_HEADERS);
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1].totals.replayed).toMatchObject({ writes: 4, points: 5 });
  });

  it("goes to the dead-letter file, in base64, when the backend refuses it on replay", async () => {
    const [a, b] = await backends(2);
    const { app, spoolDir } = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    const refused = body("refused");
    expect((await promWrite(app, refused)).statusCode).toBe(204);
    expect((await promWrite(app, body("kept"))).statusCode).toBe(204);
    b!.reply = (req) => (req.body.equals(refused) ? { status: 400, body: '{"error":"max key length exceeded"}' } : { status: 204 });
    await waitFor(async () => (await queueEntries(app, "out2")) === 0, { timeoutMs: 10_000, what: "out2's queue to drain" });
    const dead = readFileSync(join(spoolDir, "out2", "dead-letter.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ api: "prom-write", query: "db=prom", status: 400, bodyEncoding: "base64" });
    expect(Buffer.from(dead[0].body, "base64").equals(refused)).toBe(true);
    expect(b!.requests.at(-1)!.body.equals(body("kept"))).toBe(true);
  });

  it("holds its bytes in the in-flight budget until its fan-out ends, and one that does not fit gets 503 at once", async () => {
    const hanging = await startScriptedBackend({ status: 204, hang: true });
    const { app } = await relayOver([hanging], { listener: "max-inflight-mb = 1\nmax-body-size = 1000000" });
    onCleanup(() => hanging.close()); // registered after the app, so it closes first and the app never waits on it
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/prom/write?db=prom`;
    // Random label values, which snappy cannot shorten: over half the budget, and within max-body-size decompressed.
    const held = remoteWriteBody(
      Array.from({ length: 8_000 }, () => ({
        labels: { __name__: "up", id: randomBytes(60).toString("base64") },
        samples: [[1, 1]] as const,
      })),
    );
    expect(held.length).toBeGreaterThan(600_000);
    const metric = async (name: string) =>
      Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec((await app.inject("/metrics")).body)?.[1]);
    const first = request(url, { method: "POST", body: held, headers: REMOTE_WRITE_HEADERS });
    await waitFor(async () => (await metric("influx_relay_inflight_bytes")) === held.length, {
      timeoutMs: 5_000,
      what: "the first body held",
    });
    const shed = await request(url, { method: "POST", body: held, headers: REMOTE_WRITE_HEADERS });
    expect([shed.statusCode, shed.headers["retry-after"]]).toEqual([503, "1"]);
    await shed.body.dump();
    expect((await (await first).body.json()) as unknown).toMatchObject({ error: expect.stringMatching(/no backend took the write/) });
    await waitFor(async () => (await metric("influx_relay_inflight_bytes")) === 0, { timeoutMs: 5_000, what: "the bytes given back" });
  });
});
