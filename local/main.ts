// `npm start`: the HA layout on 127.0.0.1: HAProxy, two relays and N real influxd (see plan.ts for the
// ports). Refuses to start when a tool is missing, a port is taken or the run dir is in use. A stop signal
// stops everything at any moment, start-up included; a child that exits on its own is started again
// (layout.ts), unless --no-restart.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, USAGE, parseLocalArgs } from "./cli.js";
import { LocalLayout, type LayoutLog } from "./layout.js";
import { exitWhenDone } from "../relay/exit.js";
import { LockedError, acquireLock } from "../relay/pid-lock.js";
import {
  PlanError,
  planLocalLayout,
  relayAdminTokenPath,
  statsPasswordPath,
  type LocalOptions,
  type LocalPlan,
  type LocalSecrets,
} from "./plan.js";
import { adoptSingleRelaySpool } from "./old-spool.js";
import { busyPorts } from "./port-check.js";
import { describeLayout } from "./summary.js";
import { HAPROXY, INFLUXD, ensureTools } from "./tools.js";
import { watchSources } from "./watch.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RELAY_SOURCES = join(ROOT, "relay");
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Not started, for a reason the message explains fully (no stack trace). */
class Refused extends Error {}

const log: LayoutLog = {
  info: (line) => console.log(`[local] ${line}`),
  warn: (line) => console.error(`[local] WARNING: ${line}`),
};

async function main(argv: readonly string[]): Promise<number> {
  const command = parseLocalArgs(argv, { cwd: process.cwd(), defaultRunDir: join(ROOT, ".run") });
  if (command.help) {
    console.log(USAGE);
    return 0;
  }
  const secrets = keptSecrets(command.runDir);
  const plan = planWithSecrets(command, secrets);
  try {
    ensureTools([INFLUXD, HAPROXY], log.info);
  } catch (err) {
    throw new Refused((err as Error).message);
  }
  mkdirSync(plan.runDir, { recursive: true });
  const lock = acquireLock(plan.lockPath, `the local layout in ${plan.runDir}`);
  // From here on a signal must not kill us before the lock is released and the children are stopped.
  const stopRequested = listenForStopSignals();
  try {
    await refuseBusyPorts(plan);
    const firstRelay = plan.topology.relays[0]!;
    if (adoptSingleRelaySpool(plan.runDir, firstRelay.spoolDir)) {
      log.info(`moved the queue of the earlier single relay to ${firstRelay.spoolDir}: ${firstRelay.name} replays it`);
    }
    // The secrets made up for this start are kept for the next, readable by their owner only.
    const inUse: LocalSecrets = { statsPassword: plan.topology.stats.password, relayAdminToken: plan.topology.relayAdminToken };
    for (const secret of secrets) {
      if (secret.saved !== undefined) continue;
      mkdirSync(dirname(secret.path), { recursive: true });
      writeFileSync(secret.path, `${inUse[secret.key]}\n`, { mode: 0o600 });
    }
    return await run(plan, command.restart, stopRequested);
  } finally {
    lock.release();
  }
}

/** One of the layout's secrets: its file in the run dir, and what an earlier start saved there. */
interface KeptSecret {
  readonly key: keyof LocalSecrets;
  /** In the refusal when the saved value is unusable. */
  readonly what: string;
  /** The topology field its problems name. */
  readonly field: string;
  readonly path: string;
  readonly saved: string | undefined;
}

/** The secrets of an earlier start, so bookmarks, scrapers and influx-ha repair keep working. */
function keptSecrets(runDir: string): KeptSecret[] {
  const kept = (key: keyof LocalSecrets, what: string, field: string, path: string): KeptSecret => ({
    key,
    what,
    field,
    path,
    saved: readSaved(path),
  });
  return [
    kept("statsPassword", "stats password", "stats.password", statsPasswordPath(runDir)),
    kept("relayAdminToken", "relay admin token", "relayAdminToken", relayAdminTokenPath(runDir)),
  ];
}

/** The plan with the kept secrets, and new ones where none was kept: 24 base64url characters fit every rule. */
function planWithSecrets(options: LocalOptions, secrets: readonly KeptSecret[]): LocalPlan {
  const value = (key: keyof LocalSecrets): string => secrets.find((s) => s.key === key)!.saved ?? randomBytes(18).toString("base64url");
  try {
    return planLocalLayout(options, { statsPassword: value("statsPassword"), relayAdminToken: value("relayAdminToken") });
  } catch (err) {
    const unusable = secrets.find((s) => s.saved !== undefined && err instanceof PlanError && err.message.includes(s.field));
    if (unusable !== undefined) {
      throw new Refused(
        `${unusable.path} holds an unusable ${unusable.what} (${(err as Error).message}); delete the file to get a new one`,
      );
    }
    throw err;
  }
}

function readSaved(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function refuseBusyPorts(plan: LocalPlan): Promise<void> {
  const busy = await busyPorts(plan.host, plan.tcpPorts, plan.udpPorts);
  if (busy.length === 0) return;
  throw new Refused(
    `ports the layout needs are taken:\n${busy.map((line) => `  ${line}`).join("\n")}\n` +
      `Stop whatever holds them (ss -ltnup shows who; the influxdb service of Debian listens on 8086 and 8088), or choose another --port (the port plan: npm start -- --help).`,
  );
}

/**
 * Resolves with the first stop signal. The handlers stay until we exit: `on`, not `once`, because a second
 * Ctrl-C must not kill us (default action) before the children are stopped.
 */
function listenForStopSignals(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        log.info(`${signal} again: still stopping (every wait is bounded)`);
        return;
      }
      received = true;
      resolve(signal);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  });
}

/** Runs the layout until a stop signal, which may come while it starts; 0 after a clean stop. */
async function run(plan: LocalPlan, restart: boolean, stopRequested: Promise<NodeJS.Signals>): Promise<number> {
  const layout = new LocalLayout(plan, log, { restart });
  if (!restart) log.info("--no-restart: a process that exits on its own is reported and stays down");
  const started = layout.start();
  let signal: NodeJS.Signals;
  try {
    const first = await Promise.race([started.then(() => undefined), stopRequested]);
    if (first === undefined) {
      console.log(describeLayout(plan));
      const watcher = plan.watch ? watchRelaySources(layout) : undefined;
      signal = await stopRequested;
      watcher?.close();
    } else {
      signal = first;
    }
  } catch (err) {
    log.warn("start failed; stopping what was started");
    await layout.stop().catch((stopErr: unknown) => log.warn(String(stopErr)));
    throw err;
  }
  log.info(`${signal}: stopping`);
  // It ends a start under way first (which then rejects: expected), so nothing is left running.
  await layout.stop();
  await started.catch(() => undefined);
  log.info("stopped");
  return 0;
}

function watchRelaySources(layout: LocalLayout): { close(): void } {
  log.info(`watching ${RELAY_SOURCES}: a change restarts the relays one at a time`);
  return watchSources(RELAY_SOURCES, (files) => {
    log.info(`changed: ${files.join(", ")}`);
    void layout.restartRelays().catch((err: unknown) => log.warn(String(err)));
  });
}

exitWhenDone(main(process.argv.slice(2)), (err) => {
  if (err instanceof CliError || err instanceof PlanError) {
    console.error(`influx-ha local: ${err.message}\nSee npm start -- --help`);
    return 2;
  }
  if (err instanceof Refused || err instanceof LockedError) {
    console.error(`influx-ha local: not started: ${err.message}`);
  } else {
    console.error("influx-ha local: failed:", err instanceof Error ? err.message : err);
  }
  return 1;
});
