// The listener's limits on real sockets (buildApp listening on 127.0.0.1, scripted backends): the budget of
// body bytes in flight (max-inflight-mb) and its 503s, max-body-size before and while reading, request-timeout
// on stalled uploads, idle-timeout on kept-alive connections, and how a client that goes away is logged;
// first the budget's own bookkeeping, with a property test.
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { request } from "undici";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { InflightBudget, ShedError, type BodyHold } from "../../relay/inflight.js";
import { newListenerStats } from "../../relay/stats.js";
import { captureLog, type CapturedLog } from "../helpers/capture-log.js";
import { sleep, waitFor } from "../helpers/ports.js";
import { startScriptedBackend, type Reply, type ScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

// Run in order: backends close first, so an app never waits on a hanging one while it closes.
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

interface Listening {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly backend: ScriptedBackend;
  readonly log: CapturedLog;
}

/** One relay listener on a free port in front of one scripted backend. */
async function listen(reply: Reply, listenerKeys: string, outputTimeout = "1s"): Promise<Listening> {
  const backend = await startScriptedBackend(reply);
  const config = parseConfig(
    `[[http]]\nbind-addr = "127.0.0.1:9096"\nspool-dir = "${tempDir()}"\n${listenerKeys}\n` +
      `output = [{ name = "out", location = "${backend.writeUrl}", timeout = "${outputTimeout}" }]`,
    "test.toml",
  );
  const log = captureLog();
  const app = await buildApp({ listener: config.http[0]!, logger: log.logger });
  cleanup.push(() => app.close());
  cleanup.push(() => backend.close());
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, port: (app.server.address() as AddressInfo).port, backend, log };
}

/** Valid line protocol with timestamps, about `bytes` long. */
/** A relay with a 1 MiB budget whose backend never answers, holding one 600 kB write in flight until its 1 s output timeout. */
async function holdingOneWrite(): Promise<{ port: number; held: Buffer; first: ReturnType<typeof request> }> {
  const { port } = await listen({ status: 204, hang: true }, `max-inflight-mb = 1\nmax-body-size = 1000000`);
  const held = lineProtocol(600_000);
  const first = request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: held });
  await inflightReaches(port, held.length, "the first write's bytes in flight");
  return { port, held, first };
}

/** Bounded wait until the listener holds exactly `bytes` of request bodies. */
function inflightReaches(port: number, bytes: number, what: string): Promise<void> {
  return waitFor(async () => (await metric(port, "influx_relay_inflight_bytes")) === bytes, { timeoutMs: 5_000, what });
}

function lineProtocol(bytes: number): Buffer {
  const line = "flood,host=h1 v=1i 1700000000000000000\n";
  return Buffer.from(line.repeat(Math.max(1, Math.floor(bytes / line.length))));
}

async function metric(port: number, name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${port}/metrics`);
  const text = await res.body.text();
  const match = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text);
  if (!match) throw new Error(`${name} is not in /metrics`);
  return Number(match[1]);
}

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** A client speaking HTTP/1.1 by hand, to send headers without their body, or a body a byte at a time. */
class RawClient {
  readonly socket: Socket;
  /** The first answer, once its head and Content-Length bytes of body have arrived. */
  readonly answer: Promise<RawAnswer>;
  /** Resolves with Date.now() when the connection closes. */
  readonly closed: Promise<number>;
  private received = "";

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("error", () => undefined); // the relay may reset a connection it refused
    this.closed = new Promise((resolve) => this.socket.once("close", () => resolve(Date.now())));
    this.answer = new Promise((resolve, reject) => {
      this.socket.on("data", (chunk: Buffer) => {
        this.received += chunk.toString("latin1");
        const end = this.received.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = this.received.slice(0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        const body = this.received.slice(end + 4);
        if (body.length >= length) resolve({ status: Number(head.split(" ")[1]), head: head.toLowerCase(), body: body.slice(0, length) });
      });
      this.socket.once("close", () => reject(new Error(`closed without an answer; got ${JSON.stringify(this.received)}`)));
    });
    void this.answer.catch(() => undefined);
  }

  send(data: string | Buffer): void {
    if (this.socket.writable) this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function head(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: relay\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")}\r\n`;
}

