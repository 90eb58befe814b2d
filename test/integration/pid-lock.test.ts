// The directory lock (relay/pid-lock.ts) against real processes: a lock whose pid is now a zombie, another
// program, or from another boot is taken over; a live owner is refused, also between real relays on one
// spool; racing starters never both win; and a relay killed -9 and restarted at once comes up.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { acquireLock, LockedError, type Lock } from "../../relay/pid-lock.js";
import { freePort, sleep, waitFor } from "../helpers/ports.js";
import { exitOf, spawnRelay, startRelayProcess, writeConfig } from "../helpers/relay-process.js";
import { startScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

const PID_LOCK = new URL("../../relay/pid-lock.ts", import.meta.url).pathname;
const RELAY_MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;
const BOOT_ID = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
const OTHER_BOOT_ID = "00000000-0000-4000-8000-000000000000";

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** Starts a child and kills it after the test. */
function startChild(command: string, args: readonly string[], stdin: "ignore" | "pipe" = "ignore"): ChildProcess {
  const child = spawn(command, args, { stdio: [stdin, "pipe", "pipe"] });
  cleanup.push(() => child.kill("SIGKILL"));
  return child;
}

/** State and start time (clock ticks since boot) from /proc/<pid>/stat. */
function procStat(pid: number): { readonly state: string; readonly startTicks: string } {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, startTicks: fields[19]! };
}

/** The owner entry a relay writes next to its lock file, naming a process's life. */
function ownerEntry(lockPath: string, pid: number, startTicks: string, bootId = BOOT_ID): string {
  return `${lockPath}.owner-${pid}-${startTicks}-${bootId}`;
}

const ownerEntries = (dir: string): string[] => readdirSync(dir).filter((name) => name.includes(".owner-"));

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf("\n");
      if (end >= 0) resolve(text.slice(0, end));
    });
    child.on("exit", () => reject(new Error(`exited before printing a line: ${text}`)));
  });
}

/**
 * A zombie: the shell backgrounds a short `sleep`, prints its pid and execs a long `sleep` that never waits
 * for children, so the short one, once it exits, stays unreaped.
 */
async function startZombie(): Promise<number> {
  const holder = startChild("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 30"]);
  const pid = Number(await firstLine(holder));
  await waitFor(async () => procStat(pid).state === "Z", { timeoutMs: 5_000, what: `pid ${pid} to be a zombie` });
  return pid;
}

/** The pid of a process that has exited and been reaped. */
async function goneProcessPid(): Promise<number> {
  const gone = startChild(process.execPath, ["-e", ""]);
  await new Promise((resolve) => gone.on("exit", resolve));
  return gone.pid!;
}

/** A node process that is not a relay: what an earlier relay's pid may look like. */
async function startIdleNode(): Promise<ChildProcess> {
  const child = startChild(process.execPath, ["-e", "console.log('up'); setTimeout(() => {}, 30_000)"]);
  await firstLine(child);
  return child;
}

/** A process holding the lock through acquireLock, as a relay does; resolves once it holds it. */
async function startLockHolder(lockPath: string): Promise<ChildProcess> {
  const script = `import { acquireLock } from ${JSON.stringify(PID_LOCK)};
acquireLock(process.argv[1], "a holder"); console.log("held"); setTimeout(() => {}, 30_000);`;
  const child = startChild(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, lockPath]);
  expect(await firstLine(child)).toBe("held");
  return child;
}

function acquire(lockPath: string): Lock {
  const lock = acquireLock(lockPath, "the test");
  cleanup.push(() => lock.release());
  return lock;
}

/** Takes the lock in this process and checks it now names us, with one owner entry: ours. */
function expectTakenOver(lockPath: string): void {
  acquire(lockPath);
  expect(readFileSync(lockPath, "utf8")).toBe(`${process.pid}\n`);
  expect(ownerEntries(dirname(lockPath))).toEqual([basename(ownerEntry(lockPath, process.pid, procStat(process.pid).startTicks))]);
}

