// A long-running child of the local layout (a relay, HAProxy): started, waited for until it answers,
// watched for an unexpected exit, and stopped with a bounded grace. Single use: one start, one stop.
import { Agent } from "undici";
import { ExitWatch, isAlive, spawnLogged, stopChild, type Child, type ExitInfo } from "./child.js";
import { waitFor } from "./wait.js";

export interface ServiceProcessOptions {
  /** "relay-0", "haproxy": used in messages. */
  readonly what: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly logPath: string;
  /** One readiness probe; `agent` is a private connection pool, destroyed after start. */
  readonly isReady: (agent: Agent) => Promise<boolean>;
  readonly readyTimeoutMs: number;
  /** Sent first on stop (HAProxy finishes requests in flight on SIGUSR1); SIGKILL follows after termGraceMs. */
  readonly stopSignal: NodeJS.Signals;
  readonly termGraceMs: number;
  /** Own process group, so a Ctrl-C in the terminal reaches only its parent. Default false. */
  readonly detached?: boolean;
  /** Called when it exits while it should be running. */
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

const KILL_WAIT_MS = 5_000;

export class ServiceProcess {
  private child: Child | undefined;
  private exitWatch: ExitWatch | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: ServiceProcessOptions) {}

  get pid(): number | undefined {
    const child = this.child?.process;
    return child && isAlive(child) ? child.pid : undefined;
  }

  /**
   * Starts it and waits (bounded) until it is ready; on failure the error carries the tail of its log.
   * When `signal` aborts first, it is stopped as stop() does and start() rejects at once.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const { what, logPath } = this.opts;
    if (this.stopping) throw new Error(`${what}: start() after stop()`);
    if (this.child) throw new Error(`${what}: already started`);
    if (signal?.aborted) throw stoppedWhileStarting(what);
    const child = spawnLogged(this.opts.command, this.opts.args, { cwd: this.opts.cwd, logPath, detached: this.opts.detached ?? false });
    this.child = child;
    this.exitWatch = new ExitWatch(child, { what, logPath, onUnexpectedExit: this.opts.onUnexpectedExit });
    const agent = new Agent({ connections: 1, keepAliveTimeout: 1_000 });
    // Its exit then ends the readiness wait below; stop() reports a failure to whoever calls it next.
    const stopOnAbort = (): void => void this.stop().catch(() => undefined);
    signal?.addEventListener("abort", stopOnAbort, { once: true });
    try {
      await this.exitWatch.untilReady(
        (exited) => waitFor(() => this.opts.isReady(agent), { timeoutMs: this.opts.readyTimeoutMs, intervalMs: 100, what, signal: exited }),
        KILL_WAIT_MS,
      );
    } catch (err) {
      throw signal?.aborted ? stoppedWhileStarting(what) : err;
    } finally {
      signal?.removeEventListener("abort", stopOnAbort);
      await agent.destroy().catch(() => undefined);
    }
    if (signal?.aborted) throw stoppedWhileStarting(what);
  }

  /** stopSignal, SIGKILL after the grace period. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.exitWatch?.unwatch();
      if (this.child) {
        await stopChild(this.child, this.opts.what, { termGraceMs: this.opts.termGraceMs, killWaitMs: KILL_WAIT_MS }, this.opts.stopSignal);
      }
    })();
    return this.stopping;
  }
}

function stoppedWhileStarting(what: string): Error {
  return new Error(`${what}: stopped while starting`);
}
