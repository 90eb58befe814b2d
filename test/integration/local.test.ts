// `npm start` for real: the local layout as a child process (Debian's haproxy and two influxd, our two
// relays) on a random base port whose whole plan is free. Writes go through HAProxy and land on both
// replicas; the run dir is locked, a stop leaves nothing running (at any moment of start-up too), the data
// and the secrets (the stats password, the relays' admin token) are still there on the next start, and a
// child killed -9 is started again unless --no-restart.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchServerStates } from "../../local/haproxy-process.js";
import { parseJsonLossless } from "../../local/json.js";
import { planLocalLayout, relayAdminTokenPath, statsPasswordPath, type LocalPlan } from "../../local/plan.js";
import { loadConfig } from "../../relay/config.js";
import { freeLayoutPort } from "../helpers/layout-port.js";
import { sleep, waitFor } from "../helpers/ports.js";
import { exitOf, type RelayProcess } from "../helpers/relay-process.js";
import { writeLoad } from "../helpers/write-load.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DB = "testdb";
const LINE = "cpu,host=a value=1.5 1700000000000000000";
const POINT = { time: "1700000000000000000", host: "a", value: 1.5 };

/** The layout's process: the same handle as a relay process's. */
type Layout = RelayProcess;

let runDir: string;
let port: number;
let plan: LocalPlan;
const started: Layout[] = [];

function spawnLayout(...flags: string[]): Layout {
  const args = ["--import", "tsx", "local/main.ts", "--port", String(port), "--run-dir", runDir, "--db", DB, ...flags];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  const layout = { child, output: () => output, exited };
  started.push(layout);
  return layout;
}

