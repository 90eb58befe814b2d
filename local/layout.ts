// Brings a planned local layout up and down: the influxd replicas and their databases, the relays,
// then HAProxy in front. Stopping goes the other way, so no process is left writing to one that is gone.
// A stop ends a start under way at once, and (with `restart`) a child that exits on its own is started
// again with backoff, as systemd (Restart=always) and the kubelet do for the deployed layouts.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import type { ServerState } from "../haproxy/stats-csv.js";
import { describeExit, type ExitInfo } from "./child.js";
import { haproxyProcess, fetchServerStates } from "./haproxy-process.js";
import { InfluxdProcess } from "./influxd.js";
import type { LocalPlan, RelayPlan } from "./plan.js";
import { relayProcess } from "./relay-process.js";
import { RestartBackoff } from "./restart-backoff.js";
import type { ServiceProcess } from "./service-process.js";
import { sleep, waitFor } from "./wait.js";

export interface LayoutLog {
  info(line: string): void;
  warn(line: string): void;
}

export interface LayoutOptions {
  /**
   * Start a replica, relay or HAProxy that exits on its own again, after a backoff pause (restart-backoff.ts).
   * Default false, only reported: tests and the soak kill and restart processes themselves.
   */
  readonly restart?: boolean;
}

// HAProxy needs checkRise good checks (2 s apart by default) to trust a server that was down.
const ALL_UP_TIMEOUT_MS = 30_000;

/** A child the layout can start again after it exited on its own. */
interface Supervised {
  /** influxd-0, relay-1, haproxy */
  readonly name: string;
  readonly logPath: string;
  /** What goes on while it is down. */
  readonly meanwhile: string;
  /** Starts it again, unless another start (restartRelays) came first: false then. */
  readonly startAgain: (signal: AbortSignal) => Promise<boolean>;
}

export class LocalLayout {
  private readonly replicas = new Map<string, InfluxdProcess>();
  private readonly relays = new Map<string, ServiceProcess>();
  private haproxy: ServiceProcess | undefined;
  /** Aborted by stop(): ends every start-up wait, start and restart pause under way. */
  private readonly stopSignal = new AbortController();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Relay restarts (--watch, and after a crash) run one after another, never during a stop. */
  private restarts: Promise<void> = Promise.resolve();
  /** Automatic restarts under way (in their pause or starting), which stop() waits for. */
  private readonly recoveries = new Set<Promise<void>>();
  private readonly backoffs = new Map<string, RestartBackoff>();

  constructor(
    private readonly plan: LocalPlan,
    private readonly log: LayoutLog,
    private readonly options: LayoutOptions = {},
  ) {}

  /** Starts everything and waits until HAProxy sees every server up. On failure the caller still calls stop(). */
  start(): Promise<void> {
    this.starting ??= this.startAll(this.stopSignal.signal);
    return this.starting;
  }

  /** The replica's process, for tests that kill and restart it. */
  influxd(name: string): InfluxdProcess {
    const influxd = this.replicas.get(name);
    if (!influxd) throw new Error(`no replica named ${name}`);
    return influxd;
  }

  /** Pid of a running relay; undefined while it is down. */
  relayPid(name: string): number | undefined {
    return this.relays.get(name)?.pid;
  }

  /** Each server's state as HAProxy sees it. */
  serverStates(): Promise<ServerState[]> {
    return fetchServerStates(this.plan.haproxy.statsUrl, this.plan.topology.stats);
  }

  /**
   * Stops the relays one at a time and starts each again (new code under --watch, or after a crash),
   * so HAProxy always has one to send writes to. A relay that fails to start is reported and left down.
   */
  restartRelays(names: readonly string[] = this.plan.relays.map((r) => r.name)): Promise<void> {
    return this.oneRelayRestartAtATime(async () => {
      for (const name of names) {
        if (this.stopSignal.signal.aborted) return;
        const relay = this.relayPlan(name);
        await this.relays.get(name)?.stop();
        this.log.info(`restarting ${name}`);
        try {
          await this.startRelay(relay, this.stopSignal.signal);
          this.log.info(`${name} is up again`);
        } catch (err) {
          if (!this.stopSignal.signal.aborted) this.log.warn(`${name} did not start again: ${(err as Error).message}`);
        }
      }
    });
  }