describe("a lock whose owner is gone is taken over", () => {
  it("when its pid now belongs to another program (a reused pid)", async () => {
    const lockPath = join(tempDir(), "LOCK");
    const other = startChild("sleep", ["30"]);
    const stat = procStat(other.pid!);
    writeFileSync(lockPath, `${other.pid}\n`); // an earlier version's lock: a pid only
    writeFileSync(ownerEntry(lockPath, other.pid!, String(Number(stat.startTicks) + 1)), ""); // same pid, another life
    expectTakenOver(lockPath);
    expect(other.exitCode).toBeNull();
  });

  it("when its pid is a zombie: killed -9, not yet reaped", async () => {
    const lockPath = join(tempDir(), "LOCK");
    const zombie = await startZombie();
    writeFileSync(lockPath, `${zombie}\n`);
    writeFileSync(ownerEntry(lockPath, zombie, procStat(zombie).startTicks), ""); // the zombie's own entry
    expectTakenOver(lockPath);
    expect(procStat(zombie).state).toBe("Z");
  });

  it("when it was written before this boot, even though the pid now runs node", async () => {
    const lockPath = join(tempDir(), "LOCK");
    const node = await startIdleNode();
    writeFileSync(ownerEntry(lockPath, node.pid!, procStat(node.pid!).startTicks, OTHER_BOOT_ID), "");
    writeFileSync(lockPath, `${node.pid}\n`);
    const beforeBoot = new Date(Date.now() - 1000 * Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) - 3_600_000);
    utimesSync(lockPath, beforeBoot, beforeBoot);
    expectTakenOver(lockPath);
  });

  it("when its process is gone", async () => {
    const lockPath = join(tempDir(), "LOCK");
    writeFileSync(lockPath, `${await goneProcessPid()}\n`);
    expectTakenOver(lockPath);
  });
});

