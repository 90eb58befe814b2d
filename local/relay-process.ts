// Our relay (relay/main.ts) as a child process, started the way an operator starts it: -config FILE.
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { describeExit, isAlive, killChild, spawnLogged, stopChild, type Child, type ExitInfo } from "./child.js";
import { logTail } from "./logfile.js";
import { waitFor } from "./wait.js";

export interface RelayProcessOptions {
  readonly configPath: string;
  readonly logPath: string;
  /** http://127.0.0.1:PORT of its HTTP listener, for /ping. */
  readonly url: string;
  /** Own process group, so a Ctrl-C in the terminal reaches only its parent. Default false. */
  readonly detached?: boolean;
  /** Called when the relay exits while it should be running. */
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ENTRY = fileURLToPath(new URL("../relay/main.ts", import.meta.url));
const READY_TIMEOUT_MS = 20_000;
// The relay itself gives requests in flight shutdown-timeout (10 s by default) after SIGTERM.
const TERM_GRACE_MS = 15_000;
const KILL_WAIT_MS = 5_000;

export class RelayProcess {
  private child: Child | undefined;
  private watched = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: RelayProcessOptions) {}

  get pid(): number | undefined {
    const child = this.child?.process;
    return child && isAlive(child) ? child.pid : undefined;
  }

  /** Starts the relay and waits (bounded) until /ping answers; on failure the error carries the tail of its log. */
  async start(): Promise<void> {
    if (this.stopping) throw new Error("relay: start() after stop()");
    if (this.child) throw new Error("relay: already started");
    // `--import tsx` is resolved from the working directory: the project root, where tsx is installed.
    const child = spawnLogged(process.execPath, ["--import", "tsx", ENTRY, "-config", this.opts.configPath], {
      cwd: ROOT,
      logPath: this.opts.logPath,
      detached: this.opts.detached ?? false,
    });
    this.child = child;
    const abort = new AbortController();
    void child.exited.then((info) => {
      if (this.watched) {
        this.watched = false;
        this.opts.onUnexpectedExit?.(info);
      } else {
        abort.abort(new Error(`the relay exited during startup (${describeExit(info)})\n${logTail(this.opts.logPath)}`));
      }
    });
    const agent = new Agent({ connections: 1, keepAliveTimeout: 1_000 });
    try {
      await waitFor(
        async () => {
          const res = await request(`${this.opts.url}/ping`, { dispatcher: agent, headersTimeout: 1_000, bodyTimeout: 1_000 });
          await res.body.dump();
          return res.statusCode === 204;
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: `the relay's /ping on ${this.opts.url}`, signal: abort.signal },
      );
    } catch (err) {
      await killChild(child, "the relay after a failed start", KILL_WAIT_MS).catch(() => undefined);
      if (abort.signal.aborted) throw err; // the message already has the log tail
      throw new Error(`${(err as Error).message}\n${logTail(this.opts.logPath)}`);
    } finally {
      await agent.destroy().catch(() => undefined);
    }
    this.watched = isAlive(child.process);
  }

  /** SIGTERM, SIGKILL after a grace period. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.watched = false;
      if (this.child) await stopChild(this.child, "the relay", { termGraceMs: TERM_GRACE_MS, killWaitMs: KILL_WAIT_MS });
    })();
    return this.stopping;
  }
}
