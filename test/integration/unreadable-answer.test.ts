// Backend answers undici cannot parse: InfluxDB 1.x echoes a refused line in X-Influxdb-Error, control
// characters included, and undici refuses such a header ("Invalid header value char"). The relay must read
// that as the refusal it is (400, nothing queued, the output up), not as a backend that did not answer.
// Raw TCP backends write the exact bytes; then two real influxd 1.6 give the real thing.
import { readFileSync } from "node:fs";
import net, { type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import type { RunningRelay } from "../../relay/relay.js";
import { captureLog } from "../helpers/capture-log.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { waitFor } from "../helpers/ports.js";
import { startScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";
import { startRelayOverInfluxd } from "../helpers/relay-over-influxd.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

/** What influxd 1.6 sent for `m,t=a\x01 v=1 x` (captured from a real one), Connection: close. */
const ECHOING_400 =
  "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nX-Influxdb-Build: OSS\r\n" +
  "X-Influxdb-Error: unable to parse 'm,t=a\x01 v=1 x': bad timestamp\r\nX-Influxdb-Version: 1.6.7~rc0\r\n" +
  'Content-Length: 63\r\nConnection: close\r\n\r\n{"error":"unable to parse \'m,t=a\\u0001 v=1 x\': bad timestamp"}\n';

type RawMode = "echoing-400" | "echoing-chunked" | "not-http" | "drop";

const RAW_ANSWERS: Readonly<Record<Exclude<RawMode, "drop">, string>> = {
  "echoing-400": ECHOING_400,
  // The same header, but a body the relay cannot take InfluxDB's error from.
  "echoing-chunked":
    "HTTP/1.1 400 Bad Request\r\nX-Influxdb-Error: bad \x7f line\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n",
  // Something that is not an HTTP server (say, a wrong port).
  "not-http": "SSH-2.0-OpenSSH_9.2\r\n\r\n",
};

interface RawBackend {
  readonly writeUrl: string;
  /** What the next write gets; /ping is always answered 204 like InfluxDB. */
  mode: RawMode;
  /** Writes (not pings) received. */
  writes: number;
}

/** A backend on a raw socket: reads one request (headers and Content-Length body), writes raw bytes, closes. */
async function startRawBackend(mode: RawMode): Promise<RawBackend> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf("\r\n\r\n");
      if (headEnd === -1) return;
      const head = received.subarray(0, headEnd).toString("latin1");
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < headEnd + 4 + length) return;
      received = Buffer.alloc(0);
      if (head.startsWith("GET /ping")) {
        socket.end("HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7~rc0\r\nConnection: close\r\n\r\n");
        return;
      }
      backend.writes++;
      if (backend.mode === "drop") socket.destroy();
      else socket.end(Buffer.from(RAW_ANSWERS[backend.mode], "latin1"));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const backend: RawBackend = { writeUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/write`, mode, writes: 0 };
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return backend;
}

async function relayOver(writeUrls: readonly string[]): Promise<{ app: FastifyInstance; spoolDir: string }> {
  const spoolDir = tempDir();
  const outputs = writeUrls.map((url, i) => `{ name = "out${i + 1}", location = "${url}", timeout = "2s", max-delay-interval = "200ms" }`);
  const config = parseConfig(
    `[[http]]\nbind-addr = "127.0.0.1:9096"\nspool-dir = "${spoolDir}"\noutput = [${outputs.join(", ")}]`,
    "raw.toml",
  );
  const app = await buildApp({ listener: config.http[0]!, logger: captureLog().logger });
  cleanup.unshift(() => app.close());
  return { app, spoolDir };
}

const write = (app: FastifyInstance, body: string, path = "/write?db=d") => app.inject({ method: "POST", url: path, payload: body });

async function outputsOf(app: FastifyInstance) {
  const status = (await app.inject("/status")).json();
  return status.outputs as Array<{ name: string; up: boolean; queue: { entries: number }; totals: { rejected: number; failures: number } }>;
}

describe("an answer with a control character in a header (raw backends)", () => {
  it("is InfluxDB's refusal: the client gets 400 with InfluxDB's error, nothing is queued, the outputs stay up", async () => {
    const raws = [await startRawBackend("echoing-400"), await startRawBackend("echoing-400")];
    const { app } = await relayOver(raws.map((r) => r.writeUrl));
    for (let n = 1; n <= 3; n++) {
      const res = await write(app, `m,t=a v=${n} 1`);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      expect(res.json().error).toBe(
        "unable to parse 'm,t=a\u0001 v=1 x': bad timestamp (out1's answer put control characters in a header, as InfluxDB 1.x " +
          "does when it echoes what it refused; HTTP forbids them, so its status could not be read and is taken as 400)",
      );
    }
    expect(raws.map((r) => r.writes)).toEqual([3, 3]);
    const outputs = await outputsOf(app);
    expect(outputs.map((o) => [o.up, o.queue.entries, o.totals.rejected, o.totals.failures])).toEqual([
      [true, 0, 3, 0],
      [true, 0, 3, 0],
    ]);
    expect((await app.inject("/health")).statusCode).toBe(200);
  });

  it("names the output when InfluxDB's error cannot be taken from the body, and is a refusal beside an output that took the write", async () => {
    const ok = await startScriptedBackend({ status: 204 });
    cleanup.push(() => ok.close());
    const raw = await startRawBackend("echoing-chunked");
    const { app } = await relayOver([ok.writeUrl, raw.writeUrl]);
    const res = await write(app, "m v=1 1");
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe(
      "out2 refused the request with an answer that put control characters in a header, as InfluxDB 1.x does when it echoes " +
        "what it refused; HTTP forbids them, so its status could not be read and is taken as 400",
    );
    const outputs = await outputsOf(app);
    expect(outputs.map((o) => [o.name, o.up, o.queue.entries, o.totals.rejected])).toEqual([
      ["out1", true, 0, 0],
      ["out2", true, 0, 1],
    ]);
  });

  it("is not stretched to an answer that is not HTTP at all: that is still no answer, and 503", async () => {
    const raw = await startRawBackend("not-http");
    const { app } = await relayOver([raw.writeUrl]);
    const res = await write(app, "m v=1 1");
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatch(
      /^no backend took the write, and nothing was kept: out1: Response does not match the HTTP\/1.1 protocol \(Expected HTTP\//,
    );
    expect((await outputsOf(app))[0]!.up).toBe(false);
  });

  it("on replay, sends the queued write to the dead-letter file instead of retrying it forever", async () => {
    const ok = await startScriptedBackend({ status: 204 });
    cleanup.push(() => ok.close());
    const raw = await startRawBackend("drop");
    const { app, spoolDir } = await relayOver([ok.writeUrl, raw.writeUrl]);
    expect((await write(app, "m v=1 1")).statusCode).toBe(204); // out1 took it; out2 dropped the connection, so it is queued
    expect((await outputsOf(app))[1]!.queue.entries).toBe(1);
    raw.mode = "echoing-400";
    await waitFor(async () => (await outputsOf(app))[1]!.queue.entries === 0, { timeoutMs: 10_000, what: "out2's queue to drain" });
    const dead = readFileSync(join(spoolDir, "out2", "dead-letter.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(dead).toHaveLength(1);
    expect(dead[0]).toContain("m v=1 1");
    expect(dead[0]).toContain("bad timestamp");
    const [, out2] = await outputsOf(app);
    expect([out2!.up, out2!.totals.rejected]).toEqual([true, 0]); // replay refusals go to the dead-letter file, not this count
  });
});

describe("an answer with a control character in a header (two real influxd 1.6)", () => {
  let replicas: Influxd[] = [];
  let relay: RunningRelay;
  let base: string;

  beforeAll(async () => {
    replicas = await Promise.all([startInfluxd(), startInfluxd()]);
    await Promise.all(replicas.map((r) => r.createDatabase("d")));
    ({ relay, url: base } = await startRelayOverInfluxd(replicas));
  });

  afterAll(async () => {
    await relay?.close();
    await Promise.all(replicas.map((r) => r.stop()));
  });

  const post = async (path: string, body: string) => {
    const res = await request(`${base}${path}`, { method: "POST", body });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const health = async () =>
    (await request(`${base}/health`)).body.json() as Promise<{
      status: string;
      outputs: Array<{ up: boolean; queue: { entries: number } }>;
    }>;

  it("is a 400 saying what influxd refused, the good lines stay stored on both replicas, and the outputs stay up", async () => {
    const first = await post("/write?db=d", "c\x01 v=1 1");
    // The relay may refuse control characters in names itself (relay/lineprotocol.ts): then influxd never sees them.
    if (first.status === 400) {
      expect(JSON.parse(first.body).error).not.toMatch(/answer put control characters/);
      return;
    }
    expect(first.status).toBe(204);
    // The second line conflicts with the stored type: influxd keeps the first and names the measurement, \x01 included.
    const res = await post("/write?db=d", 'good v=1 1\nc\x01 v="s" 2');
    expect(res.status, res.body).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(
      /^partial write: field type conflict: input field "v" on measurement "c\u0001" is type string, already exists as type float dropped=1 \(influx\d's answer put control characters in a header/,
    );
    for (const replica of replicas) expect(await replica.points("d", "good")).toHaveLength(1);
    const after = await health();
    expect(after.status).toBe("ok");
    expect(after.outputs.map((o) => [o.up, o.queue.entries])).toEqual([
      [true, 0],
      [true, 0],
    ]);
  });
});
