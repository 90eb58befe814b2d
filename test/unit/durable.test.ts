// The durable path through buildApp against scripted backends: order, replay batches, poison writes,
// bounds and out-of-sync, restart, and the /health, /status, /metrics and /admin/flush endpoints.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { captureLog } from "../helpers/capture-log.js";
import { waitFor } from "../helpers/ports.js";
import { ADMIN_TOKEN, useRelayApps } from "../helpers/relay-app.js";
import { tempDir } from "../helpers/temp.js";

const { relayOver, backends, onCleanup } = useRelayApps();

const write = (app: FastifyInstance, body: string, db = "d") => app.inject({ method: "POST", url: `/write?db=${db}`, payload: body });
const health = async (app: FastifyInstance) => (await app.inject("/health")).json();
const queueOf = async (app: FastifyInstance, output: string) =>
  (await health(app)).outputs.find((o: { name: string }) => o.name === output).queue;
const waitForEmptyQueue = (app: FastifyInstance, output: string) =>
  waitFor(async () => (await queueOf(app, output)).entries === 0, { timeoutMs: 15_000, what: `${output}'s queue to drain` });

describe("order", () => {
  it("queues every write behind a missed one, and replays them in the order they were accepted", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    for (let n = 1; n <= 3; n++) expect((await write(app, `cpu v=${n} ${n}`)).statusCode).toBe(204);
    expect(b!.requests).toHaveLength(1); // only the first was tried; the others waited behind it
    b!.reply = { status: 204 };
    expect((await write(app, "cpu v=4 4")).statusCode).toBe(204); // back up, but its queue is not empty yet
    await waitForEmptyQueue(app, "out2");
    expect(b!.requests.at(-1)!.body.toString()).toBe("cpu v=1 1\ncpu v=2 2\ncpu v=3 3\ncpu v=4 4\n");
    expect((await write(app, "cpu v=5 5")).statusCode).toBe(204);
    expect(b!.requests.at(-1)!.body.toString()).toBe("cpu v=5 5");
  });

  it("merges only writes with the same query and auth, within max-batch-kb", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!], { output: "max-batch-kb = 1" });
    b!.reply = { status: 503 };
    const big = (n: number) => `cpu,pad=${"x".repeat(400)} v=${n} ${n}`;
    await write(app, big(1));
    await write(app, big(2));
    await write(app, big(3));
    await write(app, "cpu v=4 4", "other");
    await write(app, "cpu v=5 5");
    b!.reply = { status: 204 };
    await waitForEmptyQueue(app, "out2");
    const replayed = b!.requests.slice(1).map((r) => [r.query.get("db"), r.body.toString().split("\n").filter(Boolean).length]);
    expect(replayed).toEqual([
      ["d", 2],
      ["d", 1],
      ["other", 1],
      ["d", 1],
    ]);
  });
});

