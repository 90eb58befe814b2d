// The repair phase: how fast `influx-ha repair` rebuilds an empty replica, against how fast that kind of
// replica takes the same points from a client, measured in the same run (the machine is too noisy for
// absolute figures to compare across runs); how much memory the tool needs, at two data sizes to show
// whether it grows with them; and how long `influx-ha check` takes before and after.
//
// Two real influxd replicas, a and b. Per size: the points are written straight into a with the client
// concurrency and batch size repair uses (the ingest baseline); check a against the empty b (exit 1
// expected); repair b from a; check again (exit 0 expected). Each tool run is a process of its own, whose
// wall time, peak RSS (VmHWM) and CPU are read from /proc. The copy's own speed comes from b's write counter
// (/debug/vars), sampled while the repair runs, beside the tool's own "wrote N points in X s". The ingest
// baseline writes as the repair does: drift/repair.ts's batches, as many in flight.
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { request } from "undici";
import { BATCH_POINTS, WRITES_IN_FLIGHT } from "../drift/repair.js";
import type { InfluxdProcess } from "../local/influxd.js";
import { logTail } from "../local/logfile.js";
import { sleep } from "../local/wait.js";
import { cpuSeconds } from "./cpu.js";
import { describeExit, spawnChild, stopChild } from "./proc.js";
import { repairDataset, type RepairDataset } from "./repair-data.js";
import { target, type Target } from "./report.js";
import { sampleRss } from "./rss.js";
import { startInfluxd, type Paths } from "./services.js";

export interface RepairPhaseOptions {
  /** Points of the larger size; the smaller is a quarter of it. */
  readonly points: number;
  /** `influx-ha` command line without its arguments; the current sources bundled into tmpDir when absent. */
  readonly driftArgv: readonly string[] | undefined;
  /** Holds the replicas' data and the bundle; removed by the caller. */
  readonly tmpDir: string;
  readonly paths: Paths;
}

/** One `influx-ha` process. */
export interface ToolRun {
  readonly exitCode: number | null;
  /** From spawn to exit. */
  readonly wallSeconds: number;
  /** The process's highest resident set size (VmHWM). */
  readonly peakRssMiB: number;
  /** User + system CPU, from /proc sampled every RSS_INTERVAL_MS: the last few ms before exit are missing. */
  readonly cpuSeconds: number;
}

export interface CheckRun extends ToolRun {
  /** What the tool prints: "compared in X s", start-up excluded. */
  readonly reportedSeconds: number;
}

export interface RepairRun extends ToolRun {
  /** Points the tool says it wrote into b. */
  readonly written: number;
  /** The X of "DATA: wrote N points into b in X s (Y s with the checks)": the copy, as the tool times it. */
  readonly reportedSeconds: number;
  /** From b's first point written to its last, by b's own counter. */
  readonly dataSeconds: number;
  /** points ÷ dataSeconds. */
  readonly pointsPerSec: number;
  /** CPU of the source (a), the target (b) and the tool from b's first point written to its last: the copy alone. */
  readonly copyCpuSeconds: { readonly source: number; readonly target: number; readonly tool: number };
}

export interface IngestRun {
  readonly seconds: number;
  readonly pointsPerSec: number;
  /** CPU the replica spent during the ingest. */
  readonly influxdCpuSeconds: number;
  /** CPU of the benchmark's own process, which makes the bodies and sends them. */
  readonly clientCpuSeconds: number;
}

export interface RepairSizeResult {
  readonly points: number;
  readonly database: string;
  /** Seconds spent waiting for the replicas' compactions to calm down before each step, in all. */
  readonly settleSeconds: number;
  readonly ingest: IngestRun;
  readonly checkBefore: CheckRun;
  readonly repair: RepairRun;
  readonly checkAfter: CheckRun;
  /** repair points/s (data phase) ÷ ingest points/s. */
  readonly ratio: number;
}

