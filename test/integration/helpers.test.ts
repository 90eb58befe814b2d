// Smoke test for the test helpers themselves: real influxd and the scripted backend.
import dgram from "node:dgram";
import { request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { influxdAvailable, startInfluxd, type Influxd } from "../helpers/influxd.js";
import { parseJsonLossless } from "../helpers/json.js";
import { freePort, freeUdpPort, waitFor } from "../helpers/ports.js";
import { startScriptedBackend } from "../helpers/scripted-backend.js";

const TIMEOUT = 60_000;

describe("ports", () => {
  it("hands out loopback ports and bounds waits", async () => {
    expect(await freePort()).toBeGreaterThan(0);
    expect(await freeUdpPort()).toBeGreaterThan(0);
    await expect(waitFor(async () => false, { timeoutMs: 100, intervalMs: 10, what: "nothing" })).rejects.toThrow(
      "timed out after 100ms waiting for nothing",
    );
    // A check that never settles must not stall the wait.
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 100, what: "a hang" })).rejects.toThrow(
      "timed out after 100ms",
    );
  });

  it("parses ns timestamps without losing precision", () => {
    const parsed = parseJsonLossless('{"v":[[1700000000123456789,-9007199254740993,42,1.5e300,"9007199254740993 \\" 1"]]}');
    expect(parsed).toEqual({ v: [["1700000000123456789", "-9007199254740993", 42, 1.5e300, '9007199254740993 " 1']] });
  });
});

describe.skipIf(!influxdAvailable())("influxd", () => {
  const started: Influxd[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  }, TIMEOUT);

  it(
    "writes, reads back, survives kill -9 and restart",
    async () => {
      const influxd = await startInfluxd();
      started.push(influxd);
      expect(influxd.url).toBe(`http://127.0.0.1:${influxd.httpPort}`);
      expect(influxd.pid).toBeTypeOf("number");

      await influxd.createDatabase("smoke");
      expect(await influxd.points("smoke", "cpu")).toEqual([]);

      const res = await request(`${influxd.writeUrl}?db=smoke`, {
        method: "POST",
        body: "cpu,host=a value=1,n=3i 1700000000123456789\ncpu,host=b value=2.5 1700000000123456790\n",
      });
      await res.body.dump();
      expect(res.statusCode).toBe(204);

      // ns timestamps are above 2^53: points() must return them exactly.
      const expected = [
        { time: "1700000000123456789", host: "a", n: 3, value: 1 },
        { time: "1700000000123456790", host: "b", n: null, value: 2.5 },
      ];
      const before = await influxd.points("smoke", "cpu");
      expect(before).toEqual(expected);

      await influxd.kill9();
      expect(influxd.pid).toBeUndefined();
      await influxd.restart();
      expect(await influxd.points("smoke", "cpu")).toEqual(expected);

      await influxd.stop();
      await influxd.stop(); // idempotent
      expect(influxd.pid).toBeUndefined();
    },
    TIMEOUT,
  );

  it(
    "accepts line protocol over UDP",
    async () => {
      const influxd = await startInfluxd({ udpDatabase: "udp", udpPrecision: "s" });
      started.push(influxd);
      expect(influxd.udpPort).toBeTypeOf("number");

      const socket = dgram.createSocket("udp4");
      try {
        await new Promise<void>((resolve, reject) =>
          socket.send("mem,host=u used=7 1700000000\n", influxd.udpPort, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
        );
      } finally {
        socket.close();
      }
      await waitFor(async () => (await influxd.points("udp", "mem")).length === 1, {
        timeoutMs: 10_000,
        what: "the UDP point",
      });
      expect(await influxd.points("udp", "mem")).toEqual([{ time: "1700000000000000000", host: "u", used: 7 }]);
    },
    TIMEOUT,
  );
});

describe("scripted backend", () => {
  it(
    "records requests and answers as scripted, and close() ends hanging requests",
    async () => {
      const backend = await startScriptedBackend({ status: 500, body: '{"error":"boom"}' });
      try {
        const r1 = await request(`${backend.writeUrl}?db=x&precision=s`, { method: "POST", body: "m v=1 1" });
        expect(r1.statusCode).toBe(500);
        expect(r1.headers["content-type"]).toBe("application/json");
        expect(await r1.body.text()).toBe('{"error":"boom"}');
        const rec = backend.requests[0];
        expect(rec?.method).toBe("POST");
        expect(rec?.path).toBe("/write");
        expect(rec?.query.get("db")).toBe("x");
        expect(rec?.body.toString()).toBe("m v=1 1");

        backend.reply = { status: 204 };
        const r2 = await request(backend.writeUrl, { method: "POST", body: "m v=2" });
        await r2.body.dump();
        expect(r2.statusCode).toBe(204);

        backend.reply = { status: 204, hang: true };
        const hanging = request(backend.writeUrl, { method: "POST", body: "m v=3" });
        await waitFor(async () => backend.requests.length === 3, { timeoutMs: 5_000, what: "the hanging request" });
        const started = Date.now();
        await backend.close();
        expect(Date.now() - started).toBeLessThan(2_000);
        await expect(hanging).rejects.toThrow();
      } finally {
        await backend.close();
      }
    },
    TIMEOUT,
  );
});