describe("replay", () => {
  it("puts a write the backend refuses (4xx) in the dead-letter file and delivers the ones around it", async () => {
    const [a, b] = await backends(2);
    const { app, spoolDir } = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    await write(app, "cpu v=1 1");
    await write(app, "cpu v=2i 2");
    await write(app, "cpu v=3 3");
    b!.reply = (req) =>
      req.body.includes("v=2i")
        ? {
            status: 400,
            body: '{"error":"partial write: field type conflict: input field \\"v\\" on measurement \\"cpu\\" is type integer, already exists as type float dropped=1"}',
          }
        : { status: 204 };
    await waitForEmptyQueue(app, "out2");
    const delivered = b!.requests.filter((r) => !r.body.includes("v=2i")).map((r) => r.body.toString());
    expect(delivered.at(-2)).toBe("cpu v=1 1");
    expect(delivered.at(-1)).toBe("cpu v=3 3");
    const dead = readFileSync(join(spoolDir, "out2", "dead-letter.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ api: "v1", query: "db=d", status: 400, body: "cpu v=2i 2" });
    expect(dead[0].answer).toMatch(/^HTTP 400: .*field type conflict/);
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1].deadLetter.entriesSinceStart).toBe(1);
    expect((await app.inject("/metrics")).body).toContain('influx_relay_dead_letter_entries_total{output="out2",listener="http-0"} 1');
  });

  it("backs off from 500 ms while the backend stays down, and counts the failures", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    b!.reply = { status: 503 };
    await write(app, "cpu v=1 1");
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    // Tries at about 0.5 s and 1.5 s (then 2.5 s): never in a tight loop.
    const tries = b!.requests.length - 1;
    expect(tries).toBeGreaterThanOrEqual(1);
    expect(tries).toBeLessThanOrEqual(3);
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1].totals.failures).toBe(tries + 1);
  });

  it("resumes a queue left by an earlier run as soon as it starts", async () => {
    const [a, b] = await backends(2);
    const first = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    await write(first.app, "cpu v=1 1");
    await write(first.app, "cpu v=2 2");
    await first.app.close();
    b!.reply = { status: 204 };
    const second = await relayOver([a!, b!], { spoolDir: first.spoolDir });
    await waitForEmptyQueue(second.app, "out2");
    expect(b!.requests.at(-1)!.body.toString()).toBe("cpu v=1 1\ncpu v=2 2\n");
  });
});

describe("replay of /api/v2/write", () => {
  it("sends records queued as v2 (as every relay stores them) through /write once the backend says it is older than 1.8", async () => {
    const [a, b] = await backends(2);
    const first = await relayOver([a!, b!], { output: 'write-api = "v2"' });
    b!.reply = { status: 500 };
    for (let n = 1; n <= 2; n++) {
      const res = await first.app.inject({
        method: "POST",
        url: "/api/v2/write?org=o&bucket=db/rp&precision=ms",
        payload: `cpu v=${n} ${n}`,
        headers: { authorization: "Token bob:secret" },
      });
      expect(res.statusCode).toBe(204);
    }
    expect((await queueOf(first.app, "out2")).entries).toBe(2);
    await first.app.close();
    // Like influxd 1.6: no /api/v2/write, and every answer says its version.
    const influx16 = { status: 204, headers: { "X-Influxdb-Version": "1.6.7~rc0" } };
    b!.reply = (req) => (req.path === "/api/v2/write" ? { ...influx16, status: 404, body: "404 page not found\n" } : influx16);
    const second = await relayOver([a!, b!], { spoolDir: first.spoolDir }); // write-api "auto"
    await waitForEmptyQueue(second.app, "out2");
    const replayed = b!.requests.slice(1);
    expect(replayed.map((r) => [r.path, r.query.toString(), r.headers.authorization, r.body.toString()])).toEqual([
      ["/api/v2/write", "org=o&bucket=db%2Frp&precision=ms", "Token bob:secret", "cpu v=1 1\ncpu v=2 2\n"],
      ["/write", "db=db&rp=rp&precision=ms", `Basic ${Buffer.from("bob:secret").toString("base64")}`, "cpu v=1 1\ncpu v=2 2\n"],
    ]);
    expect(readdirSync(join(first.spoolDir, "out2"))).not.toContain("dead-letter.jsonl");
  });
});