export interface RepairPhaseResult {
  readonly influxdVersion: string;
  readonly command: readonly string[];
  readonly series: number;
  readonly batchPoints: number;
  readonly writesInFlight: number;
  /** Peak RSS of `influx-ha --help`: Node and the tool's modules, before any data. */
  readonly helpRssMiB: number;
  /** The smaller size first. */
  readonly sizes: RepairSizeResult[];
  /** What went wrong without spoiling the figures: an exit status other than expected, a count that is off. */
  readonly problems: string[];
}

const TARGET_RATIO = 0.5;
const TARGET_RSS_MIB = 200;
/** The size for "check finishes in well under a minute": the target is shown from there on. */
const CHECK_TARGET_POINTS = 10_000_000;
const TARGET_CHECK_SECONDS = 60;

const DEFAULT_POINTS = 2_000_000;
/** The smaller size, a quarter, is then one whole batch at least. */
const MIN_POINTS = 4 * BATCH_POINTS;
const RSS_INTERVAL_MS = 50;
const COUNTER_INTERVAL_MS = 100;
const TOOL_DEADLINE_MS = 30 * 60_000;
const WRITE_TIMEOUT_MS = 60_000;
/** Before each step, until the replicas use less than this much CPU (compactions of what was just written). */
const QUIET_CORES = 0.15;
const QUIET_WINDOW_MS = 1_000;
const QUIET_DEADLINE_MS = 60_000;

/** BENCH_REPAIR_POINTS (default 2,000,000; 10_000_000 is also read) and BENCH_DRIFT_CMD (split on spaces). */
export function repairSettings(env: NodeJS.ProcessEnv): { points: number; driftArgv: string[] | undefined } {
  const raw = env.BENCH_REPAIR_POINTS;
  const points = raw === undefined || raw === "" ? DEFAULT_POINTS : Number(raw.replace(/_/g, ""));
  if (!Number.isInteger(points) || points < MIN_POINTS) {
    throw new Error(`BENCH_REPAIR_POINTS must be a whole number of at least ${MIN_POINTS}, got ${raw}`);
  }
  const parts = (env.BENCH_DRIFT_CMD ?? "").split(" ").filter((p) => p !== "");
  return { points, driftArgv: parts.length > 0 ? parts : undefined };
}

