// Relay throughput benchmark (`npm run bench`).
//
// Two sink backends (bench/sink.ts, one process each) take the writes. The same
// load runs three times: straight at one sink (baseline), at a bare fastify +
// undici pass-through fanning out to both sinks (bench/passthrough.ts: what the
// relay costs beyond moving bytes), then at the relay. Then the outage phases
// (bench/outage.ts): one sink down while the queue on disk grows to 1 GiB, and its
// replay once the sink is back. Last the query phase (bench/query.ts), with real influxd
// replicas instead of sinks: small reads and one large chunked answer, straight from a
// replica, through the pass-through and through the relay. Then the repair phase (bench/repair.ts, also run
// alone by `npm run bench:repair`): `influx-ha repair` rebuilding an empty influxd from another, against that
// influxd's own ingest rate. Last the remote write phase (bench/prom.ts, also run alone by `npm run bench:prom`):
// Prometheus remote write samples/s straight at one influxd, against through the relay to two. Everything stays
// on 127.0.0.1.
//
// Environment:
//   BENCH_SECONDS    measured seconds per phase (default 10), after a 2 s warm-up
//   BENCH_RELAY_CMD  relay command line, split on spaces; "-config FILE" is appended.
//                    Default: node --import tsx relay/main.ts. It must exec the server
//                    itself (not through a wrapper such as the tsx CLI), because its
//                    pid is the one whose memory is measured.
//   BENCH_REPAIR_POINTS, BENCH_DRIFT_CMD  the repair phase's size and command: see bench/repair-bench.ts
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBodies } from "./lines.js";
import { runLoad, type LoadResult } from "./load.js";
import { runOutage } from "./outage.js";
import { describeExit, runBenchmark, stopChild, type Child } from "./proc.js";
import { runPromPhase, type PromPhaseResult } from "./prom.js";
import { runQueryPhase, MIN_LARGE_ANSWER_BYTES, type QueryPhaseResult } from "./query.js";
import { repairSettings, repairTargets, runRepairPhase, type RepairPhaseResult } from "./repair.js";
import { printReport, target, writeJson, type BenchResults, type Target } from "./report.js";
import { sampleRss } from "./rss.js";
import { startRelay, startSink, type Paths } from "./services.js";
import { benchSeconds, relayCommand } from "./settings.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS_DIR = join(ROOT, "bench", "results");
const PATHS: Paths = { root: ROOT, logDir: RESULTS_DIR };

const WARMUP_SECONDS = 2;
const CLIENTS = 4;
const LINES_PER_BODY = 5_000;
const BODY_COUNT = 8;
const WRITE_PATH = "/write?db=bench&precision=ns";
const STOP_GRACE_MS = 10_000;
const PASSTHROUGH_COMMAND = [process.execPath, "--import", "tsx", "bench/passthrough.ts"];

const TARGET_POINTS_PER_SEC = 2_200_000;
const TARGET_P99_MS = 40;
const BACKLOG_BYTES = 1024 ** 3;
const TARGET_BACKLOG_RSS_MIB = 150;
const TARGET_QUERY_P50_OVERHEAD_MS = 1;
const TARGET_LARGE_ANSWER_RATIO = 0.9;
/** "Flat": the relay's RSS may not grow by a fraction of the ≥ 100 MB answer it streams. */
const TARGET_LARGE_ANSWER_RSS_GROWTH_MIB = 32;

function progress(r: LoadResult): string {
  return `  ${Math.round(r.pointsPerSec).toLocaleString("en-US")} points/s, p99 ${r.p99Ms.toFixed(1)} ms, ${r.errors} errors`;
}

