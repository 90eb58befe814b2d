// Brings a planned local layout up and down: the influxd replicas and their databases, the relays,
// then HAProxy in front. Stopping goes the other way, so no process is left writing to one that is gone.
import { mkdir, writeFile } from "node:fs/promises";
import type { ServerState } from "../haproxy/stats-csv.js";
import { describeExit, type ExitInfo } from "./child.js";
import { haproxyProcess, fetchServerStates } from "./haproxy-process.js";
import { InfluxdProcess } from "./influxd.js";
import type { LocalPlan, RelayPlan } from "./plan.js";
import { relayProcess } from "./relay-process.js";
import type { ServiceProcess } from "./service-process.js";
import { waitFor } from "./wait.js";

export interface LayoutLog {
  info(line: string): void;
  warn(line: string): void;
}

// HAProxy needs checkRise good checks (2 s apart by default) to trust a server that was down.
const ALL_UP_TIMEOUT_MS = 30_000;

export class LocalLayout {
  private readonly replicas = new Map<string, InfluxdProcess>();
  private readonly relays = new Map<string, ServiceProcess>();
  private haproxy: ServiceProcess | undefined;
  private stopping: Promise<void> | undefined;
  /** Relay restarts run one after another, never during a stop. */
  private restarts: Promise<void> = Promise.resolve();

  constructor(
    private readonly plan: LocalPlan,
    private readonly log: LayoutLog,
  ) {}

  /** Starts everything and waits until HAProxy sees every server up. On failure the caller still calls stop(). */
  async start(): Promise<void> {
    const { plan, log } = this;
    for (const replica of plan.replicas) {
      const influxd = new InfluxdProcess({
        dir: replica.dir,
        httpPort: replica.httpPort,
        rpcPort: replica.rpcPort,
        udp: { port: replica.udpPort, database: plan.topology.udpDatabase! },
        detached: true,
        onUnexpectedExit: (info) =>
          this.died(`${replica.name} (${replica.url})`, info, replica.logPath, "the relays queue its writes until it is back"),
      });
      this.replicas.set(replica.name, influxd);
    }
    log.info(`starting ${this.replicas.size} influxd replicas in ${plan.runDir}`);
    await settleAll([...this.replicas.values()].map((influxd) => influxd.start()));
    this.checkNotStopping();
    for (const db of plan.topology.databases) {
      await settleAll([...this.replicas.values()].map((influxd) => influxd.createDatabase(db)));
    }
    this.checkNotStopping();

    log.info(`starting ${plan.relays.length} relays`);
    await settleAll(plan.relays.map((relay) => this.startRelay(relay)));
    this.checkNotStopping();

    const { haproxy } = plan;
    await mkdir(haproxy.dir, { recursive: true });
    // It holds the stats password.
    await writeFile(haproxy.configPath, haproxy.cfg, { mode: 0o600 });
    this.checkNotStopping();
    log.info(`starting haproxy on ${plan.clientUrl}`);
    this.haproxy = haproxyProcess({
      configPath: haproxy.configPath,
      logPath: haproxy.logPath,
      cwd: haproxy.dir,
      statsUrl: haproxy.statsUrl,
      auth: plan.topology.stats,
      detached: true,
      onUnexpectedExit: (info) => this.died("haproxy", info, haproxy.logPath, `${plan.clientUrl} is unreachable until the next start`),
    });
    await this.haproxy.start();
    await waitFor(async () => (await this.serverStates()).every((s) => s.status === "UP"), {
      timeoutMs: ALL_UP_TIMEOUT_MS,
      intervalMs: 200,
      what: "haproxy to see every relay up",
    });
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
    const run = async (): Promise<void> => {
      for (const name of names) {
        if (this.stopping) return;
        const relay = this.plan.relays.find((r) => r.name === name);
        if (!relay) throw new Error(`no relay named ${name}`);
        await this.relays.get(name)?.stop();
        this.log.info(`restarting ${name}`);
        try {
          await this.startRelay(relay);
          this.log.info(`${name} is up again`);
        } catch (err) {
          this.log.warn(`${name} did not start again: ${(err as Error).message}`);
        }
      }
    };
    const next = this.restarts.then(run);
    this.restarts = next.catch(() => undefined);
    return next;
  }

  /** HAProxy first (no new requests), then the relays, then the replicas. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.restarts;
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

  private async startRelay(relay: RelayPlan): Promise<void> {
    await mkdir(relay.dir, { recursive: true });
    await writeFile(relay.configPath, relay.toml);
    const service = relayProcess({
      name: relay.name,
      configPath: relay.configPath,
      logPath: relay.logPath,
      url: relay.url,
      detached: true,
      onUnexpectedExit: (info) => this.died(relay.name, info, relay.logPath, "haproxy sends writes to the other relay"),
    });
    this.relays.set(relay.name, service);
    await service.start();
  }

  private died(what: string, info: ExitInfo, logPath: string, consequence: string): void {
    if (this.stopping) return;
    this.log.warn(`${what} exited unexpectedly (${describeExit(info)}); ${consequence}. Its log: ${logPath}`);
  }

  private checkNotStopping(): void {
    if (this.stopping) throw new Error("stopped while starting");
  }
}

/** Waits for every promise, then throws the first failure (so none is left running unobserved). */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
