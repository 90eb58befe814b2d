// Child processes of the local layout and the tests: spawned with output appended to a log file,
// waited for until ready, watched for a crash, stopped with SIGTERM then SIGKILL (both bounded), and
// SIGKILLed if our own process exits first.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { logTail } from "./logfile.js";
import { withTimeout } from "./wait.js";

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

export interface Child {
  readonly process: ChildProcess;
  /** Resolves once the process has exited (or failed to spawn); never rejects. */
  readonly exited: Promise<ExitInfo>;
}

export interface SpawnLoggedOptions {
  readonly cwd: string;
  /** Appended to, never truncated: a restart keeps the earlier runs' lines. */
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Pipe stdout to us (to read a readiness line) instead of into the log. */
  readonly pipeStdout?: boolean;
  /**
   * Own process group: a Ctrl-C in the terminal then reaches only us, and we stop the children
   * in our order. Otherwise the terminal's SIGINT reaches the child at the same time as us.
   */
  readonly detached?: boolean;
  /** Runs synchronously in our 'exit' handler after the child got SIGKILL (e.g. removing its temp dir). */
  readonly onParentExit?: () => void;
}

export function spawnLogged(command: string, args: readonly string[], opts: SpawnLoggedOptions): Child {
  const logFd = openSync(opts.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", opts.pipeStdout ? "pipe" : logFd, logFd],
      detached: opts.detached ?? false,
    });
  } finally {
    closeSync(logFd); // the child has its own copy
  }
  live.set(child, opts.onParentExit);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  }).finally(() => live.delete(child));
  return { process: child, exited };
}

export function isAlive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

export function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn error: ${info.error.message}`;
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

export interface ExitWatchOptions {
  /** "influxd", "relay-0": used in messages. */
  readonly what: string;
  /** Its log, whose tail goes into the error of a failed start. */
  readonly logPath: string;
  /** Called when it exits after it was ready, until unwatch(): a crash, not our stop or kill. */
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

/** Tells a child's exit during start-up (the start fails at once) from one after it (a crash). */
export class ExitWatch {
  private watching = false;
  /** Set by unwatch(), which may come while start-up is still under way (a stop). */
  private unwatched = false;
  private readonly startup = new AbortController();

  constructor(
    private readonly child: Child,
    private readonly opts: ExitWatchOptions,
  ) {
    void child.exited.then((info) => {
      if (this.watching) {
        this.watching = false;
        opts.onUnexpectedExit?.(info);
      } else {
        this.startup.abort(new Error(`${opts.what} exited during startup (${describeExit(info)})\n${logTail(opts.logPath)}`));
      }
    });
  }

  /**
   * Waits until `ready` resolves; `ready` must give up when its signal aborts (the child exited). On any
   * failure the child is killed (bounded) and the error carries the tail of its log.
   */
  async untilReady(ready: (signal: AbortSignal) => Promise<void>, killWaitMs: number): Promise<void> {
    try {
      await ready(this.startup.signal);
    } catch (err) {
      await killChild(this.child, `${this.opts.what} after a failed start`, killWaitMs).catch(() => undefined);
      if (this.startup.signal.aborted) throw err; // the message already has the log tail
      throw new Error(`${(err as Error).message}\n${logTail(this.opts.logPath)}`);
    }
    this.watching = !this.unwatched && isAlive(this.child.process);
  }

  /** Its exit is ours from now on (a stop, a kill): not reported. */
  unwatch(): void {
    this.unwatched = true;
    this.watching = false;
  }
}

export interface StopTimeouts {
  /** How long SIGTERM gets before SIGKILL. */
  readonly termGraceMs: number;
  /** How long to wait for the process to be gone after SIGKILL. */
  readonly killWaitMs: number;
}

/** `signal` (SIGTERM), then SIGKILL when the grace period is over. Rejects only if even SIGKILL does not end it in time. */
export async function stopChild(child: Child, what: string, timeouts: StopTimeouts, signal: NodeJS.Signals = "SIGTERM"): Promise<ExitInfo> {
  if (isAlive(child.process)) child.process.kill(signal);
  try {
    return await withTimeout(child.exited, timeouts.termGraceMs, `${what} to exit after ${signal}`);
  } catch {
    return killChild(child, what, timeouts.killWaitMs);
  }
}

/** SIGKILL and wait (bounded) until the process is gone. */
export async function killChild(child: Child, what: string, killWaitMs: number): Promise<ExitInfo> {
  if (isAlive(child.process)) child.process.kill("SIGKILL");
  return withTimeout(child.exited, killWaitMs, `${what} to die after SIGKILL`);
}

// Every child spawned here that has not exited yet. 'exit' handlers must be synchronous: SIGKILL is.
const live = new Map<ChildProcess, (() => void) | undefined>();

process.once("exit", () => {
  for (const [child, onParentExit] of live) {
    try {
      if (isAlive(child)) child.kill("SIGKILL");
    } catch {
      // already gone
    }
    try {
      onParentExit?.();
    } catch {
      // best effort
    }
  }
});