const chunk = (data: Buffer | string): string =>
  `${Buffer.byteLength(data).toString(16)}\r\n${Buffer.isBuffer(data) ? data.toString("latin1") : data}\r\n`;

describe("InflightBudget", () => {
  type Step =
    | { readonly kind: "hold"; readonly bytes: number }
    | { readonly kind: "cover"; readonly which: number; readonly total: number }
    | { readonly kind: "start" | "close" | "release"; readonly which: number };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant("hold" as const), bytes: fc.integer({ min: 0, max: 600 }) }),
    fc.record({ kind: fc.constant("cover" as const), which: fc.nat(), total: fc.integer({ min: 0, max: 900 }) }),
    fc.record({ kind: fc.constantFrom("start" as const, "close" as const, "release" as const), which: fc.nat() }),
  );

  it("never holds more than its limit, counts every refusal, and is back to 0 once every hold is released", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const stats = newListenerStats();
        const budget = new InflightBudget(1_000, stats);
        const holds: BodyHold[] = [];
        let refused = 0;
        for (const s of steps) {
          try {
            if (s.kind === "hold") holds.push(budget.hold(s.bytes));
            else if (holds.length > 0) {
              const hold = holds[s.which % holds.length]!;
              if (s.kind === "cover") hold.cover(s.total);
              else if (s.kind === "start") hold.handlerStarted();
              else if (s.kind === "close") hold.responseClosed();
              else hold.release();
            }
          } catch (err) {
            expect(err).toBeInstanceOf(ShedError);
            refused++;
          }
          expect(stats.inflightBytes).toBeGreaterThanOrEqual(0);
          expect(stats.inflightBytes).toBeLessThanOrEqual(1_000);
        }
        expect(stats.shed).toBe(refused);
        for (const hold of holds) hold.release();
        expect(stats.inflightBytes).toBe(0);
      }),
    );
  });

  it("gives a hold back when the answer goes out before any handler ran, and only after the handler when one did", () => {
    const stats = newListenerStats();
    const budget = new InflightBudget(1_000, stats);
    const refusedEarly = budget.hold(300);
    refusedEarly.responseClosed();
    expect(stats.inflightBytes).toBe(0);
    const handled = budget.hold(300);
    handled.handlerStarted();
    handled.responseClosed(); // the client left; the fan-out still holds the body
    expect(stats.inflightBytes).toBe(300);
    handled.release();
    handled.release();
    expect(stats.inflightBytes).toBe(0);
  });
});

