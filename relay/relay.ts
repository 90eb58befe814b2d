// The relay process's listeners: one fastify app per [[http]] block and one UdpListener per [[udp]] block.
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { formatHostPort, type HostPort, type RelayConfig } from "./config.js";
import type { Logger } from "./logger.js";
import { LockedError } from "./pid-lock.js";
import { UdpListener } from "./udp.js";

/** A problem found while starting, named like a config error: file, key, what is wrong. */
export class StartError extends Error {
  constructor(file: string, key: string, problem: string) {
    super(`${file}: ${key}: ${problem}`);
    this.name = "StartError";
  }
}

export interface RunningRelay {
  /** Bound addresses, in config order: "http example-http 127.0.0.1:9096". */
  readonly addresses: readonly string[];
  readonly apps: readonly FastifyInstance[];
  readonly udp: readonly UdpListener[];
  /** Stops accepting, finishes what is in flight, closes every socket. */
  close(): Promise<void>;
}

export async function startRelay(config: RelayConfig, logger: Logger): Promise<RunningRelay> {
  const apps: FastifyInstance[] = [];
  const udp: UdpListener[] = [];
  const addresses: string[] = [];
  const close = async () => {
    await Promise.all([...apps.map((app) => app.close()), ...udp.map((listener) => listener.close())]);
  };
  try {
    for (const [index, listener] of config.http.entries()) {
      const tlsPem = listener.sslCombinedPem === undefined ? undefined : readPem(config.file, index, listener.sslCombinedPem);
      const app = await openListener(config.file, index, () => buildApp({ listener, logger, ...(tlsPem ? { tlsPem } : {}) }));
      apps.push(app);
      await listen(config.file, `http[${index}].bind-addr`, listener.bindAddr, () =>
        app.listen({ host: listener.bindAddr.host || "::", port: listener.bindAddr.port }),
      );
      addresses.push(`http ${listener.name} ${tlsPem ? "https" : "http"}://${formatHostPort(listener.bindAddr)}`);
    }
    for (const [index, listener] of config.udp.entries()) {
      const udpListener = new UdpListener(listener, logger);
      udp.push(udpListener);
      await listen(config.file, `udp[${index}].bind-addr`, listener.bindAddr, () => udpListener.listen());
      addresses.push(`udp ${listener.name} ${formatHostPort(listener.bindAddr)}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { addresses, apps, udp, close };
}

/** Opening a listener opens its outputs' queues: a spool-dir that cannot be used is a start problem. */
async function openListener(file: string, index: number, build: () => Promise<FastifyInstance>): Promise<FastifyInstance> {
  try {
    return await build();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (
      err instanceof LockedError ||
      code === "EACCES" ||
      code === "EROFS" ||
      code === "ENOSPC" ||
      code === "ENOTDIR" ||
      code === "EEXIST"
    ) {
      throw new StartError(file, `http[${index}].spool-dir`, (err as Error).message);
    }
    throw err;
  }
}

function readPem(file: string, index: number, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new StartError(file, `http[${index}].ssl-combined-pem`, `cannot read "${path}": ${(err as Error).message}`);
  }
}

async function listen(file: string, key: string, addr: HostPort, bind: () => Promise<unknown>): Promise<void> {
  try {
    await bind();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE"
        ? "the address is already in use"
        : code === "EADDRNOTAVAIL"
          ? "no interface has that address"
          : (err as Error).message;
    throw new StartError(file, key, `cannot listen on ${formatHostPort(addr)}: ${why}`);
  }
}