describe("bounds", () => {
  it("marks an output out of sync when its queue is full: later writes are dropped for it, counted, and still succeed", async () => {
    const [a, b] = await backends(2);
    const { app, log, spoolDir } = await relayOver([a!, b!], { output: "buffer-size-mb = 1" });
    b!.reply = { status: 500 };
    const line = (n: number) => `cpu,pad=${"p".repeat(1000)} v=${n} ${n}`;
    const body = (n: number) => Array.from({ length: 300 }, () => line(n)).join("\n"); // ~300 KB
    for (let n = 1; n <= 6; n++) expect((await write(app, body(n))).statusCode).toBe(204);
    const queue = await queueOf(app, "out2");
    expect(queue.entries).toBe(3);
    expect(queue.bytes).toBeLessThanOrEqual(1024 * 1024);
    const h = await health(app);
    expect(h).toMatchObject({ status: "degraded", outputs: [{ outOfSync: false }, { outOfSync: true }] });
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1].outOfSync.reason).toBe("its queue is full (buffer-size-mb = 1)");
    expect(status.outputs[1].totals.dropped).toMatchObject({ writes: 3, points: 900 });
    expect(log.lines.find((l) => l.level === 50)?.msg).toMatch(/^OUTPUT out2 IS OUT OF SYNC: its queue is full/);
    expect((await app.inject("/metrics")).body).toContain('influx_relay_output_out_of_sync{output="out2",listener="http-0"} 1');
    expect(JSON.parse(readFileSync(join(spoolDir, "out2", "OUT-OF-SYNC"), "utf8")).reason).toBe("its queue is full (buffer-size-mb = 1)");
  });

  it("marks an output out of sync when its oldest queued write is older than max-queue-age", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!], { output: 'max-queue-age = "300ms"' });
    b!.reply = { status: 500 };
    await write(app, "cpu v=1 1");
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await write(app, "cpu v=2 2")).statusCode).toBe(204);
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1].outOfSync.reason).toBe("its oldest queued write is older than max-queue-age (0.3s)");
    expect(status.outputs[1].queue.entries).toBe(1);
    expect(status.outputs[1].totals.dropped.writes).toBe(1);
  });

  it("keeps the out-of-sync marking across a restart, until /admin/flush clears it", async () => {
    const [a, b] = await backends(2);
    const first = await relayOver([a!, b!], { output: "buffer-size-mb = 0" });
    b!.reply = { status: 500 };
    await write(first.app, "cpu v=1 1");
    await first.app.close();
    const { app } = await relayOver([a!, b!], { output: "buffer-size-mb = 0", spoolDir: first.spoolDir });
    expect((await health(app)).outputs[1].outOfSync).toBe(true);
    const flushed = await app.inject({
      method: "POST",
      url: "/admin/flush?output=out2",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(flushed.json()).toEqual({ output: "out2", droppedEntries: 0, droppedBytes: 0 });
    expect((await health(app)).outputs[1].outOfSync).toBe(false);
  });
});

describe("/health", () => {
  it("is 200 ok with every output up, 200 degraded with one down, 503 down with none", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    expect(await app.inject("/health")).toMatchObject({ statusCode: 200 });
    expect(await health(app)).toEqual({
      status: "ok",
      ack: "one",
      outputs: [
        { name: "out1", up: true, outOfSync: false, queue: { entries: 0, bytes: 0, oldestAgeSeconds: 0 } },
        { name: "out2", up: true, outOfSync: false, queue: { entries: 0, bytes: 0, oldestAgeSeconds: 0 } },
      ],
    });
    b!.reply = { status: 500, body: "down for maintenance", contentType: "text/plain" };
    await write(app, "cpu v=1 1");
    const degraded = await app.inject("/health");
    expect(degraded.statusCode).toBe(200);
    expect(degraded.json()).toMatchObject({
      status: "degraded",
      outputs: [{ up: true }, { up: false, lastError: "HTTP 500: down for maintenance", queue: { entries: 1 } }],
    });
    a!.reply = { status: 500 };
    await write(app, "cpu v=2 2");
    const down = await app.inject("/health");
    expect(down.statusCode).toBe(503);
    expect(down.json().status).toBe("down");
  });

  it('is 200 read-only under ack "all" as soon as one output cannot take writes: reads are still served', async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!], { listener: 'ack = "all"' });
    expect((await app.inject("/health")).statusCode).toBe(200);
    b!.reply = { status: 500 };
    const res = await write(app, "cpu v=1 1");
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatch(/^ack "all" needs 2 of 2 outputs to accept the write, and 1 did \(out1\)/);
    expect((await queueOf(app, "out2")).entries).toBe(1);
    const readOnly = await app.inject("/health");
    expect(readOnly.statusCode).toBe(200);
    expect(readOnly.json().status).toBe("read-only");
    await app.inject("/query?q=SELECT+1");
    expect(a!.requests.filter((r) => r.path === "/query")).toHaveLength(1);
  });

  it("sees an idle backend come back by probing its /ping", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    a!.reply = { status: 500 };
    b!.reply = { status: 500 };
    expect((await write(app, "cpu v=1 1")).statusCode).toBe(500);
    expect((await app.inject("/health")).statusCode).toBe(503);
    a!.reply = { status: 204 };
    b!.reply = { status: 204 };
    await waitFor(async () => (await health(app)).status === "ok", { timeoutMs: 10_000, what: "both outputs up again" });
    expect(a!.pings).toBeGreaterThan(1);
  });
});