describe("the budget of body bytes in flight", () => {
  it("holds a write's Content-Length until its fan-out is done, and answers one that does not fit 503 at once, before its body", async () => {
    // max-body-size must fit in the budget; the backend holds every write until the 1s output timeout.
    const { port, held, first } = await holdingOneWrite();

    // Only the head is sent: the answer must not wait for the body.
    const client = new RawClient(port);
    const sentAt = Date.now();
    client.send(head("/write?db=d", { "content-length": 600_000 }));
    const answer = await client.answer;
    expect(Date.now() - sentAt).toBeLessThan(1_000);
    expect(answer.status).toBe(503);
    expect(answer.head).toContain("\r\nretry-after: 1");
    expect(answer.head).toContain("\r\nconnection: close");
    expect(JSON.parse(answer.body)).toEqual({
      error: "the relay is holding its limit of request bodies in flight (max-inflight-mb = 1): retry in 1s",
    });
    await client.closed;
    expect(await metric(port, "influx_relay_requests_shed_total")).toBe(1);
    expect(await metric(port, "influx_relay_inflight_bytes")).toBe(held.length);

    // The first write ends with the output timeout (the backend never answered) and gives its bytes back.
    expect((await first).statusCode).toBe(503);
    await inflightReaches(port, 0, "the bytes given back");
    const again = await request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: held });
    expect(again.statusCode).toBe(503); // the hanging backend's timeout again, not a shed
    expect(await metric(port, "influx_relay_requests_shed_total")).toBe(1);
  });

  it("counts a chunked body as it arrives and refuses it once it passes the budget, before it ends", async () => {
    const { port, first } = await holdingOneWrite();

    const client = new RawClient(port);
    client.send(head("/write?db=d", { "transfer-encoding": "chunked" }));
    const piece = lineProtocol(100_000);
    let sent = 0;
    let answered = false;
    void client.answer.then(
      () => (answered = true),
      () => undefined,
    );
    // 1 MiB - 600,000 bytes leaves room for 4 pieces; the 5th passes the budget.
    for (let i = 0; i < 10 && !answered; i++) {
      client.send(chunk(piece));
      sent++;
      await sleep(100);
    }
    const answer = await client.answer;
    expect(answer.status).toBe(503);
    expect(answer.head).toContain("\r\nretry-after: 1");
    expect(sent).toBeLessThan(10);
    expect(await metric(port, "influx_relay_requests_shed_total")).toBe(1);
    await first;
  });

  it("counts a gzip body by what it inflates to", async () => {
    const { port, first } = await holdingOneWrite();
    const gzipped = gzipSync(lineProtocol(900_000));
    expect(gzipped.length).toBeLessThan(100_000); // small on the wire, 900 kB in memory
    const res = await request(`http://127.0.0.1:${port}/write?db=d`, {
      method: "POST",
      body: gzipped,
      headers: { "content-encoding": "gzip" },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    await res.body.dump();
    await first;
    await inflightReaches(port, 0, "the bytes given back");
  });

  it("keeps a write's bytes held after its client went away, until its fan-out ends", async () => {
    const { port } = await listen({ status: 204, hang: true }, `max-inflight-mb = 1\nmax-body-size = 1000000`, "2s");
    const body = lineProtocol(600_000);
    const client = new RawClient(port);
    client.send(head("/write?db=d", { "content-length": body.length }));
    client.send(body);
    await inflightReaches(port, body.length, "bytes in flight");
    client.destroy();
    await sleep(500);
    expect(await metric(port, "influx_relay_inflight_bytes")).toBe(body.length);
    await inflightReaches(port, 0, "the bytes given back after the output timeout");
  });
});

describe("max-body-size", () => {
  it("answers 413 to a Content-Length over the limit before a byte of the body is sent", async () => {
    const { port, backend } = await listen({ status: 204 }, "max-body-size = 1000");
    const client = new RawClient(port);
    client.send(head("/write?db=d", { "content-length": 1001 }));
    const answer = await client.answer;
    expect(answer.status).toBe(413);
    expect(answer.head).toContain("\r\nconnection: close");
    expect(JSON.parse(answer.body)).toEqual({ error: "request body too large: the limit is 1000 bytes" });
    await client.closed;
    expect(backend.requests).toHaveLength(0);
    expect(await metric(port, "influx_relay_requests_shed_total")).toBe(0);
  });

  it("answers 413 to a chunked body as soon as it passes the limit", async () => {
    const { port, backend } = await listen({ status: 204 }, "max-body-size = 1000");
    const client = new RawClient(port);
    client.send(head("/write?db=d", { "transfer-encoding": "chunked" }));
    client.send(chunk(lineProtocol(600)));
    client.send(chunk(lineProtocol(600))); // 1,200 bytes: past the limit, and the body has not ended
    const answer = await client.answer;
    expect(answer.status).toBe(413);
    await client.closed;
    expect(backend.requests).toHaveLength(0);
    expect(await metric(port, "influx_relay_inflight_bytes")).toBe(0);
  });
});