describe("a lock whose owner runs is refused", () => {
  it("when a process holds it, until that process is killed -9", async () => {
    const lockPath = join(tempDir(), "LOCK");
    const holder = await startLockHolder(lockPath);
    expect(() => acquire(lockPath)).toThrow(
      `the test is already running (pid ${holder.pid}, lock file ${lockPath}): stop it first (Ctrl-C in its terminal, or kill ${holder.pid}).`,
    );
    expect(ownerEntries(dirname(lockPath))).toHaveLength(1); // ours was withdrawn
    const exited = new Promise((resolve) => holder.on("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    expectTakenOver(lockPath);
  });

  it("when this process already holds it", () => {
    const lockPath = join(tempDir(), "LOCK");
    acquire(lockPath);
    expect(() => acquire(lockPath)).toThrow(LockedError);
    expect(readFileSync(lockPath, "utf8")).toBe(`${process.pid}\n`);
  });

  it("when an earlier version's lock (a pid only) names a node process that started before it was written", async () => {
    const lockPath = join(tempDir(), "LOCK");
    const node = await startIdleNode();
    writeFileSync(lockPath, `${node.pid}\n`);
    expect(() => acquire(lockPath)).toThrow(
      `already running (pid ${node.pid}, lock file ${lockPath}): stop it first (Ctrl-C in its terminal, or kill ${node.pid}). ` +
        `It may be an earlier version, which names itself by pid only: if pid ${node.pid} is something else, delete the lock file.`,
    );
    expect(ownerEntries(dirname(lockPath))).toEqual([]);
  });
});

describe("starters racing for one lock", () => {
  it("never both win, also while taking over a stale lock", async () => {
    const ROUNDS = 6;
    const RACERS = 4;
    // Each racer loads the module, says "ready", and tries the lock when a line arrives on its stdin.
    const script = `import { acquireLock } from ${JSON.stringify(PID_LOCK)};
process.stdin.once("data", () => {
  try { acquireLock(process.argv[1], "a racer"); console.log("won"); setTimeout(() => {}, 30_000); }
  catch (err) { console.log(err.name); }
});
console.log("ready");`;
    for (let round = 0; round < ROUNDS; round++) {
      const dir = tempDir();
      const lockPath = join(dir, "LOCK");
      // The stale owner: a zombie, or a process already reaped (the case that let two racers win before).
      const stale = round % 2 === 0 ? await startZombie() : await goneProcessPid();
      writeFileSync(lockPath, `${stale}\n`);
      writeFileSync(ownerEntry(lockPath, stale, round % 2 === 0 ? procStat(stale).startTicks : "1"), "");
      const racers = Array.from({ length: RACERS }, () => {
        const child = startChild(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, lockPath], "pipe");
        let output = "";
        child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
        return { child, lines: () => output.trim().split("\n") };
      });
      await waitFor(async () => racers.every((racer) => racer.lines()[0] === "ready"), { timeoutMs: 20_000, what: "every racer ready" });
      for (const racer of racers) racer.child.stdin!.write("go\n");
      await waitFor(async () => racers.every((racer) => racer.lines().length === 2), { timeoutMs: 10_000, what: "every racer's outcome" });

      const outcomes = racers.map((racer) => racer.lines()[1]);
      expect(outcomes.filter((outcome) => outcome === "LockedError")).toHaveLength(RACERS - 1);
      const winners = racers.filter((racer) => racer.lines()[1] === "won");
      expect(winners).toHaveLength(1);
      const winner = winners[0]!.child.pid!;
      expect(readFileSync(lockPath, "utf8")).toBe(`${winner}\n`);
      expect(ownerEntries(dir)).toEqual([basename(ownerEntry(lockPath, winner, procStat(winner).startTicks))]);
      for (const racer of racers) racer.child.kill("SIGKILL");
    }
  });
});

describe("relays on one spool", () => {
  /** A relay config with one listener on a free port, an output per entry of `outputs` (name to write URL). */
  async function relayConfig(spoolDir: string, outputs: Readonly<Record<string, string>>): Promise<{ file: string; port: number }> {
    const port = await freePort();
    const list = Object.entries(outputs).map(([name, url]) => `{ name = "${name}", location = "${url}" }`);
    const file = writeConfig(`[[http]]\nbind-addr = "127.0.0.1:${port}"\nspool-dir = "${spoolDir}"\noutput = [${list.join(", ")}]\n`);
    return { file, port };
  }

  async function pingAnswers(port: number): Promise<boolean> {
    const res = await request(`http://127.0.0.1:${port}/ping`);
    await res.body.dump();
    return res.statusCode === 204;
  }

  /**
   * Starts the relay under a shell that execs a `sleep`, which never reaps it: killed, it stays a zombie.
   * Resolves with its pid once /ping answers.
   */
  async function startUnreapedRelay(file: string, port: number): Promise<number> {
    const wrapper = startChild("sh", [
      "-c",
      '"$0" "$@" & echo $!; exec sleep 60',
      process.execPath,
      "--import",
      "tsx",
      RELAY_MAIN,
      "-config",
      file,
    ]);
    let output = "";
    wrapper.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    wrapper.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const pid = Number(await firstLine(wrapper));
    for (let attempt = 0; attempt < 400; attempt++) {
      if (!existsSync(`/proc/${pid}`) || procStat(pid).state === "Z") throw new Error(`the relay exited before it was ready:\n${output}`);
      if (await pingAnswers(port).catch(() => false)) return pid;
      await sleep(50);
    }
    throw new Error(`the relay's /ping did not answer within 20 s:\n${output}`);
  }

  it("refuses a second relay on the same spool while the first runs", async () => {
    const backend = await startScriptedBackend();
    cleanup.push(() => backend.close());
    const spoolDir = tempDir();
    const first = await relayConfig(spoolDir, { a: backend.writeUrl });
    const running = await startRelayProcess(first.file, first.port);
    cleanup.push(() => running.child.kill("SIGKILL"));

    const second = await relayConfig(spoolDir, { a: backend.writeUrl });
    const refused = spawnRelay(["-config", second.file]);
    expect(await exitOf(refused)).toBe(1);
    expect(refused.output()).toContain(
      `http[0].spool-dir: a relay using the spool ${join(spoolDir, "a")} is already running ` +
        `(pid ${running.child.pid}, lock file ${join(spoolDir, "a", "LOCK")})`,
    );
    expect(await pingAnswers(first.port)).toBe(true);
  });

  it("starts at once after a kill -9, while the killed relay is still a zombie, and replays its queue", async () => {
    const ROUNDS = 3;
    const up = await startScriptedBackend();
    const down = await startScriptedBackend({ status: 503 });
    cleanup.push(
      () => up.close(),
      () => down.close(),
    );
    const { file, port } = await relayConfig(tempDir(), { up: up.writeUrl, down: down.writeUrl });
    const sent = Array.from({ length: ROUNDS }, (_, i) => `cpu v=${i + 1} ${i + 1}`);
    for (const line of sent) {
      const pid = await startUnreapedRelay(file, port);
      const res = await request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: `${line}\n` });
      await res.body.dump();
      expect(res.statusCode, "taken by one output, queued for the other").toBe(204);
      process.kill(pid, "SIGKILL");
      await waitFor(async () => procStat(pid).state === "Z", { timeoutMs: 5_000, what: `the killed relay ${pid} to be a zombie` });
    }
    const restarted = await startRelayProcess(file, port);
    cleanup.push(() => restarted.child.kill("SIGKILL"));
    const failedAttempts = down.requests.length; // each answered 503
    down.reply = { status: 204 };
    const delivered = (): string[] =>
      down.requests
        .slice(failedAttempts)
        .filter((r) => r.path === "/write" && r.query.get("db") === "d")
        .flatMap((r) => r.body.toString().split("\n"))
        .filter(Boolean);
    await waitFor(async () => delivered().length >= ROUNDS, { timeoutMs: 20_000, what: "the queued writes to be replayed" });
    expect(delivered()).toEqual(sent);
  });
});
