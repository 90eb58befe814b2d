// Is a port free? We try to bind it ourselves, on the same address the layout will use, and let go at once.
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { withTimeout } from "./wait.js";

const PROBE_TIMEOUT_MS = 2_000;

/** One line per TCP or UDP port that cannot be bound on `host` right now; [] when all are free. */
export async function busyPorts(host: string, tcpPorts: readonly number[], udpPorts: readonly number[]): Promise<string[]> {
  const probes = [
    ...tcpPorts.map((port) => probe(`${host}:${port}/tcp`, () => bindTcp(host, port))),
    ...udpPorts.map((port) => probe(`${host}:${port}/udp`, () => bindUdp(host, port))),
  ];
  return (await Promise.all(probes)).filter((line): line is string => line !== undefined);
}

async function probe(what: string, bind: () => Promise<void>): Promise<string | undefined> {
  try {
    await withTimeout(bind(), PROBE_TIMEOUT_MS, `a test bind of ${what}`);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "EADDRINUSE" ? `${what} is in use` : `${what} cannot be bound: ${(err as Error).message}`;
  }
}

function bindTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

function bindUdp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve()));
  });
}
