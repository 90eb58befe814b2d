// One owner per directory (a run dir, a spool dir): a lock file holding the owner's pid. A lock whose pid is dead is stale and taken over.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";

export interface Lock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** The run dir is in use by a live process. */
export class LockedError extends Error {
  override readonly name = "LockedError";
}

const ATTEMPTS = 3;

/** Creates `path` holding our pid; the directory must exist. Throws LockedError if a live process holds it. */
export function acquireLock(path: string, what: string): Lock {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
      return ownLock(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = readPid(path);
    if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
      throw new LockedError(
        `${what} is already running (pid ${owner}, lock file ${path}): stop it first (Ctrl-C in its terminal, or kill ${owner}). ` +
          `If pid ${owner} is something else, delete the lock file.`,
      );
    }
    // Stale: its owner is gone (or the file is unreadable). Take it over.
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  throw new LockedError(`could not take the lock ${path}: another process keeps creating it`);
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, but not ours to signal
  }
}

function readPid(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

function ownLock(path: string): Lock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.removeListener("exit", release);
    if (readPid(path) !== process.pid) return; // taken over meanwhile: not ours to remove
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
  // A crash must not leave a lock behind either (a stale one would be taken over anyway).
  process.once("exit", release);
  return { path, release };
}
