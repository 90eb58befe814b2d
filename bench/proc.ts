// Child processes of the benchmark: spawning, waiting, stopping, and making
// sure none outlives the benchmark (normal exit, errors, Ctrl-C).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Where the child's stderr (and stdout, unless piped) goes. */
  readonly logPath: string;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<Exit>;
  /** Set once the process has exited. */
  exit: Exit | undefined;
}

export interface SpawnOptions {
  cwd: string;
  logPath: string;
  /** Pipe stdout to us (to read a readiness line) instead of into the log. */
  pipeStdout: boolean;
}

const live = new Set<ChildProcess>();

export async function spawnChild(name: string, argv: readonly string[], opts: SpawnOptions): Promise<Child> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error(`${name}: empty command line`);
  // Output goes straight to a file, so a chatty child costs the load generator nothing.
  const log = openSync(opts.logPath, "w");
  let proc: ChildProcess;
  try {
    proc = spawn(command, args, { cwd: opts.cwd, stdio: ["ignore", opts.pipeStdout ? "pipe" : log, log] });
  } finally {
    closeSync(log);
  }
  await new Promise<void>((resolve, reject) => {
    proc.once("spawn", resolve);
    proc.once("error", (err) => reject(new Error(`${name}: cannot start ${command}: ${err.message}`)));
  });
  live.add(proc);

  const child: Child = {
    name,
    pid: proc.pid!,
    proc,
    logPath: opts.logPath,
    exit: undefined,
    exited: new Promise<Exit>((resolve) => {
      proc.once("exit", (code, signal) => {
        live.delete(proc);
        child.exit = { code, signal };
        resolve(child.exit);
      });
    }),
  };
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
    const onExit = (): void => finish(new Error(`${child.name}: exited (${describeExit(child.exit)}) before becoming ready`));
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
export async function stopChild(child: Child, graceMs: number): Promise<{ exit: Exit; forced: boolean }> {
  if (child.exit) return { exit: child.exit, forced: false };
  child.proc.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const first = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (first !== "timeout") return { exit: first, forced: false };
  child.proc.kill("SIGKILL");
  return { exit: await child.exited, forced: true };
}

export function describeExit(exit: Exit | undefined): string {
  if (!exit) return "still running";
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** The last `bytes` of the child's log, for error messages. */
export function logTail(child: Child, bytes = 2000): string {
  try {
    const text = readFileSync(child.logPath, "utf8");
    return text.length > bytes ? "…" + text.slice(-bytes) : text;
  } catch {
    return "";
  }
}

/** Kill every still-running child when the benchmark exits, however it exits. */
export function killChildrenOnExit(): void {
  process.once("exit", killAll);
  const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [signal, number] of Object.entries(signals)) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping child processes`);
      killAll();
      process.exit(128 + number);
    });
  }
}

function killAll(): void {
  for (const proc of live) proc.kill("SIGKILL");
}
