// Real haproxy (Debian's) for tests: `haproxy -c` on a rendered config, and a running haproxy
// in a temp dir, stopped by the returned handle.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderHaproxyConfig } from "../../haproxy/render.js";
import type { ServerState } from "../../haproxy/stats-csv.js";
import { fetchServerStates, haproxyProcess } from "../../local/haproxy-process.js";
import { HAPROXY, findBinary } from "../../local/tools.js";
import type { Topology } from "../../topology/model.js";
import { waitFor } from "./ports.js";
import { tempDir } from "./temp.js";

/** `haproxy -dW -c -f`: -dW turns every warning into an error, so a clean config passes with nothing to say. */
export function checkHaproxyConfig(cfg: string): { status: number | null; output: string } {
  const file = join(tempDir("haproxy-check-"), "haproxy.cfg");
  writeFileSync(file, cfg);
  const result = spawnSync(findBinary(HAPROXY.binary) ?? HAPROXY.binary, ["-dW", "-c", "-f", file], { encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface RunningHaproxy {
  /** http://127.0.0.1:PORT, the client port. */
  readonly url: string;
  readonly statsUrl: string;
  readonly logPath: string;
  states(): Promise<ServerState[]>;
  /** Waits (bounded) until `server` has `status` in HAProxy's eyes. */
  waitForState(server: string, status: string): Promise<void>;
  stop(): Promise<void>;
}

/** Renders the topology's first load balancer and runs it. */
export async function startHaproxy(topology: Topology): Promise<RunningHaproxy> {
  const lb = topology.loadBalancers[0]!;
  const dir = tempDir("haproxy-");
  const configPath = join(dir, "haproxy.cfg");
  writeFileSync(configPath, renderHaproxyConfig(topology, lb));
  const statsUrl = `http://127.0.0.1:${lb.statsPort}/`;
  const logPath = join(dir, "haproxy.log");
  const haproxy = haproxyProcess({ configPath, logPath, cwd: dir, statsUrl, auth: topology.stats });
  await haproxy.start();
  const states = (): Promise<ServerState[]> => fetchServerStates(statsUrl, topology.stats);
  return {
    url: `http://127.0.0.1:${lb.port}`,
    statsUrl,
    logPath,
    states,
    waitForState: (server, status) => waitForServerState(states, server, status, 15_000),
    stop: () => haproxy.stop(),
  };
}

/** Waits (bounded) until HAProxy's stats show `server` with `status`; the error says what they showed last. */
export async function waitForServerState(
  states: () => Promise<ServerState[]>,
  server: string,
  status: string,
  timeoutMs: number,
): Promise<void> {
  let last: string | undefined;
  await waitFor(async () => (last = (await states()).find((s) => s.server === server)?.status) === status, {
    timeoutMs,
    intervalMs: 50,
    what: `haproxy to see ${server} ${status}`,
  }).catch((err: Error) => {
    throw new Error(`${err.message}; it says ${last}`);
  });
}
