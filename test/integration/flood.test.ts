// The relay as its own process in front of two real influxd, under the loads that used to take it down:
// a flood of 8 MB writes while both replicas are frozen (SIGSTOP), and hundreds of uploads sent a byte a
// second. The relay's memory stays bounded, what does not fit is refused at once, stalled uploads are
// closed, and good writes go on. The figures are printed for the README.
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBodies } from "../../bench/lines.js";
import { startInfluxd, influxdAvailable, type Influxd } from "../helpers/influxd.js";
import { freePort, sleep, waitFor } from "../helpers/ports.js";
import { exitOf, startRelayProcess, writeConfig, type RelayProcess } from "../helpers/relay-process.js";
import { tempDir } from "../helpers/temp.js";

const MIB = 1024 * 1024;
const BODY_BYTES = 8_000_000;
const FLOOD = 100;
/** The relay's default max-inflight-mb: the config below leaves it out. */
const BUDGET_BYTES = 256 * MIB;
const REQUEST_TIMEOUT_MS = 4_000;

function rssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * 1024;
}

interface FloodAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** From the request's head reaching the kernel to the answer's first bytes. */
  readonly ms: number;
}

/**
 * One write by hand: its head, then its body, on a connection of its own. The time is taken from the head
 * being handed to the kernel, so it is the relay's, not the time this process, busy pushing 800 MB at once,
 * takes to open the connection.
 */
function floodWrite(port: number, body: Buffer): Promise<FloodAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let sentAt: number | undefined;
    let received = "";
    socket.on("error", () => undefined); // the relay closes a refused upload; the answer came first
    socket.once("connect", () => {
      socket.write(`POST /write?db=flood HTTP/1.1\r\nHost: relay\r\nContent-Length: ${body.length}\r\n\r\n`, () => {
        sentAt ??= performance.now();
      });
      socket.write(body);
    });
    socket.on("data", (chunk: Buffer) => {
      const at = performance.now();
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = received.slice(0, end).toLowerCase();
      resolve({
        status: Number(head.split(" ")[1]),
        retryAfter: /\r\nretry-after: (\S+)/.exec(head)?.[1],
        ms: at - (sentAt ?? at),
      });
      socket.destroy();
    });
    socket.once("close", () => reject(new Error(`closed without an answer; got ${JSON.stringify(received)}`)));
  });
}

/** The relay's longest event-loop stall since the last scrape (prom-client resets it at each). */
async function loopLagMaxMs(url: string, agent: Agent): Promise<number> {
  const text = await (await request(`${url}/metrics`, { dispatcher: agent })).body.text();
  return Number(/^nodejs_eventloop_lag_max_seconds\{[^}]*\} (\S+)$/m.exec(text)?.[1]) * 1000;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** The benchmark's realistic lines, up to `bytes` long: admitted writes pass validation and reach the replicas. */
function lineProtocol(bytes: number): Buffer {
  const body = makeBodies(1, Math.ceil(bytes / 100))[0]!;
  return body.subarray(0, body.lastIndexOf("\n", bytes - 1) + 1);
}