  /**
   * HAProxy first (no new requests), then the relays, then the replicas. A start or restart under way is
   * ended first, so nothing it would spawn is left behind. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopSignal.abort(new Error("the layout is stopping"));
      await this.starting?.catch(() => undefined);
      await this.restarts;
      await Promise.allSettled(this.recoveries);
      const problems: unknown[] = [];
      const stopAll = async (what: string, processes: readonly { stop(): Promise<void> }[]): Promise<void> => {
        if (processes.length === 0) return;
        this.log.info(`stopping ${what}`);
        const results = await Promise.allSettled(processes.map((p) => p.stop()));
        for (const result of results) if (result.status === "rejected") problems.push(result.reason);
      };
      await stopAll("haproxy", this.haproxy ? [this.haproxy] : []);
      await stopAll("the relays", [...this.relays.values()]);
      await stopAll("the influxd replicas", [...this.replicas.values()]);
      if (problems.length > 0) throw new AggregateError(problems, `stopping left problems: ${problems.map(String).join("; ")}`);
    })();
    return this.stopping;
  }

  private async startAll(signal: AbortSignal): Promise<void> {
    const { plan, log } = this;
    for (const replica of plan.replicas) {
      const influxd: InfluxdProcess = new InfluxdProcess({
        dir: replica.dir,
        httpPort: replica.httpPort,
        rpcPort: replica.rpcPort,
        udp: { port: replica.udpPort, database: plan.topology.udpDatabase! },
        detached: true,
        onUnexpectedExit: (info) =>
          this.exited(info, {
            name: replica.name,
            logPath: replica.logPath,
            meanwhile: "the relays queue its writes",
            startAgain: async (restartSignal) => {
              if (influxd.pid !== undefined) return false;
              await influxd.restart(restartSignal);
              return true;
            },
          }),
      });
      this.replicas.set(replica.name, influxd);
    }
    log.info(`starting ${this.replicas.size} influxd replicas in ${plan.runDir}`);
    await settleAll([...this.replicas.values()].map((influxd) => influxd.start(signal)));
    for (const db of plan.topology.databases) {
      await settleAll([...this.replicas.values()].map((influxd) => influxd.createDatabase(db, signal)));
    }

    throwIfStopping(signal);
    log.info(`starting ${plan.relays.length} relays`);
    await settleAll(plan.relays.map((relay) => this.startRelay(relay, signal)));

    const { haproxy } = plan;
    await mkdir(haproxy.dir, { recursive: true });
    // It holds the stats password.
    await writeFile(haproxy.configPath, haproxy.cfg, { mode: 0o600 });
    throwIfStopping(signal);
    log.info(`starting haproxy on ${plan.clientUrl}`);
    await this.startHaproxy(signal);
    await waitFor(async () => (await this.serverStates()).every((s) => s.status === "UP"), {
      timeoutMs: ALL_UP_TIMEOUT_MS,
      intervalMs: 200,
      what: "haproxy to see every relay up",
      signal,
    });
  }

  private async startRelay(relay: RelayPlan, signal: AbortSignal): Promise<void> {
    await mkdir(relay.dir, { recursive: true });
    // It holds the admin token: its owner's only, a file from an earlier start included.
    await writeFile(relay.configPath, relay.toml, { mode: 0o600 });
    await chmod(relay.configPath, 0o600);
    const service: ServiceProcess = relayProcess({
      name: relay.name,
      configPath: relay.configPath,
      logPath: relay.logPath,
      url: relay.url,
      detached: true,
      onUnexpectedExit: (info) =>
        this.exited(info, {
          name: relay.name,
          logPath: relay.logPath,
          meanwhile: "haproxy sends writes to the other relay",
          startAgain: (restartSignal) =>
            this.oneRelayRestartAtATime(async () => {
              if (this.relays.get(relay.name) !== service) return false;
              await this.startRelay(relay, restartSignal);
              return true;
            }),
        }),
    });
    this.relays.set(relay.name, service);
    await service.start(signal);
  }

  private async startHaproxy(signal: AbortSignal): Promise<void> {
    const { plan } = this;
    const service: ServiceProcess = haproxyProcess({
      configPath: plan.haproxy.configPath,
      logPath: plan.haproxy.logPath,
      cwd: plan.haproxy.dir,
      statsUrl: plan.haproxy.statsUrl,
      auth: plan.topology.stats,
      detached: true,
      onUnexpectedExit: (info) =>
        this.exited(info, {
          name: "haproxy",
          logPath: plan.haproxy.logPath,
          meanwhile: `${plan.clientUrl} is unreachable`,
          startAgain: async (restartSignal) => {
            if (this.haproxy !== service) return false;
            await this.startHaproxy(restartSignal);
            return true;
          },
        }),
    });
    this.haproxy = service;
    await service.start(signal);
  }

  /** A child exited while it should have been running: reported, and started again unless restarts are off. */
  private exited(info: ExitInfo, child: Supervised): void {
    if (this.stopSignal.signal.aborted) return;
    const exit = `${child.name} exited unexpectedly (${describeExit(info)})`;
    if (!this.options.restart) {
      this.log.warn(`${exit}; it stays down, and ${child.meanwhile}. Its log: ${child.logPath}`);
      return;
    }
    const recovery = this.recover(child, exit);
    this.recoveries.add(recovery);
    void recovery.finally(() => this.recoveries.delete(recovery));
  }

  /**
   * Starts it again after a backoff pause, and again after each failed start, until it is up or the layout
   * stops: like Restart=always, it never gives up, and each pause is at most the backoff's maximum.
   */
  private async recover(child: Supervised, exit: string): Promise<void> {
    const signal = this.stopSignal.signal;
    let backoff = this.backoffs.get(child.name);
    if (!backoff) this.backoffs.set(child.name, (backoff = new RestartBackoff()));
    let why = exit;
    while (!signal.aborted) {
      const delayMs = backoff.nextDelayMs();
      this.log.warn(`${why}; restarting in ${delayMs / 1000}s, meanwhile ${child.meanwhile}. Its log: ${child.logPath}`);
      await sleep(delayMs, signal);
      if (signal.aborted) return;
      try {
        const startedHere = await child.startAgain(signal);
        backoff.up();
        if (startedHere) this.log.info(`${child.name} is up again`);
        return;
      } catch (err) {
        // The whole error ends with the tail of its log, which is in the log file.
        why = `${child.name} did not start again (${(err as Error).message.split("\n")[0]})`;
      }
    }
  }

  /** Runs `restart` after the relay restarts before it, so no two starts of a relay overlap. */
  private oneRelayRestartAtATime<T>(restart: () => Promise<T>): Promise<T> {
    const next = this.restarts.then(restart);
    this.restarts = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private relayPlan(name: string): RelayPlan {
    const relay = this.plan.relays.find((r) => r.name === name);
    if (!relay) throw new Error(`no relay named ${name}`);
    return relay;
  }
}

function throwIfStopping(signal: AbortSignal): void {
  if (signal.aborted) throw new Error("stopped while starting");
}

/** Waits for every promise, then throws the first failure (so none is left running unobserved). */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
