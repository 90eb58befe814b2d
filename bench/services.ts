// Starting the processes under test: the sink backends, real influxd replicas and the relay.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { request } from "undici";
import { InfluxdProcess, startOnFreePorts } from "../local/influxd.js";
import { freePort } from "../local/ports.js";
import { logTail } from "../local/logfile.js";
import { sleep, waitFor } from "../local/wait.js";
import { describeExit, firstLine, spawnChild, type Child } from "./proc.js";

const LOOPBACK = "127.0.0.1";
// tsx compiles on first start, which can take a few seconds on a busy machine.
const START_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 100;
const SYNC_DEADLINE_MS = 120_000;
const SYNC_POLL_MS = 200;

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

/** Starts a sink on `port`, or on any free port when it is 0. */
export async function startSink(name: string, paths: Paths, port = 0): Promise<Service> {
  const child = await spawnChild(name, [process.execPath, "--import", "tsx", "bench/sink.ts", String(port)], {
    cwd: paths.root,
    logPath: join(paths.logDir, `${name}.log`),
    pipeStdout: true,
  });
  const line = await firstLine(child, START_TIMEOUT_MS).catch((err: unknown) => {
    throw withLog(err, child);
  });
  const bound = Number(line);
  if (!Number.isInteger(bound) || bound <= 0 || bound > 65_535) {
    throw new Error(`${name}: expected a port on stdout, got ${JSON.stringify(line)}`);
  }
  return { child, port: bound };
}

/**
 * Starts a real influxd (local/influxd.ts) keeping its data, config and log in `dir`, on free loopback ports.
 * Its stop() removes `dir`.
 */
export function startInfluxd(dir: string): Promise<InfluxdProcess> {
  return startOnFreePorts(
    async () => new InfluxdProcess({ dir, httpPort: await freePort(), rpcPort: await freePort(), removeDirOnStop: true }),
  );
}

/**
 * Starts the relay with an influxdb-relay TOML config (written to `configPath`)
 * that fans out to the given backends (outputs `${outputPrefix}1`, `${outputPrefix}2`, …),
 * and waits until GET /ping answers 204.
 * `argv` is the command line without the trailing `-config FILE`.
 */
export async function startRelay(
  argv: readonly string[],
  backendPorts: readonly number[],
  configPath: string,
  paths: Paths,
  name = "relay",
  outputPrefix = "sink",
): Promise<Service> {
  // Small race between probing the port and the relay binding it; a clash shows up as a failed start.
  const port = await freePort();
  writeFileSync(configPath, relayConfig(port, backendPorts, join(dirname(configPath), `${name}-spool`), outputPrefix));
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

function relayConfig(port: number, backendPorts: readonly number[], spoolDir: string, outputPrefix: string): string {
  // Queues big enough for the outage phases' backlog, so the output never goes out of sync.
  const outputs = backendPorts.map(
    (p, i) => `  { name = "${outputPrefix}${i + 1}", location = "http://${LOOPBACK}:${p}/write", timeout = "10s", buffer-size-mb = 8192 },`,
  );
  const listener = ["[[http]]", 'name = "bench"', `bind-addr = "${LOOPBACK}:${port}"`, `spool-dir = ${JSON.stringify(spoolDir)}`];
  return [...listener, "output = [", ...outputs, "]", ""].join("\n");
}

async function waitForPing(url: string, child: Child): Promise<void> {
  // A child that dies while starting ends the wait at once instead of at the timeout.
  const died = new AbortController();
  void child.exited.then((info) => died.abort(new Error(`${child.name}: exited (${describeExit(info)}) before answering ${url}`)));
  await waitFor(
    async () => {
      const res = await request(url, { signal: AbortSignal.timeout(1000) });
      await res.body.dump();
      return res.statusCode === 204;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: PING_INTERVAL_MS, what: `${child.name}: ${url} to answer 204`, signal: died.signal },
  );
}

function withLog(err: unknown, child: Child): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${message}\n${logTail(child.logPath)}`);
}

interface RelayHealth {
  status: string;
  outputs: Array<{ up: boolean; outOfSync: boolean; queue: { entries: number } }>;
}

/** Until the relay's /health says every output is up, in sync and has nothing queued: under ack "one" one may lag. */
export async function waitInSync(relayOrigin: string): Promise<void> {
  const deadline = performance.now() + SYNC_DEADLINE_MS;
  let last: RelayHealth | undefined;
  while (performance.now() < deadline) {
    const res = await request(`${relayOrigin}/health`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    last = (await res.body.json()) as RelayHealth;
    if (last.status === "ok" && last.outputs.every((o) => o.up && !o.outOfSync && o.queue.entries === 0)) return;
    await sleep(SYNC_POLL_MS);
  }
  throw new Error(`the relay's outputs were not in sync ${SYNC_DEADLINE_MS / 1000} s after the load: ${JSON.stringify(last)}`);
}