describe("/status and /metrics", () => {
  it("count requests by status, points and bytes in and out per output, and queue state", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    await write(app, "cpu v=1 1\ncpu v=2 2");
    await write(app, "bad line");
    const status = (await app.inject("/status")).json();
    expect(status).toMatchObject({
      status: "ok",
      ack: "one",
      totals: { requests: { 204: 1, 400: 1 }, writes: 1, points: 2, bytes: 19 },
      outputs: [{ name: "out1", totals: { live: { writes: 1, points: 2, bytes: 19 } } }, { name: "out2" }],
    });
    const metrics = await app.inject("/metrics");
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const sample of [
      'influx_relay_requests_total{status="204",listener="http-0"} 1',
      'influx_relay_points_in_total{listener="http-0"} 2',
      'influx_relay_output_points_total{output="out2",via="live",listener="http-0"} 2',
      'influx_relay_output_bytes_total{output="out1",via="replay",listener="http-0"} 0',
      'influx_relay_queue_entries{output="out1",listener="http-0"} 0',
      'influx_relay_output_up{output="out2",listener="http-0"} 1',
      'influx_relay_backend_request_duration_seconds_count{listener="http-0",output="out1",via="live"} 1',
      "# TYPE influx_relay_queued_points_total counter",
      "# TYPE influx_relay_queue_oldest_age_seconds gauge",
      "process_resident_memory_bytes",
    ]) {
      expect(metrics.body).toContain(sample);
    }
  });
});

describe("POST /admin/flush", () => {
  it("needs the admin token, names the output, and drops its queue", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    b!.reply = { status: 500 };
    await write(app, "cpu v=1 1");
    await write(app, "cpu v=2 2");
    const flush = (url: string, token?: string) =>
      app.inject({ method: "POST", url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    const unauthorised = await flush("/admin/flush?output=out2");
    expect(unauthorised.statusCode).toBe(401);
    expect(unauthorised.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect((await flush("/admin/flush?output=out2", "wrong-token-0123456789")).statusCode).toBe(401);
    expect((await flush("/admin/flush", ADMIN_TOKEN)).json()).toEqual({
      error: "name the output to flush: ?output=NAME, one of out1, out2",
    });
    expect((await flush("/admin/flush?output=nope", ADMIN_TOKEN)).statusCode).toBe(404);
    const done = await flush("/admin/flush?output=out2", ADMIN_TOKEN);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({ output: "out2", droppedEntries: 2 });
    expect((await queueOf(app, "out2")).entries).toBe(0);
  });

  it("is off without an admin-token", async () => {
    const [a] = await backends(1);
    const config = parseConfig(
      `[[http]]\nbind-addr = ":1"\nspool-dir = "${tempDir()}"\noutput = [{ name = "a", location = "${a!.writeUrl}" }]`,
      "t.toml",
    );
    const app = await buildApp({ listener: config.http[0]!, logger: captureLog().logger });
    onCleanup(() => app.close());
    const res = await app.inject({ method: "POST", url: "/admin/flush?output=a", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe("/admin/flush is off: set admin-token in this [[http]] block to use it");
  });
});
