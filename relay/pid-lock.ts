// One owner per directory (a run dir, a spool dir). A pid alone cannot name the owner: killed -9, a relay's
// pid is a zombie for a moment; after a reboot, or in a container, the same pid belongs to someone else. So
// the owner is an entry file `<lock>.owner-<pid>-<start>-<boot id>` (start: /proc/<pid>/stat's starttime, in
// clock ticks since boot), made with an exclusive create: it holds only while a process with that pid, that
// start time and that boot id runs and is not a zombie. An entry's name is unique to one process's life, so
// removing a stale one can never remove a live one: two relays starting at once cannot both win. The lock
// file itself keeps holding just the owner's pid, for `kill $(cat <lock>)` and for earlier versions.
import { basename, dirname, join } from "node:path";
import { readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";

export interface Lock {
  readonly path: string;
  /** Removes the lock file and our entry. Idempotent. */
  release(): void;
}

/** The directory is in use by a live process. */
export class LockedError extends Error {
  override readonly name = "LockedError";
}

/** One process's life: a pid is reused, a pid with its start time and boot id is not. */
interface ProcessIdentity {
  readonly pid: number;
  /** Clock ticks since boot, as /proc/<pid>/stat says: kept as text, it is only compared. */
  readonly startTicks: string;
  readonly bootId: string;
}

interface ProcessStat {
  /** The executable's name, at most 15 characters. */
  readonly comm: string;
  /** R, S, D, ..., Z for a zombie, X for dead. */
  readonly state: string;
  readonly startTicks: string;
}

/** Starters that find each other's entries both step back and retry; an established owner is refused at once. */
const ATTEMPTS = 5;
const BACKOFF_MS = { min: 5, max: 50 };
/** USER_HZ, the unit of /proc/<pid>/stat's starttime: 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/** Takes the lock at `path` (its directory must exist). Throws LockedError if a live process holds it. */
export function acquireLock(path: string, what: string): Lock {
  const me = ownIdentity();
  const entry = join(dirname(path), entryName(basename(path), me));
  for (let attempt = 1; ; attempt++) {
    try {
      writeFileSync(entry, "", { flag: "wx" });
    } catch (err) {
      // Our own entry: this very process holds the lock already.
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new LockedError(alreadyRunning(what, me.pid, path));
      throw err;
    }
    const rivals = liveRivals(path, me);
    const named = readPid(path);
    if (rivals.length === 0) {
      const legacy = named !== undefined && named !== me.pid && isLegacyOwner(named, path) ? named : undefined;
      if (legacy === undefined) {
        writePidFile(path);
        return ownLock(path, entry);
      }
      unlinkQuietly(entry);
      throw new LockedError(
        `${alreadyRunning(what, legacy, path)} It may be an earlier version, which names itself by pid only: ` +
          `if pid ${legacy} is something else, delete the lock file.`,
      );
    }
    unlinkQuietly(entry);
    // The owner named in the lock file has won already; other rivals are starting too, and may step back.
    const established = rivals.find((rival) => rival.pid === named);
    if (established !== undefined || attempt >= ATTEMPTS) {
      throw new LockedError(alreadyRunning(what, (established ?? rivals[0]!).pid, path));
    }
    sleepSync(BACKOFF_MS.min + Math.random() * (BACKOFF_MS.max - BACKOFF_MS.min));
  }
}

function alreadyRunning(what: string, pid: number, path: string): string {
  return `${what} is already running (pid ${pid}, lock file ${path}): stop it first (Ctrl-C in its terminal, or kill ${pid}).`;
}

/** The other entries of live processes; stale ones (their process gone, a zombie, or of another boot) are removed. */
function liveRivals(path: string, me: ProcessIdentity): ProcessIdentity[] {
  const base = basename(path);
  const rivals: ProcessIdentity[] = [];
  for (const name of readdirSync(dirname(path))) {
    const owner = parseEntryName(base, name);
    if (owner === undefined || sameProcess(owner, me)) continue;
    if (isRunning(owner, me.bootId)) rivals.push(owner);
    else unlinkQuietly(join(dirname(path), name));
  }
  return rivals;
}

function isRunning(owner: ProcessIdentity, bootId: string): boolean {
  if (owner.bootId !== bootId) return false;
  const stat = readStat(owner.pid);
  return stat !== undefined && isAlive(stat) && stat.startTicks === owner.startTicks;
}

/**
 * A lock file with a pid and no live entry for it: an earlier version's, or one left by a crash. It counts as
 * held only if that pid is alive, not a zombie, runs node, and started before the file was written (a process
 * that started after cannot have written it: the pid was reused, or the file is from before this boot).
 */
function isLegacyOwner(pid: number, path: string): boolean {
  const stat = readStat(pid);
  if (stat === undefined || !isAlive(stat) || !stat.comm.startsWith("node")) return false;
  const startedAtMs = (bootTimeSeconds() + Number(stat.startTicks) / CLOCK_TICKS_PER_SECOND) * 1000;
  try {
    return startedAtMs <= statSync(path).mtimeMs;
  } catch {
    return false; // the file went away meanwhile
  }
}

const isAlive = (stat: ProcessStat): boolean => stat.state !== "Z" && stat.state !== "X";

const sameProcess = (a: ProcessIdentity, b: ProcessIdentity): boolean =>
  a.pid === b.pid && a.startTicks === b.startTicks && a.bootId === b.bootId;

function ownIdentity(): ProcessIdentity {
  const stat = readStat(process.pid);
  if (stat === undefined) throw new Error(`cannot read /proc/${process.pid}/stat: the lock needs Linux's /proc`);
  return { pid: process.pid, startTicks: stat.startTicks, bootId: readFileSync(BOOT_ID_PATH, "utf8").trim() };
}

const ENTRY_MARK = ".owner-";

function entryName(lockName: string, owner: ProcessIdentity): string {
  return `${lockName}${ENTRY_MARK}${owner.pid}-${owner.startTicks}-${owner.bootId}`;
}

function parseEntryName(lockName: string, name: string): ProcessIdentity | undefined {
  if (!name.startsWith(lockName + ENTRY_MARK)) return undefined;
  const match = /^(\d+)-(\d+)-([0-9a-f-]+)$/.exec(name.slice(lockName.length + ENTRY_MARK.length));
  return match ? { pid: Number(match[1]), startTicks: match[2]!, bootId: match[3]! } : undefined;
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
function readStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const commEnd = text.lastIndexOf(")");
  const fields = text.slice(commEnd + 2).split(" ");
  const state = fields[0];
  const startTicks = fields[19]; // field 22 of the line
  if (state === undefined || startTicks === undefined) return undefined;
  return { comm: text.slice(text.indexOf("(") + 1, commEnd), state, startTicks };
}

/** When this boot started, in seconds since the epoch (/proc/stat's btime). */
function bootTimeSeconds(): number {
  const match = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  if (!match) throw new Error("no btime in /proc/stat");
  return Number(match[1]);
}

function readPid(path: string): number | undefined {
  try {
    const text = readFileSync(path, "utf8").trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the lock file in one step, so an earlier version never reads it empty (and takes it for stale). */
function writePidFile(path: string): void {
  const next = `${path}.new-${process.pid}`;
  writeFileSync(next, `${process.pid}\n`);
  renameSync(next, path);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function ownLock(path: string, entry: string): Lock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.removeListener("exit", release);
    // The lock file first: once our entry is gone, a new owner may write its own.
    for (const file of readPid(path) === process.pid ? [path, entry] : [entry]) {
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
    }
  };
  // A crash must not leave a lock behind either (a stale one would be taken over anyway).
  process.once("exit", release);
  return { path, release };
}