export async function runRepairPhase(opts: RepairPhaseOptions): Promise<RepairPhaseResult> {
  // The heap cap the tool's shebang and npm scripts give it (drift/main.ts says why).
  const command = opts.driftArgv ?? [process.execPath, "--max-old-space-size=128", bundleDrift(opts.paths.root, opts.tmpDir)];
  const replicas: InfluxdProcess[] = [];
  const problems: string[] = [];
  try {
    console.log("repair phase: two influxd replicas, a and b…");
    replicas.push(...(await Promise.all(["a", "b"].map((name) => startInfluxd(join(opts.tmpDir, `repair-influxd-${name}`))))));
    const [a, b] = replicas as [InfluxdProcess, InfluxdProcess];
    const tool: Tool = (name, args, onSpawn) => runTool(name, [...command, ...args], opts.paths, onSpawn);
    const help = await tool("repair-help", ["--help"]);
    if (help.run.exitCode !== 0) problems.push(`influx-ha --help exited ${help.run.exitCode}: ${help.logTail}`);

    const sizes: RepairSizeResult[] = [];
    for (const points of [Math.round(opts.points / 4), opts.points]) {
      sizes.push(await repairSize(points, a, b, tool, problems));
    }
    return {
      influxdVersion: await versionOf(a.url),
      command,
      series: repairDataset(opts.points, BATCH_POINTS).series,
      batchPoints: BATCH_POINTS,
      writesInFlight: WRITES_IN_FLIGHT,
      helpRssMiB: help.run.peakRssMiB,
      sizes,
      problems,
    };
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

/** Repair at ≥ half the replica's own ingest rate, in flat memory under 200 MiB; check on 10 M points in under a minute. */
export function repairTargets(r: RepairPhaseResult): Target[] {
  const largest = r.sizes[r.sizes.length - 1]!;
  return [
    target({
      label: `repair points/s ÷ the replica's ingest points/s, ${int(largest.points)} points`,
      measured: largest.ratio,
      goal: TARGET_RATIO,
      unit: "",
      decimals: 3,
      kind: "min",
    }),
    ...r.sizes.map((s) =>
      target({
        label: `repair peak RSS, ${int(s.points)} points`,
        measured: s.repair.peakRssMiB,
        goal: TARGET_RSS_MIB,
        unit: " MiB",
        decimals: 1,
        kind: "max",
      }),
    ),
    ...(largest.points >= CHECK_TARGET_POINTS
      ? [
          target({
            label: `check, ${int(largest.points)} points on each replica`,
            measured: largest.checkAfter.wallSeconds,
            goal: TARGET_CHECK_SECONDS,
            unit: " s",
            decimals: 1,
            kind: "max",
          }),
        ]
      : []),
  ];
}

type Tool = (
  name: string,
  args: readonly string[],
  onSpawn?: (pid: number) => void,
) => Promise<{ run: ToolRun; stdout: string; logTail: string }>;

/** Ingest, check, repair, check, for one size in a database of its own. */
async function repairSize(points: number, a: InfluxdProcess, b: InfluxdProcess, tool: Tool, problems: string[]): Promise<RepairSizeResult> {
  const database = `repair_${points}`;
  const dataset = repairDataset(points, BATCH_POINTS);
  const pids = [a.pid!, b.pid!];
  const flags = ["--replica", `a=${a.url}`, "--replica", `b=${b.url}`, "--db", database];
  let settleSeconds = await waitQuiet(pids);

  console.log(
    `  ${int(points)} points in ${dataset.series} series into a, ${WRITES_IN_FLIGHT} × ${int(BATCH_POINTS)}-point writes in flight…`,
  );
  await a.createDatabase(database);
  const ingest = await ingestInto(a, database, dataset);
  console.log(`  ${int(ingest.pointsPerSec)} points/s (${ingest.seconds.toFixed(1)} s)`);

  settleSeconds += await waitQuiet(pids);
  const before = await tool(`repair-check-before-${points}`, ["check", ...flags]);
  const checkBefore = checkRun(before, problems);
  if (checkBefore.exitCode !== 1)
    problems.push(`check of a against the empty b (${database}) exited ${checkBefore.exitCode}, not 1: ${before.logTail}`);
  console.log(`  check, a against the empty b: exit ${checkBefore.exitCode}, ${checkBefore.wallSeconds.toFixed(1)} s`);

  settleSeconds += await waitQuiet(pids);
  const repair = await timedRepair(points, a, b, (onSpawn) => tool(`repair-${points}`, ["repair", ...flags], onSpawn), problems);
  console.log(
    `  repair: ${int(repair.pointsPerSec)} points/s while copying (${repair.dataSeconds.toFixed(1)} s), ` +
      `${repair.wallSeconds.toFixed(1)} s in all, exit ${repair.exitCode}, peak RSS ${repair.peakRssMiB.toFixed(1)} MiB`,
  );

  settleSeconds += await waitQuiet(pids);
  const after = await tool(`repair-check-after-${points}`, ["check", ...flags]);
  const checkAfter = checkRun(after, problems);
  if (checkAfter.exitCode !== 0)
    problems.push(`check after the repair (${database}) exited ${checkAfter.exitCode}, not 0: ${after.stdout.slice(0, 2_000)}`);
  console.log(`  check, both whole: exit ${checkAfter.exitCode}, ${checkAfter.wallSeconds.toFixed(1)} s`);

  const ratio = ingest.pointsPerSec > 0 ? repair.pointsPerSec / ingest.pointsPerSec : 0;
  return { points, database, settleSeconds, ingest, checkBefore, repair, checkAfter, ratio };
}

/** The current drift/ as one file in `dir`, as infra/relay-bundle.ts bundles the relay: dist/ is left alone. */
function bundleDrift(root: string, dir: string): string {
  const path = join(dir, "influx-ha.mjs");
  buildSync({
    entryPoints: [join(root, "drift", "main.ts")],
    outfile: path,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Bundled CommonJS dependencies require Node's built-ins; an ES module has no `require` of its own.
    banner: {
      js: 'import { createRequire as __influxHaRequire } from "node:module";\nconst require = __influxHaRequire(import.meta.url);',
    },
    legalComments: "none",
    logLevel: "error",
  });
  return path;
}

/** POSTs every body to the replica's /write, WRITES_IN_FLIGHT at a time, and checks it holds them all. */
async function ingestInto(replica: InfluxdProcess, database: string, dataset: RepairDataset): Promise<IngestRun> {
  const url = `${replica.url}/write?${new URLSearchParams({ db: database, precision: "ns" })}`;
  const influxdBefore = cpuSeconds(replica.pid!);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  async function writer(): Promise<void> {
    while (next < dataset.bodyCount) {
      const body = dataset.body(next++);
      const res = await request(url, { method: "POST", body, headersTimeout: WRITE_TIMEOUT_MS, bodyTimeout: WRITE_TIMEOUT_MS });
      const text = await res.body.text();
      if (res.statusCode !== 204)
        throw new Error(`writing the repair data into ${replica.url}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    }
  }
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, () => writer()));
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const influxdCpuSeconds = cpuSeconds(replica.pid!) - influxdBefore;
  const held = await pointsIn(replica, database);
  if (held !== dataset.points)
    throw new Error(`${replica.url} holds ${held} points of ${database} after the ingest, not ${dataset.points}`);
  return { seconds, pointsPerSec: dataset.points / seconds, influxdCpuSeconds, clientCpuSeconds: (client.user + client.system) / 1e6 };
}

/** Points of every measurement of the database, counted by the integer field every point has. */
async function pointsIn(replica: InfluxdProcess, database: string): Promise<number> {
  const json = await replica.query("SELECT count(count) FROM /.*/", database);
  const series: Array<{ values: [[unknown, number]] }> = json?.results?.[0]?.series ?? [];
  return series.reduce((sum, s) => sum + Number(s.values[0][1]), 0);
}

/** The repair, with b's write counter watched beside it for when the copy itself began and ended. */
async function timedRepair(
  points: number,
  a: InfluxdProcess,
  b: InfluxdProcess,
  run: (onSpawn: (pid: number) => void) => ReturnType<Tool>,
  problems: string[],
): Promise<RepairRun> {
  const counterBefore = await pointsWrittenOk(b.url);
  let toolPid: number | undefined;
  const cpuNow = () => [a.pid!, b.pid!, toolPid].map((pid) => (pid === undefined ? Number.NaN : cpuSeconds(pid)));
  let first: { at: number; cpu: number[] } | undefined;
  let done: { at: number; cpu: number[] } | undefined;
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const written = (await pointsWrittenOk(b.url)) - counterBefore;
      const now = { at: performance.now(), cpu: cpuNow() };
      if (first === undefined && written > 0) first = now;
      if (done === undefined && written >= points) done = now;
      await sleep(COUNTER_INTERVAL_MS);
    }
  })();
  const result = await run((pid) => (toolPid = pid)).finally(() => (watching = false));
  await watch;

  const reported = /^DATA: wrote (\d+) points into b in ([\d.]+) s \(/m.exec(result.stdout);
  if (result.run.exitCode !== 0)
    problems.push(`repair of b exited ${result.run.exitCode}, not 0: ${result.stdout.slice(0, 2_000)} ${result.logTail}`);
  if (!reported) problems.push(`repair printed no "DATA: wrote N points into b in X s": ${result.stdout.slice(0, 2_000)}`);
  const written = reported ? Number(reported[1]) : 0;
  if (reported && written !== points) problems.push(`repair wrote ${written} points into b, not ${points}`);
  if (first === undefined || done === undefined) problems.push(`b's write counter did not reach ${points} points during the repair`);
  const dataSeconds = first !== undefined && done !== undefined ? (done.at - first.at) / 1000 : Number.NaN;
  const copyCpu = (i: number) => (first !== undefined && done !== undefined ? done.cpu[i]! - first.cpu[i]! : Number.NaN);
  return {
    ...result.run,
    written,
    reportedSeconds: reported ? Number(reported[2]) : Number.NaN,
    dataSeconds,
    pointsPerSec: points / dataSeconds,
    copyCpuSeconds: { source: copyCpu(0), target: copyCpu(1), tool: copyCpu(2) },
  };
}

function checkRun(result: Awaited<ReturnType<Tool>>, problems: string[]): CheckRun {
  const reported = /^influx-ha check: .* compared in ([\d.]+) s$/m.exec(result.stdout);
  if (!reported) problems.push(`check printed no "compared in X s": ${result.stdout.slice(0, 2_000)} ${result.logTail}`);
  return { ...result.run, reportedSeconds: reported ? Number(reported[1]) : Number.NaN };
}

/** Runs one `influx-ha` process to its end, its stdout collected and its stderr in `name`.log. */
async function runTool(
  name: string,
  argv: readonly string[],
  paths: Paths,
  onSpawn: ((pid: number) => void) | undefined,
): Promise<{ run: ToolRun; stdout: string; logTail: string }> {
  const logPath = join(paths.logDir, `${name}.log`);
  const started = performance.now();
  const child = await spawnChild(name, argv, { cwd: paths.root, logPath, pipeStdout: true });
  onSpawn?.(child.pid);
  let stdout = "";
  child.proc.stdout!.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  const rss = sampleRss(child.pid, RSS_INTERVAL_MS);
  let cpu = 0;
  const cpuTimer = setInterval(() => {
    const seconds = cpuSeconds(child.pid);
    if (!Number.isNaN(seconds)) cpu = seconds;
  }, RSS_INTERVAL_MS);
  const deadline = setTimeout(() => void stopChild(child, 5_000), TOOL_DEADLINE_MS);
  const exit = await child.exited;
  const wallSeconds = (performance.now() - started) / 1000;
  clearTimeout(deadline);
  clearInterval(cpuTimer);
  const { peakMiB } = rss.stop();
  if (exit.code === null) throw new Error(`${name}: ${describeExit(exit)}\n${logTail(logPath)}`);
  // The pipe may still hold the last of its output.
  if (!child.proc.stdout!.readableEnded) await new Promise((resolve) => child.proc.stdout!.once("end", resolve));
  return { run: { exitCode: exit.code, wallSeconds, peakRssMiB: peakMiB, cpuSeconds: cpu }, stdout, logTail: logTail(logPath) };
}

/** influxd's count of points written over HTTP since it started (/debug/vars, the httpd statistics). */
async function pointsWrittenOk(origin: string): Promise<number> {
  const res = await request(`${origin}/debug/vars`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const vars = (await res.body.json()) as Record<string, { name?: string; values?: { pointsWrittenOK?: number } }>;
  return Object.values(vars).reduce((sum, v) => sum + (v?.name === "httpd" ? (v.values?.pointsWrittenOK ?? 0) : 0), 0);
}

/**
 * Waits until the processes together use less than QUIET_CORES of CPU over QUIET_WINDOW_MS: influxd compacts
 * what was just written for a while, and that should not count against the step that comes next. Returns the
 * seconds waited; gives up quietly after QUIET_DEADLINE_MS.
 */
async function waitQuiet(pids: readonly number[]): Promise<number> {
  const started = performance.now();
  const used = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  while (performance.now() - started < QUIET_DEADLINE_MS) {
    const before = used();
    await sleep(QUIET_WINDOW_MS);
    if ((used() - before) / (QUIET_WINDOW_MS / 1000) < QUIET_CORES) break;
  }
  return (performance.now() - started) / 1000;
}

async function versionOf(origin: string): Promise<string> {
  const res = await request(`${origin}/ping`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  await res.body.dump();
  const version = res.headers["x-influxdb-version"];
  return (Array.isArray(version) ? version[0] : version) ?? "unknown";
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
