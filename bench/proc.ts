// Child processes of the benchmark, on top of the local layout's spawn and stop (local/child.ts): each has a
// name and a fresh log, a sink's stdout can be read for its port, and Ctrl-C ends them with the benchmark.
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { spawnLogged, stopChild as stopLogged, type ExitInfo } from "../local/child.js";

export { describeExit } from "../local/child.js";
export type { ExitInfo } from "../local/child.js";

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Where the child's stderr (and stdout, unless piped) goes. */
  readonly logPath: string;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<ExitInfo>;
  /** Set once the process has exited. */
  exit: ExitInfo | undefined;
}

export interface SpawnOptions {
  cwd: string;
  logPath: string;
  /** Pipe stdout to us (to read a readiness line) instead of into the log. */
  pipeStdout: boolean;
}

/** How long a child gets to die after SIGKILL. */
const KILL_WAIT_MS = 5_000;

export async function spawnChild(name: string, argv: readonly string[], opts: SpawnOptions): Promise<Child> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error(`${name}: empty command line`);
  rmSync(opts.logPath, { force: true }); // one run's output per log
  const { process: proc, exited } = spawnLogged(command, args, { cwd: opts.cwd, logPath: opts.logPath, pipeStdout: opts.pipeStdout });
  await new Promise<void>((resolve, reject) => {
    proc.once("spawn", resolve);
    void exited.then((info) => reject(new Error(`${name}: cannot start ${command}: ${info.error?.message ?? "exited at once"}`)));
  });
  const child: Child = { name, pid: proc.pid!, proc, logPath: opts.logPath, exited, exit: undefined };
  void exited.then((info) => (child.exit = info));
  return child;
}

/** The first line the child prints on stdout; fails if it exits or stays silent for `timeoutMs`. */
export function firstLine(child: Child, timeoutMs: number): Promise<string> {
  const stdout = child.proc.stdout;
  if (!stdout) return Promise.reject(new Error(`${child.name}: stdout is not piped`));
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => finish(new Error(`${child.name}: no output within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("utf8");
      const nl = text.indexOf("\n");
      if (nl >= 0) finish(undefined, text.slice(0, nl).trim());
    };
    const onExit = (): void => finish(new Error(`${child.name}: exited before becoming ready`));
    function finish(err: Error | undefined, line?: string): void {
      clearTimeout(timer);
      stdout!.off("data", onData);
      child.proc.off("exit", onExit);
      // Keep draining so later output can never fill the pipe and block the child.
      stdout!.resume();
      if (err) reject(err);
      else resolve(line!);
    }
    stdout.on("data", onData);
    child.proc.once("exit", onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`. Returns the exit and whether SIGKILL was needed. */
export async function stopChild(child: Child, graceMs: number): Promise<{ exit: ExitInfo; forced: boolean }> {
  if (child.exit) return { exit: child.exit, forced: false };
  const exit = await stopLogged({ process: child.proc, exited: child.exited }, child.name, {
    termGraceMs: graceMs,
    killWaitMs: KILL_WAIT_MS,
  });
  return { exit, forced: exit.signal === "SIGKILL" };
}

/**
 * Ctrl-C, SIGTERM or SIGHUP end the benchmark at once; local/child.ts then SIGKILLs every child
 * still running as the process exits.
 */
export function killChildrenOnExit(): void {
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [signal, number] of Object.entries(signals)) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping child processes`);
      process.exit(128 + number);
    });
  }
}

/** A benchmark entry: children die with it, its exit code is main's, and a failure is one line, not a stack. */
export async function runBenchmark(main: () => Promise<number>): Promise<void> {
  killChildrenOnExit();
  try {
    process.exitCode = await main();
  } catch (err) {
    console.error(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