/** Starts the layout and waits (bounded) for the "Ctrl-C to stop" line. */
async function startLayout(...flags: string[]): Promise<Layout> {
  const layout = spawnLayout(...flags);
  let exitCode: number | string | undefined;
  void layout.exited.then((code) => (exitCode = code));
  await waitFor(
    async () => {
      if (exitCode !== undefined) throw new Error(`the layout exited (${exitCode}) before it was up:\n${layout.output()}`);
      return layout.output().includes("Ctrl-C to stop");
    },
    { timeoutMs: 40_000, intervalMs: 100, what: "the layout's Ctrl-C to stop line" },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${layout.output()}`);
  });
  return layout;
}

/** Pids of every process whose command line mentions the run dir (or `part` of it): the layout and its children. */
function processesOfRunDir(part = runDir): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(part)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Bounded wait until the layout's output holds `text`. */
async function outputHas(layout: Layout, text: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => layout.output().includes(text), { timeoutMs, intervalMs: 20, what: JSON.stringify(text) }).catch(
    (err: Error) => {
      throw new Error(`${err.message}\n${layout.output()}`);
    },
  );
}

/** The one process whose command line names `configPath` (an influxd.conf, relay.toml or haproxy.cfg). */
function onlyPidOf(configPath: string): number {
  const pids = processesOfRunDir(configPath);
  expect(pids, configPath).toHaveLength(1);
  return pids[0]!;
}

async function write(url: string, body: string): Promise<void> {
  const res = await request(`${url}/write?db=${DB}`, { method: "POST", body });
  expect(res.statusCode, await res.body.text()).toBe(204);
}

/** Bounded wait until every replica holds `count` points of `measurement`. */
async function onBothReplicas(measurement: string, count: number): Promise<void> {
  await waitFor(async () => (await Promise.all(plan.replicas.map((r) => pointsOn(r.url, measurement)))).every((p) => p.length === count), {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: `${count} points of ${measurement} on both replicas`,
  });
}

/** SIGTERM, then the exit code and how long the exit took (bounded: SIGKILL after 20 s). */
async function stopTimed(layout: Layout): Promise<{ code: number | string; ms: number }> {
  const sent = Date.now();
  layout.child.kill("SIGTERM");
  const code = await exitOf(layout, 20_000);
  return { code, ms: Date.now() - sent };
}

async function pointsOn(url: string, measurement = "cpu"): Promise<unknown[]> {
  const params = new URLSearchParams({ db: DB, q: `SELECT * FROM "${measurement}"`, epoch: "ns" });
  const res = await request(`${url}/query?${params}`);
  const json = parseJsonLossless(await res.body.text()) as any;
  expect(res.statusCode).toBe(200);
  const series = json.results?.[0]?.series?.[0];
  if (!series) return [];
  return series.values.map((values: unknown[]) => Object.fromEntries(series.columns.map((c: string, i: number) => [c, values[i]])));
}

beforeAll(async () => {
  runDir = mkdtempSync(join(tmpdir(), "influx-ha-local-"));
  port = await freeLayoutPort();
  // The layout makes up its secrets on the first start; the plan here is for the ports and paths.
  plan = planLocalLayout(
    { port, replicas: 2, runDir, databases: [DB], watch: false },
    { statsPassword: "unused-password", relayAdminToken: "unused-admin-token" },
  );
});

afterAll(async () => {
  for (const layout of started) layout.child.kill("SIGTERM");
  await Promise.all(started.map((layout) => exitOf(layout, 20_000)));
  // The replicas and the relay run in process groups of their own: make sure none outlives a failed test.
  for (const pid of processesOfRunDir()) process.kill(pid, "SIGKILL");
  rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
}, 60_000);

describe("npm start (local/main.ts)", () => {
  it("writes through haproxy to both replicas, refuses a second start, stops cleanly and keeps the data", async () => {
    const first = await startLayout();
    expect(first.output()).toContain(plan.clientUrl);
    expect(first.output()).toContain(plan.haproxy.statsUrl);
    for (const node of [...plan.relays, ...plan.replicas]) expect(first.output()).toContain(node.url);
    // The stats password is made up once, readable by its owner only, and never printed.
    const passwordPath = statsPasswordPath(runDir);
    const password = readFileSync(passwordPath, "utf8").trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(first.output()).not.toContain(password);
    for (const file of [passwordPath, plan.haproxy.configPath]) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    // So is the relays' admin token, which every relay.toml holds: their admin endpoints are on.
    const tokenPath = relayAdminTokenPath(runDir);
    const token = readFileSync(tokenPath, "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(first.output()).not.toContain(token);
    for (const file of [tokenPath, ...plan.relays.map((r) => r.configPath)]) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    for (const relay of plan.relays) expect(loadConfig(relay.configPath).http[0]!.adminToken, relay.name).toBe(token);
    const markInSync = async (relayUrl: string, authorization: string) => {
      const before = new Date().toISOString();
      const res = await request(`${relayUrl}/admin/mark-in-sync?output=influxd-1&before=${before}`, {
        method: "POST",
        headers: { authorization },
      });
      return { status: res.statusCode, body: await res.body.text() };
    };
    for (const relay of plan.relays) {
      expect(await markInSync(relay.url, `Bearer ${token}`), relay.name).toMatchObject({
        status: 200,
        body: expect.stringContaining('"cleared":false'),
      });
      expect((await markInSync(relay.url, "Bearer not-the-admin-token")).status, relay.name).toBe(401);
    }

    const res = await request(`${plan.clientUrl}/write?db=${DB}`, { method: "POST", body: LINE });
    expect(res.statusCode, await res.body.text()).toBe(204);
    // The relay may answer once one replica has the point; the other follows shortly.
    await waitFor(async () => (await Promise.all(plan.replicas.map((r) => pointsOn(r.url)))).every((points) => points.length > 0), {
      timeoutMs: 10_000,
      what: "the point on both replicas",
    });
    for (const url of [plan.clientUrl, ...plan.replicas.map((r) => r.url)]) {
      expect(await pointsOn(url), url).toEqual([POINT]);
    }

    // The same run dir is taken: refused before anything starts, and the first layout keeps running.
    const second = spawnLayout();
    expect(await exitOf(second, 20_000)).not.toBe(0);
    expect(second.output()).toContain(`already running (pid ${first.child.pid}`);
    expect(first.child.exitCode).toBeNull();

    first.child.kill("SIGTERM");
    expect(await exitOf(first, 30_000), first.output()).toBe(0);
    expect(first.output()).toContain("stopped");
    expect(processesOfRunDir()).toEqual([]);

    // A lock left by a process that is gone is stale: the next start takes it over.
    const dead = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => dead.on("exit", resolve));
    writeFileSync(plan.lockPath, `${dead.pid}\n`);

    const again = await startLayout();
    for (const replica of plan.replicas) {
      expect(await pointsOn(replica.url), replica.name).toEqual([POINT]);
    }
    expect(readFileSync(passwordPath, "utf8").trim()).toBe(password);
    expect(readFileSync(tokenPath, "utf8").trim()).toBe(token);
    for (const relay of plan.relays) expect(loadConfig(relay.configPath).http[0]!.adminToken, relay.name).toBe(token);
    again.child.kill("SIGTERM");
    expect(await exitOf(again, 30_000), again.output()).toBe(0);
    expect(processesOfRunDir()).toEqual([]);
  });

  it("with --watch, restarts the relays one at a time when a relay source changes, and writes keep landing", async () => {
    const layout = await startLayout("--watch");
    expect(layout.output()).toContain("watching");
    const relayPids = (): number[] => plan.relays.flatMap((r) => processesOfRunDir(r.configPath));
    const before = relayPids();
    expect(before).toHaveLength(2);

    const result = await writeLoad(
      { url: `${plan.clientUrl}/write?db=${DB}`, maxBatches: 2_000, pointsPerBatch: 10, concurrency: 2, pauseMs: 20, measurement: "watch" },
      async (progress) => {
        await progress.reached(10);
        // A new mtime is a change to the watcher; the file's content stays as it is.
        const now = new Date();
        utimesSync(join(ROOT, "relay", "version.ts"), now, now);
        await waitFor(async () => layout.output().includes("relay-1 is up again"), {
          timeoutMs: 60_000,
          intervalMs: 100,
          what: "both relays restarted",
        });
        await progress.reached(progress.acked + 10);
      },
    );
    expect(layout.output()).toContain("changed: version.ts");
    expect(layout.output().indexOf("restarting relay-0")).toBeLessThan(layout.output().indexOf("restarting relay-1"));
    const after = relayPids();
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    // HAProxy moves writes to the relay that is up; only a write caught mid-restart may need a retry.
    expect(result.failedAttempts).toBeLessThanOrEqual(2);
    const points = await pointsOn(plan.clientUrl, "watch");
    expect(points).toHaveLength(result.acked * 10);

    layout.child.kill("SIGTERM");
    expect(await exitOf(layout, 30_000), layout.output()).toBe(0);
    expect(processesOfRunDir()).toEqual([]);
  });

  it("stops within seconds, leaving nothing running, when SIGTERM comes at any moment of start-up", async () => {
    // Each moment by the line the layout prints when it begins a step; haproxy takes about a second to
    // see both relays up, so 300 ms after its line the layout is waiting for that.
    const moments: Array<{ after: string | undefined; delayMs: number }> = [
      { after: undefined, delayMs: 0 },
      { after: "starting 2 influxd replicas", delayMs: 0 },
      { after: "starting 2 relays", delayMs: 0 },
      { after: "starting 2 relays", delayMs: 500 },
      { after: "starting haproxy", delayMs: 300 },
    ];
    for (const { after, delayMs } of moments) {
      const moment = `${after ?? "right after spawn"} +${delayMs}ms`;
      const layout = spawnLayout();
      if (after !== undefined) await outputHas(layout, after);
      await sleep(delayMs);
      const { code, ms } = await stopTimed(layout);
      expect(layout.output(), moment).not.toContain("Ctrl-C to stop");
      // Before main.ts has loaded, SIGTERM's default action ends node: nothing has been spawned yet.
      if (after === undefined) expect([0, "SIGTERM"], `${moment}: ${layout.output()}`).toContain(code);
      else expect(code, `${moment}: ${layout.output()}`).toBe(0);
      expect(ms, moment).toBeLessThan(5_000);
      expect(processesOfRunDir(), moment).toEqual([]);
    }
  }, 120_000);

  it("starts a replica, a relay and haproxy killed -9 again, with backoff, and each serves again", async () => {
    const layout = await startLayout();
    const replica = plan.replicas[1]!;
    const replicaConfig = join(replica.dir, "influxd.conf");

    const killedReplica = onlyPidOf(replicaConfig);
    process.kill(killedReplica, "SIGKILL");
    await outputHas(layout, `${replica.name} exited unexpectedly (signal SIGKILL); restarting in 1s`);
    // Taken while the replica is away (or just back): the relays queue it for the replica.
    await write(plan.clientUrl, "restarts,step=replica v=1 1700000000000000001");
    await outputHas(layout, `${replica.name} is up again`);
    expect(onlyPidOf(replicaConfig)).not.toBe(killedReplica);
    await onBothReplicas("restarts", 1);

    const relay = plan.relays[0]!;
    const killedRelay = onlyPidOf(relay.configPath);
    process.kill(killedRelay, "SIGKILL");
    await outputHas(layout, `${relay.name} exited unexpectedly (signal SIGKILL); restarting in 1s`);
    await outputHas(layout, `${relay.name} is up again`);
    // Down again right after coming back: the pause doubles.
    process.kill(onlyPidOf(relay.configPath), "SIGKILL");
    await outputHas(layout, `${relay.name} exited unexpectedly (signal SIGKILL); restarting in 2s`);
    await waitFor(async () => layout.output().split(`${relay.name} is up again`).length === 3, {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: `${relay.name} up again a second time`,
    });
    expect(onlyPidOf(relay.configPath)).not.toBe(killedRelay);
    await write(relay.url, "restarts,step=relay v=1 1700000000000000002");
    const password = readFileSync(statsPasswordPath(runDir), "utf8").trim();
    await waitFor(
      async () => (await fetchServerStates(plan.haproxy.statsUrl, { ...plan.topology.stats, password })).every((s) => s.status === "UP"),
      {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: "haproxy to see both relays up",
      },
    );
    await write(plan.clientUrl, "restarts,step=relay-haproxy v=1 1700000000000000003");
    await onBothReplicas("restarts", 3);

    process.kill(onlyPidOf(plan.haproxy.configPath), "SIGKILL");
    await outputHas(layout, "haproxy exited unexpectedly (signal SIGKILL); restarting in 1s");
    await outputHas(layout, "haproxy is up again");
    await write(plan.clientUrl, "restarts,step=haproxy v=1 1700000000000000004");
    await onBothReplicas("restarts", 4);

    const { code } = await stopTimed(layout);
    expect(code, layout.output()).toBe(0);
    expect(processesOfRunDir()).toEqual([]);
  }, 120_000);

  it("with --no-restart, reports a relay killed -9 and leaves it down; writes go through the other", async () => {
    const layout = await startLayout("--no-restart");
    expect(layout.output()).toContain("--no-restart: a process that exits on its own is reported and stays down");
    const relay = plan.relays[0]!;
    process.kill(onlyPidOf(relay.configPath), "SIGKILL");
    await outputHas(
      layout,
      `${relay.name} exited unexpectedly (signal SIGKILL); it stays down, and haproxy sends writes to the other relay`,
    );
    // A restart would have spawned it again after 1 s.
    await sleep(3_000);
    expect(processesOfRunDir(relay.configPath)).toEqual([]);
    expect(layout.output()).not.toContain("restarting in");
    await write(plan.clientUrl, "norestart v=1 1700000000000000001");
    await onBothReplicas("norestart", 1);

    const { code } = await stopTimed(layout);
    expect(code, layout.output()).toBe(0);
    expect(processesOfRunDir()).toEqual([]);
  }, 90_000);

  it("refuses to start, before anything runs, when a port of the plan is taken", async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: "127.0.0.1", port: plan.tcpPorts[1] }, resolve));
    try {
      const layout = spawnLayout();
      expect(await exitOf(layout, 20_000)).toBe(1);
      expect(layout.output()).toContain(`not started: ports the layout needs are taken:\n  127.0.0.1:${plan.tcpPorts[1]}/tcp is in use`);
      expect(processesOfRunDir()).toEqual([]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("refuses a run dir whose saved stats password or admin token is unusable, and says how to get a new one", async () => {
    for (const [what, path] of [
      ["stats password", statsPasswordPath],
      ["relay admin token", relayAdminTokenPath],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), "influx-ha-password-"));
      try {
        mkdirSync(join(dir, "haproxy"));
        writeFileSync(path(dir), "has a space\n");
        const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts", "--port", String(port), "--run-dir", dir], {
          cwd: ROOT,
        });
        let output = "";
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        const code = await new Promise((resolve) => child.on("exit", resolve));
        expect(code, what).toBe(1);
        expect(output).toContain(`${path(dir)} holds an unusable ${what}`);
        expect(output).toContain("delete the file to get a new one");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
