// Brings a planned local layout up and down: the influxd replicas, their databases, relay.toml
// and the relay in front of them. Stopping goes the other way: the relay first, then the replicas.
import { mkdir, writeFile } from "node:fs/promises";
import { describeExit, type ExitInfo } from "./child.js";
import { InfluxdProcess } from "./influxd.js";
import type { LocalPlan } from "./plan.js";
import { RelayProcess } from "./relay-process.js";

export interface LayoutLog {
  info(line: string): void;
  warn(line: string): void;
}

export class LocalLayout {
  private readonly replicas: InfluxdProcess[] = [];
  private relay: RelayProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly plan: LocalPlan,
    private readonly log: LayoutLog,
  ) {}

  /** Starts everything and waits until it answers. On failure the caller still calls stop(). */
  async start(): Promise<void> {
    const { plan, log } = this;
    for (const replica of plan.replicas) {
      const influxd = new InfluxdProcess({
        dir: replica.dir,
        httpPort: replica.httpPort,
        rpcPort: replica.rpcPort,
        udp: { port: replica.udpPort, database: plan.udpDatabase },
        detached: true,
        onUnexpectedExit: (info) =>
          this.died(`${replica.name} (${replica.url})`, info, replica.logPath, "the relay keeps writing to the other replicas"),
      });
      this.replicas.push(influxd);
    }
    log.info(`starting ${this.replicas.length} influxd replicas in ${plan.runDir}`);
    await settleAll(this.replicas.map((influxd) => influxd.start()));
    this.checkNotStopping();
    for (const db of plan.databases) {
      await settleAll(this.replicas.map((influxd) => influxd.createDatabase(db)));
    }
    this.checkNotStopping();

    await mkdir(plan.relay.dir, { recursive: true });
    await writeFile(plan.relay.configPath, plan.relay.toml);
    this.checkNotStopping();
    log.info(`starting the relay on ${plan.relay.url}`);
    this.relay = new RelayProcess({
      configPath: plan.relay.configPath,
      logPath: plan.relay.logPath,
      url: plan.relay.url,
      detached: true,
      onUnexpectedExit: (info) => this.died("the relay", info, plan.relay.logPath, `writes to ${plan.clientUrl} fail until the next start`),
    });
    await this.relay.start();
  }

  /** The relay first (so no write reaches a replica that is going away), then the replicas. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const problems: unknown[] = [];
      if (this.relay) {
        this.log.info("stopping the relay");
        await this.relay.stop().catch((err: unknown) => problems.push(err));
      }
      if (this.replicas.length > 0) {
        this.log.info("stopping the influxd replicas");
        const results = await Promise.allSettled(this.replicas.map((influxd) => influxd.stop()));
        for (const result of results) if (result.status === "rejected") problems.push(result.reason);
      }
      if (problems.length > 0) throw new AggregateError(problems, `stopping left problems: ${problems.map(String).join("; ")}`);
    })();
    return this.stopping;
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