async function main(): Promise<number> {
  const seconds = benchSeconds(process.env);
  const relayArgv = relayCommand(process.env);
  const repairSetup = repairSettings(process.env);
  const bodies = makeBodies(BODY_COUNT, LINES_PER_BODY);
  const loadFor = (port: number, measureSeconds: number, warm: boolean): Promise<LoadResult> =>
    runLoad({
      origin: `http://127.0.0.1:${port}`,
      path: WRITE_PATH,
      bodies,
      pointsPerBody: LINES_PER_BODY,
      clients: CLIENTS,
      warmupMs: warm ? WARMUP_SECONDS * 1000 : 0,
      measureMs: measureSeconds * 1000,
    });
  const load = (port: number): Promise<LoadResult> => loadFor(port, seconds, true);

  const tmpDir = mkdtempSync(join(os.tmpdir(), "influx-ha-bench-"));
  // On "exit" so it also happens when a signal ends the benchmark early.
  process.once("exit", () => rmSync(tmpDir, { recursive: true, force: true }));
  const children: Child[] = [];
  try {
    const sinks = await Promise.all([startSink("sink1", PATHS), startSink("sink2", PATHS)]);
    children.push(...sinks.map((s) => s.child));

    console.log(`baseline: ${seconds} s at sink1 (port ${sinks[0].port})…`);
    const baseline = await load(sinks[0].port);
    console.log(progress(baseline));

    const passthrough = await startRelay(
      PASSTHROUGH_COMMAND,
      sinks.map((s) => s.port),
      join(tmpDir, "passthrough.toml"),
      PATHS,
      "passthrough",
    );
    console.log(`pass-through: ${seconds} s at the bare pass-through (port ${passthrough.port})…`);
    const passthroughResult = await load(passthrough.port);
    console.log(progress(passthroughResult));
    // Stopped before the relay starts, so the two never share the CPU.
    await stopChild(passthrough.child, STOP_GRACE_MS);

    const relay = await startRelay(
      relayArgv,
      sinks.map((s) => s.port),
      join(tmpDir, "relay.toml"),
      PATHS,
    );
    children.push(relay.child);
    console.log(`relay: ${seconds} s at the relay (port ${relay.port}, pid ${relay.child.pid})…`);
    const rss = sampleRss(relay.child.pid);
    const relayLoad = await load(relay.port);
    const relayResult = { ...relayLoad, rss: rss.stop() };
    console.log(progress(relayResult));

    children.splice(children.indexOf(sinks[1].child), 1); // stopped on purpose by the outage
    const outage = await runOutage({
      relayPort: relay.port,
      relayPid: relay.child.pid!,
      downSink: sinks[1],
      downOutput: 1,
      restartSink: (port) => startSink("sink2-again", PATHS, port),
      load: (measureSeconds, warm) => loadFor(relay.port, measureSeconds, warm),
      seconds,
      bothUpPointsPerSec: relayResult.pointsPerSec,
      backlogBytes: BACKLOG_BYTES,
      stopGraceMs: STOP_GRACE_MS,
    });
    children.push(outage.sink.child);
    console.log(progress(outage.result.oneDown));

    const broken = children
      .filter((c) => c.exit)
      .map((c) => `${c.name} exited during the run (${describeExit(c.exit!)}); see ${c.logPath}`);
    const stop = await stopChild(relay.child, STOP_GRACE_MS);
    if (stop.forced) broken.push(`relay did not exit within ${STOP_GRACE_MS} ms of SIGTERM; killed`);
    // The sinks are done: the query phase gets the CPU to itself.
    await Promise.all(children.map((c) => stopChild(c, STOP_GRACE_MS)));

    let query: QueryPhaseResult | { error: string };
    try {
      query = await runQueryPhase({ relayArgv, passthroughArgv: PASSTHROUGH_COMMAND, tmpDir, paths: PATHS, stopGraceMs: STOP_GRACE_MS });
      broken.push(...query.problems);
      const errors = query.small.reduce(
        (sum, s) => sum + s.targets.direct.errors + s.targets.passthrough.errors + s.targets.relay.errors,
        0,
      );
      if (errors > 0) broken.push(`query phase: ${errors} small queries failed`);
    } catch (err) {
      query = { error: err instanceof Error ? err.message : String(err) };
      broken.push(`query phase: ${query.error}`);
    }

    let repair: RepairPhaseResult | { error: string };
    try {
      repair = await runRepairPhase({ ...repairSetup, tmpDir, paths: PATHS });
      broken.push(...repair.problems.map((problem) => `repair phase: ${problem}`));
    } catch (err) {
      repair = { error: err instanceof Error ? err.message : String(err) };
      broken.push(`repair phase: ${repair.error}`);
    }

    let prom: PromPhaseResult | { error: string };
    try {
      prom = await runPromPhase({
        relayArgv,
        tmpDir,
        paths: PATHS,
        stopGraceMs: STOP_GRACE_MS,
        seconds,
        warmupSeconds: WARMUP_SECONDS,
        clients: CLIENTS,
      });
      broken.push(...prom.problems.map((problem) => `remote write phase: ${problem}`));
    } catch (err) {
      prom = { error: err instanceof Error ? err.message : String(err) };
      broken.push(`remote write phase: ${prom.error}`);
    }

    const cpus = os.cpus();
    const results: BenchResults = {
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", node: process.versions.node },
      settings: {
        seconds,
        warmupSeconds: WARMUP_SECONDS,
        clients: CLIENTS,
        linesPerBody: LINES_PER_BODY,
        bodies: BODY_COUNT,
        meanBodyBytes: Math.round(bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length),
        relayCommand: relayArgv,
      },
      baseline,
      passthrough: passthroughResult,
      relay: relayResult,
      outage: outage.result,
      ratio: baseline.pointsPerSec > 0 ? relayResult.pointsPerSec / baseline.pointsPerSec : 0,
      passthroughRatio: passthroughResult.pointsPerSec > 0 ? relayResult.pointsPerSec / passthroughResult.pointsPerSec : 0,
      query,
      repair,
      prom,
      targets: [
        target({
          label: "relay points/s",
          measured: relayResult.pointsPerSec,
          goal: TARGET_POINTS_PER_SEC,
          unit: "",
          decimals: 0,
          kind: "min",
        }),
        target({ label: "relay p99", measured: relayResult.p99Ms, goal: TARGET_P99_MS, unit: " ms", decimals: 1, kind: "max" }),
        target({
          label: "relay RSS with a 1 GiB backlog on disk, idle and replaying",
          measured: Math.max(outage.result.backlog.rssIdleMiB, outage.result.replay.rssPeakMiB),
          goal: TARGET_BACKLOG_RSS_MIB,
          unit: " MiB",
          decimals: 1,
          kind: "max",
        }),
        ...("error" in query ? [] : queryTargets(query)),
        ...("error" in repair ? [] : repairTargets(repair)),
      ],
    };
    printReport(results);
    const jsonPath = join(RESULTS_DIR, "latest.json");
    writeJson(jsonPath, results);
    console.log(`results written to ${jsonPath}`);

    if ([baseline, passthroughResult, relayResult, outage.result.oneDown].some((r) => r.errors > 0))
      broken.push("requests failed (errors > 0)");
    for (const problem of broken) console.error(`FAILED: ${problem}`);
    return broken.length > 0 ? 1 : 0;
  } finally {
    await Promise.all(children.map((c) => stopChild(c, STOP_GRACE_MS)));
  }
}

function queryTargets(query: QueryPhaseResult): Target[] {
  const sequential = query.small.filter((s) => s.clients === 1);
  const { large } = query;
  return [
    ...sequential.map((s) =>
      target({
        label: `relay p50 overhead over direct, ${s.query}, one client`,
        measured: s.p50OverheadMs,
        goal: TARGET_QUERY_P50_OVERHEAD_MS,
        unit: " ms",
        decimals: 2,
        kind: "atMost",
      }),
    ),
    target({
      label: `relay MB/s ÷ direct MB/s, ${large.query} (≥ ${MIN_LARGE_ANSWER_BYTES / 1_000_000} MB, chunked)`,
      measured: large.ratio,
      goal: TARGET_LARGE_ANSWER_RATIO,
      unit: "",
      decimals: 3,
      kind: "min",
    }),
    target({
      label: "relay RSS growth while streaming the large answer",
      measured: Math.max(0, large.relayRss.peakMiB - large.relayRss.beforeMiB),
      goal: TARGET_LARGE_ANSWER_RSS_GROWTH_MIB,
      unit: " MiB",
      decimals: 1,
      kind: "max",
    }),
  ];
}

await runBenchmark(main);