describe.skipIf(!influxdAvailable())("the relay process under load, in front of two real influxd", () => {
  let replicas: Influxd[] = [];
  let relay: RelayProcess | undefined;
  let url = "";
  const agent = new Agent({ connections: null });

  beforeAll(async () => {
    replicas = await Promise.all([startInfluxd(), startInfluxd()]);
    await Promise.all(replicas.map((r) => r.createDatabase("flood")));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const outputs = replicas.map((r, i) => `{ name = "influxd-${i}", location = "${r.writeUrl}", timeout = "3s" }`).join(", ");
    const config = writeConfig(
      `[[http]]\nbind-addr = "127.0.0.1:${port}"\nspool-dir = "${join(tempDir(), "spool")}"\n` +
        `request-timeout = "${REQUEST_TIMEOUT_MS / 1000}s"\noutput = [${outputs}]\n`,
    );
    relay = await startRelayProcess(config, port);
  });

  afterAll(async () => {
    for (const replica of replicas) if (replica.pid !== undefined) process.kill(replica.pid, "SIGCONT");
    await agent.close();
    if (relay) {
      relay.child.kill("SIGTERM");
      await exitOf(relay);
    }
    await Promise.all(replicas.map((r) => r.stop()));
  });

  /** A small write's status. */
  const write = async (body: string): Promise<number> => {
    const res = await request(`${url}/write?db=flood`, { method: "POST", body, dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  };

  it("keeps its memory bounded under 100 concurrent 8 MB writes with both replicas frozen, refusing what does not fit", async () => {
    expect(await write("flood v=1i 1700000000000000000")).toBe(204);
    const pid = relay!.child.pid!;
    const rssBefore = rssBytes(pid);
    for (const replica of replicas) process.kill(replica.pid!, "SIGSTOP");
    try {
      const body = lineProtocol(BODY_BYTES);
      let peakRss = rssBefore;
      let flooding = true;
      const sampler = (async () => {
        for (let i = 0; flooding && i < 60_000 / 20; i++) {
          peakRss = Math.max(peakRss, rssBytes(pid));
          await sleep(20);
        }
      })();
      await loopLagMaxMs(url, agent);
      const port = Number(new URL(url).port);
      const answers = await Promise.all(Array.from({ length: FLOOD }, () => floodWrite(port, body)));
      flooding = false;
      await sampler;

      const shed = answers.filter((a) => a.retryAfter !== undefined);
      const held = answers.filter((a) => a.retryAfter === undefined);
      const shedMs = shed.map((a) => a.ms).sort((a, b) => a - b);
      const figures = {
        rssBeforeMiB: Math.round(rssBefore / MIB),
        peakRssMiB: Math.round(peakRss / MIB),
        shed: shed.length,
        held: held.length,
        shedP50Ms: Math.round(percentile(shedMs, 50)),
        shedMaxMs: Math.round(shedMs.at(-1) ?? 0),
        heldMaxMs: Math.round(Math.max(...held.map((a) => a.ms))),
        relayLoopLagMaxMs: Math.round(await loopLagMaxMs(url, agent)),
      };
      console.info("flood of 8 MB writes, both replicas frozen:", JSON.stringify(figures));

      // Every answer is a refusal: 503 for the shed at once, and for the held ones once the output timeout ran
      // out on both replicas; a held one whose upload outlasted request-timeout on a loaded machine gets 408.
      expect([...new Set(answers.map((a) => a.status))].every((status) => status === 503 || status === 408)).toBe(true);
      expect(new Set(shed.map((a) => a.status))).toEqual(new Set([503]));
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(Math.floor(BUDGET_BYTES / body.length));
      expect(shed.length).toBe(FLOOD - held.length);
      expect(new Set(shed.map((a) => a.retryAfter))).toEqual(new Set(["1"]));
      // How soon the shed were answered is printed above, not asserted: on two shared cores under a full test
      // run it swings past any bound worth stating (0.7 s to 3.3 s seen). test/unit/backpressure.test.ts shows
      // the 503 leaves before the body is read, which is what "at once" means.
      expect(peakRss).toBeLessThan(512 * MIB);
    } finally {
      for (const replica of replicas) process.kill(replica.pid!, "SIGCONT");
    }
    // The replicas are back, and so are writes.
    await waitFor(async () => (await write("flood v=2i 1700000000000000001")) === 204, {
      timeoutMs: 20_000,
      what: "a write once the replicas run again",
    });
    const metrics = await (await request(`${url}/metrics`, { dispatcher: agent })).body.text();
    expect(metrics).toMatch(/^influx_relay_inflight_bytes\{listener="http-0"\} 0$/m);
    expect(metrics).toMatch(/^influx_relay_requests_shed_total\{listener="http-0"\} [1-9]\d*$/m);
  });

  it("closes 300 uploads sent a byte a second once request-timeout has passed, while good writes go on", async () => {
    const port = Number(new URL(url).port);
    const openedAt = Date.now();
    const slow: Socket[] = [];
    const closedAt: Array<Promise<number>> = [];
    for (let i = 0; i < 300; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.resume(); // reads the 408, and so sees the close as it happens
      closedAt.push(new Promise((resolve) => socket.once("close", () => resolve(Date.now() - openedAt))));
      socket.write("POST /write?db=flood HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\n");
      slow.push(socket);
    }
    const drip = setInterval(() => slow.forEach((socket) => socket.writable && socket.write("x")), 1_000);
    const good: number[] = [];
    try {
      for (let i = 0; Date.now() - openedAt < REQUEST_TIMEOUT_MS + 1_000 && i < 1_000; i++) {
        good.push(await write(`flood v=${i}i ${1700000000000000000n + BigInt(i)}`));
        await sleep(100);
      }
      const closed = (await Promise.all(closedAt)).sort((a, b) => a - b);
      console.info(
        "300 uploads at 1 byte/s:",
        JSON.stringify({
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          closedFirstMs: closed[0],
          closedP50Ms: percentile(closed, 50),
          closedMaxMs: closed.at(-1),
          goodWrites: good.length,
        }),
      );
      expect(closed[0]).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      // Closed, not held: the bound is loose, since a loaded machine runs Node's check late (5.5 s seen).
      expect(closed.at(-1)).toBeLessThan(3 * REQUEST_TIMEOUT_MS);
      expect(good.length).toBeGreaterThan(20);
      expect(new Set(good)).toEqual(new Set([204]));
    } finally {
      clearInterval(drip);
      for (const socket of slow) socket.destroy();
    }
    // Each was logged once at info, without a stack.
    await waitFor(async () => (relay!.output().match(/request-timeout \(4s\): the relay closed the connection/g) ?? []).length === 300, {
      timeoutMs: 5_000,
      what: "a log line per closed upload",
    });
    expect(relay!.output()).not.toMatch(/"level":50|"stack"/);
  });
});