describe("a client that goes away mid-upload", () => {
  it("is logged at info without a stack, and its bytes are given back", async () => {
    const { port, log, backend } = await listen({ status: 204 }, "");
    const client = new RawClient(port);
    client.send(head("/write?db=d", { "content-length": 100_000 }));
    client.send(Buffer.alloc(1_000, "x"));
    await inflightReaches(port, 100_000, "bytes in flight");
    client.destroy();
    await waitFor(async () => log.lines.some((l) => l.msg.startsWith("request dropped")), { timeoutMs: 5_000, what: "the log line" });
    const line = log.lines.find((l) => l.msg.startsWith("request dropped"))!;
    expect(line).toMatchObject({
      level: 30,
      msg: "request dropped: the client closed the connection before its body arrived",
      method: "POST",
      url: "/write?db=d",
      contentLength: "100000",
      received: 1_000,
    });
    expect(JSON.stringify(log.lines)).not.toMatch(/stack|"level":50/);
    expect(await metric(port, "influx_relay_inflight_bytes")).toBe(0);
    expect(backend.requests).toHaveLength(0);
  });
});

describe("request-timeout and idle-timeout", () => {
  it("closes uploads sent a byte at a time once request-timeout has passed, while good writes go on", async () => {
    const { port, log, backend } = await listen({ status: 204 }, `request-timeout = "2s"`);
    const slow = Array.from({ length: 20 }, () => new RawClient(port));
    const startedAt = Date.now();
    for (const client of slow) client.send(head("/write?db=d", { "content-length": 1_000 }));
    const drip = setInterval(() => slow.forEach((client) => client.send("x")), 1_000);
    try {
      // Good writes all along, on connections of their own.
      const goodStatuses: number[] = [];
      while (Date.now() - startedAt < 3_000) {
        const res = await request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
        goodStatuses.push(res.statusCode);
        await res.body.dump();
        await sleep(100);
      }
      const closedAfter = (await Promise.all(slow.map((client) => client.closed))).map((at) => at - startedAt);
      expect(Math.max(...closedAfter)).toBeLessThan(2_000 + 200 + 1_000); // the timeout, node's check every 200 ms, slack
      expect(Math.min(...closedAfter)).toBeGreaterThanOrEqual(1_900);
      expect(goodStatuses.length).toBeGreaterThan(10);
      expect(new Set(goodStatuses)).toEqual(new Set([204]));
      expect(backend.requests.length).toBe(goodStatuses.length);
    } finally {
      clearInterval(drip);
    }
    // The 408 went out, and each is logged once, at info.
    await expect(slow[0]!.answer).resolves.toMatchObject({ status: 408 });
    await waitFor(async () => log.lines.filter((l) => l.msg.startsWith("request dropped")).length === 20, {
      timeoutMs: 5_000,
      what: "a log line per slow upload",
    });
    expect(log.lines.filter((l) => l.msg.startsWith("request dropped"))[0]).toMatchObject({
      level: 30,
      msg: "request dropped: its body had not arrived after request-timeout (2s): the relay closed the connection",
    });
    expect(await metric(port, "influx_relay_inflight_bytes")).toBe(0);
  });

  it("answers a write whose fan-out outlasts request-timeout: it bounds receiving the request, not answering it", async () => {
    const { port } = await listen({ status: 204, delayMs: 1_500 }, `request-timeout = "1s"`, "5s");
    const res = await request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
    expect(res.statusCode).toBe(204);
  });

  it("closes a connection that sends nothing after request-timeout, and a kept-alive one idle for idle-timeout", async () => {
    const { port } = await listen({ status: 204 }, `request-timeout = "1s"\nidle-timeout = "1s"`);
    const silent = new RawClient(port);
    const idle = new RawClient(port);
    const openedAt = Date.now();
    idle.send(head("/write?db=d", { "content-length": 9 }) + "cpu v=1 1");
    const answer = await idle.answer;
    const answeredAt = Date.now();
    expect(answer.status).toBe(204);
    // Clients are told, so they close first; node itself waits a second longer.
    expect(answer.head).toContain("\r\nkeep-alive: timeout=1");
    const idleFor = (await idle.closed) - answeredAt;
    expect(idleFor).toBeGreaterThanOrEqual(1_000);
    expect(idleFor).toBeLessThan(1_000 + 1_000 + 500);
    const silentFor = (await silent.closed) - openedAt;
    expect(silentFor).toBeGreaterThanOrEqual(950);
    expect(silentFor).toBeLessThan(1_000 + 100 + 500);
  });
});
