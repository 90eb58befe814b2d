// Starting the processes under test: the sink backends and the relay.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { freePort } from "../local/ports.js";
import { describeExit, firstLine, logTail, spawnChild, type Child } from "./proc.js";

const LOOPBACK = "127.0.0.1";
// tsx compiles on first start, which can take a few seconds on a busy machine.
const START_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 100;

export interface Service {
  child: Child;
  port: number;
}

export interface Paths {
  /** Repository root: the children's working directory. */
  root: string;
  /** Where child logs go. */
  logDir: string;
}

export async function startSink(name: string, paths: Paths): Promise<Service> {
  const child = await spawnChild(name, [process.execPath, "--import", "tsx", "bench/sink.ts"], {
    cwd: paths.root,
    logPath: join(paths.logDir, `${name}.log`),
    pipeStdout: true,
  });
  const line = await firstLine(child, START_TIMEOUT_MS).catch((err: unknown) => {
    throw withLog(err, child);
  });
  const port = Number(line);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new Error(`${name}: expected a port on stdout, got ${JSON.stringify(line)}`);
  }
  return { child, port };
}

/**
 * Starts the relay with an influxdb-relay TOML config (written to `configPath`)
 * that fans out to the given sinks, and waits until GET /ping answers 204.
 * `argv` is the command line without the trailing `-config FILE`.
 */
export async function startRelay(
  argv: readonly string[],
  sinkPorts: readonly number[],
  configPath: string,
  paths: Paths,
  name = "relay",
): Promise<Service> {
  // Small race between probing the port and the relay binding it; a clash shows up as a failed start.
  const port = await freePort();
  writeFileSync(configPath, relayConfig(port, sinkPorts));
  const child = await spawnChild(name, [...argv, "-config", configPath], {
    cwd: paths.root,
    logPath: join(paths.logDir, `${name}.log`),
    pipeStdout: false,
  });
  try {
    await waitForPing(`http://${LOOPBACK}:${port}/ping`, child);
  } catch (err) {
    throw withLog(err, child);
  }
  return { child, port };
}

function relayConfig(port: number, sinkPorts: readonly number[]): string {
  const outputs = sinkPorts.map((p, i) => `  { name = "sink${i + 1}", location = "http://${LOOPBACK}:${p}/write", timeout = "10s" },`);
  return ["[[http]]", 'name = "bench"', `bind-addr = "${LOOPBACK}:${port}"`, "output = [", ...outputs, "]", ""].join("\n");
}

async function waitForPing(url: string, child: Child): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const maxAttempts = Math.ceil(START_TIMEOUT_MS / PING_INTERVAL_MS);
  let last = "no answer";
  for (let attempt = 0; attempt < maxAttempts && Date.now() < deadline; attempt++) {
    if (child.exit) throw new Error(`${child.name}: exited (${describeExit(child.exit)}) before answering ${url}`);
    try {
      const res = await request(url, { signal: AbortSignal.timeout(1000) });
      await res.body.dump();
      if (res.statusCode === 204) return;
      last = `HTTP ${res.statusCode}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err); // typically ECONNREFUSED while starting
    }
    await sleep(PING_INTERVAL_MS);
  }
  throw new Error(`${child.name}: ${url} did not answer 204 within ${START_TIMEOUT_MS} ms (last: ${last})`);
}

function withLog(err: unknown, child: Child): Error {
  const message = err instanceof Error ? err.message : String(err);
  const tail = logTail(child).trim();
  return new Error(tail ? `${message}\n--- ${child.logPath} (tail) ---\n${tail}` : message);
}
