// The UDP listener on real loopback sockets: validation, timestamps, and packing up to each output's mtu.
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../relay/config.js";
import { UdpListener } from "../../relay/udp.js";
import { captureLog } from "../helpers/capture-log.js";
import { freeUdpPort, waitFor } from "../helpers/ports.js";

interface Sink {
  port: number;
  datagrams: string[];
  socket: Socket;
}

async function udpSink(): Promise<Sink> {
  const socket = createSocket("udp4");
  const datagrams: string[] = [];
  socket.on("message", (message) => datagrams.push(message.toString()));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, datagrams, socket };
}

let cleanup: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

async function setup(mtus: number[], precision = "n") {
  const sinks = await Promise.all(mtus.map(() => udpSink()));
  cleanup.push(() => sinks.forEach((s) => s.socket.close()));
  const port = await freeUdpPort();
  const outputs = sinks.map((s, i) => `{ name = "u${i}", location = "127.0.0.1:${s.port}", mtu = ${mtus[i]} }`);
  const config = parseConfig(
    `[[udp]]\nbind-addr = "127.0.0.1:${port}"\nprecision = "${precision}"\noutput = [${outputs.join(", ")}]`,
    "t.toml",
  );
  const log = captureLog();
  const listener = new UdpListener(config.udp[0]!, log.logger);
  expect(await listener.listen()).toBe(port);
  cleanup.push(() => listener.close());
  const client = createSocket("udp4");
  cleanup.push(() => void client.close());
  const send = (text: string) =>
    new Promise<void>((resolve, reject) => client.send(text, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())));
  return { sinks, listener, log, send };
}

const line = (n: number, pad = 0) => `m,id=${n} v=${n}${"0".repeat(pad)} ${1000 + n}`;

describe("UDP listener", () => {
  it("packs lines up to each output's mtu without splitting any", async () => {
    const { sinks, listener, send } = await setup([64, 200]);
    const lines = Array.from({ length: 12 }, (_, i) => line(i)); // 18 or 19 bytes each
    await send(lines.join("\n"));
    await waitFor(async () => sinks.every((s) => s.datagrams.join("\n").split("\n").length === 12), {
      timeoutMs: 5_000,
      what: "all lines at both sinks",
    });
    for (const [i, sink] of sinks.entries()) {
      const mtu = [64, 200][i]!;
      expect(sink.datagrams.join("\n").split("\n")).toEqual(lines);
      for (const datagram of sink.datagrams) expect(Buffer.byteLength(datagram)).toBeLessThanOrEqual(mtu);
      // Packed, not one line per datagram: each datagram is as full as the next line allows.
      for (const [k, datagram] of sink.datagrams.slice(0, -1).entries()) {
        const next = sink.datagrams[k + 1]!.split("\n")[0]!;
        expect(Buffer.byteLength(datagram) + 1 + Buffer.byteLength(next)).toBeGreaterThan(mtu);
      }
    }
    expect(listener.counters).toMatchObject({ datagrams: 1, points: 12, invalidLines: 0, oversizeLines: 0 });
  });

  it("sends a line longer than the mtu alone, counts it and logs it", async () => {
    const { sinks, listener, log, send } = await setup([64]);
    const long = line(1, 80);
    await send([line(0), long, line(2)].join("\n"));
    await waitFor(async () => sinks[0]!.datagrams.length === 3, { timeoutMs: 5_000, what: "three datagrams" });
    expect(sinks[0]!.datagrams).toEqual([line(0), long, line(2)]);
    expect(listener.counters.oversizeLines).toBe(1);
    expect(log.lines.some((l) => l.level === 40 && /exceeds output u0's mtu of 64/.test(l.msg))).toBe(true);
  });

  it("drops invalid lines with a count and a log line, and stamps lines without a timestamp", async () => {
    const { sinks, listener, log, send } = await setup([512], "s");
    const before = Math.floor(Date.now() / 1000);
    await send("good v=1 5\nbad line\ngood v=2\n");
    await waitFor(async () => sinks[0]!.datagrams.length === 1, { timeoutMs: 5_000, what: "a datagram" });
    const match = /^good v=1 5\ngood v=2 (\d+)$/.exec(sinks[0]!.datagrams[0]!);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeGreaterThanOrEqual(before);
    expect(Number(match![1])).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(listener.counters).toMatchObject({ points: 2, invalidLines: 1 });
    expect(log.lines.find((l) => l.level === 40)?.msg).toBe(
      "dropped an invalid UDP line: unable to parse line 2 'bad line': invalid field format",
    );
  });
});
