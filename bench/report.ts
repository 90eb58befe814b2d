// Presenting results: tables for people (the write phases, the query phase, the repair phase, the remote write
// phase), JSON for tooling.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { LoadResult } from "./load.js";
import type { OutageResult } from "./outage.js";
import type { PromPhaseResult } from "./prom.js";
import { QUERY_TARGETS, type LatencyStats, type QueryPhaseResult, type QueryTarget, type StreamStats } from "./query.js";
import type { RepairPhaseResult } from "./repair.js";
import type { RssStats } from "./rss.js";

export interface Target {
  label: string;
  measured: number;
  goal: number;
  /** Shown after the numbers, e.g. " ms". */
  unit: string;
  decimals: number;
  /** "min": measured must be at least goal; "max": measured must stay below goal; "atMost": below or equal. */
  kind: "min" | "max" | "atMost";
  met: boolean;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpuModel: string; node: string };
  settings: {
    seconds: number;
    warmupSeconds: number;
    clients: number;
    linesPerBody: number;
    bodies: number;
    meanBodyBytes: number;
    relayCommand: readonly string[];
  };
  baseline: LoadResult;
  passthrough: LoadResult;
  relay: LoadResult & { rss: RssStats };
  outage: OutageResult;
  /** relay points/s ÷ baseline points/s */
  ratio: number;
  /** relay points/s ÷ bare pass-through points/s: the share of the pass-through's speed the relay keeps */
  passthroughRatio: number;
  /** The query phase (bench/query.ts), or why it failed: the write phases' figures stand either way. */
  query: QueryPhaseResult | { error: string };
  /** The repair phase (bench/repair.ts), or why it failed. */
  repair: RepairPhaseResult | { error: string };
  /** The remote write phase (bench/prom.ts), or why it failed. */
  prom: PromPhaseResult | { error: string };
  targets: Target[];
}

export function target(t: Omit<Target, "met">): Target {
  const met = t.kind === "min" ? t.measured >= t.goal : t.kind === "max" ? t.measured < t.goal : t.measured <= t.goal;
  return { ...t, met };
}

const TARGET_SIGNS: Record<Target["kind"], string> = { min: "≥", max: "<", atMost: "≤" };

export function printReport(r: BenchResults): void {
  const s = r.settings;
  console.log(
    `\ninflux-ha relay benchmark: ${s.seconds} s per phase after ${s.warmupSeconds} s warm-up, ` +
      `${s.clients} clients, ${int(s.linesPerBody)}-line bodies (${kb(s.meanBodyBytes)}), ` +
      `${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}\n`,
  );
  const header = ["phase", "points/s", "req/s", "p50 ms", "p99 ms", "errors", "RSS peak", "RSS end"];
  const rows = [
    ["baseline", ...figures(r.baseline), "-", "-"],
    ["pass-through", ...figures(r.passthrough), "-", "-"],
    ["relay", ...figures(r.relay), mib(r.relay.rss.peakMiB), mib(r.relay.rss.endMiB)],
    ["relay, one output down", ...figures(r.outage.oneDown), mib(r.outage.backlog.rssPeakMiB), "-"],
  ];
  printTable([header, ...rows]);
  const { backlog, replay } = r.outage;
  console.log(`\none output down ÷ both up, points/s: ${r.outage.ratio.toFixed(3)}`);
  console.log(
    `backlog: ${mib(backlog.bytes / 1024 / 1024)} in ${int(backlog.entries)} entries; relay RSS ${mib(backlog.rssIdleMiB)} idle with it on disk, ` +
      `${mib(backlog.rssPeakMiB)} peak while it grew under full load`,
  );
  console.log(
    `replay: ${int(replay.pointsPerSec)} points/s (${replay.mibPerSec.toFixed(1)} MiB/s), ${replay.seconds.toFixed(1)} s for ${int(replay.points)} points; ` +
      `relay RSS peak ${mib(replay.rssPeakMiB)} while replaying`,
  );

  if ("error" in r.query) console.log(`\nquery phase FAILED: ${r.query.error}`);
  else printQueryPhase(r.query);

  if ("error" in r.repair) console.log(`\nrepair phase FAILED: ${r.repair.error}`);
  else printRepairPhase(r.repair);

  if ("error" in r.prom) console.log(`\nremote write phase FAILED: ${r.prom.error}`);
  else printPromPhase(r.prom);

  console.log();
  printTargets(r.targets);
  console.log(`relay points/s ÷ baseline points/s: ${r.ratio.toFixed(3)}`);
  console.log(`relay points/s ÷ bare pass-through points/s: ${r.passthroughRatio.toFixed(3)}`);

  for (const [phase, result] of [
    ["baseline", r.baseline],
    ["pass-through", r.passthrough],
    ["relay", r.relay],
    ["relay, one output down", r.outage.oneDown],
  ] as const) {
    if (result.firstError) console.log(`${phase}: ${result.errors} errors, first: ${result.firstError}`);
  }
}

export function printTargets(targets: readonly Target[]): void {
  for (const t of targets) {
    const goal = `${TARGET_SIGNS[t.kind]} ${num(t.goal, t.decimals)}${t.unit}`;
    console.log(`target: ${t.label} ${goal}, measured ${num(t.measured, t.decimals)}${t.unit}: ${t.met ? "met" : "MISSED"}`);
  }
}

const TARGET_NAMES: Record<QueryTarget, string> = { direct: "direct", passthrough: "pass-through", relay: "relay" };

function printQueryPhase(q: QueryPhaseResult): void {
  console.log(
    `\nquery phase: 2 × influxd ${q.influxdVersion}; ${int(q.load.points)} points (${mb(q.load.bytes)} of line protocol) ` +
      `loaded through the relay in ${q.load.seconds.toFixed(1)} s, both outputs in sync ${q.load.syncSeconds.toFixed(1)} s later; ` +
      `reads straight from the replicas (direct), through the bare pass-through and through the relay\n`,
  );
  const header = ["small query", "clients", "via", "p50 ms", "p99 ms", "req/s", "proxy CPU/req", "errors"];
  const rows = q.small.flatMap((s) =>
    QUERY_TARGETS.map((t, i) => [
      i === 0 ? s.query : "",
      i === 0 ? String(s.clients) : "",
      TARGET_NAMES[t],
      ...latencyFigures(s.targets[t], t),
    ]),
  );
  printTable([header, ...rows]);
  console.log();
  for (const s of q.small) {
    console.log(
      `p50 overhead over direct, ${s.query}, ${s.clients} client(s): relay +${s.p50OverheadMs.toFixed(2)} ms, ` +
        `pass-through +${s.passthroughP50OverheadMs.toFixed(2)} ms`,
    );
  }

  const l = q.large;
  console.log(`\nlarge answer: ${l.query}, chunked: ${mb(l.bytes)} each time\n`);
  const streamHeader = ["via", "MB/s", "each round MB/s", "first byte ms", "influxd cores", "proxy cores", "proxy CPU ms/MB"];
  const streamRows = QUERY_TARGETS.map((t) => [TARGET_NAMES[t], ...streamFigures(l.targets[t], t)]);
  printTable([streamHeader, ...streamRows]);
  console.log(`\nrelay MB/s ÷ direct MB/s: ${l.ratio.toFixed(3)}; ÷ pass-through MB/s: ${l.passthroughRatio.toFixed(3)}`);
  console.log(
    `relay RSS: ${mib(l.relayRss.beforeMiB)} before the large answers, ${mib(l.relayRss.peakMiB)} peak while streaming them, ` +
      `${mib(l.relayRss.afterMiB)} after`,
  );
  for (const s of q.small) {
    for (const t of QUERY_TARGETS) {
      const stats = s.targets[t];
      if (stats.firstError) console.log(`${s.query} (${TARGET_NAMES[t]}): ${stats.errors} errors, first: ${stats.firstError}`);
    }
  }
}

export function printRepairPhase(r: RepairPhaseResult): void {
  console.log(
    `\nrepair phase: 2 × influxd ${r.influxdVersion}; ${r.series} series of float, integer, string and boolean fields over ` +
      `two 7-day shard groups; the ingest baseline writes them into a with ${r.writesInFlight} × ${int(r.batchPoints)}-point ` +
      `writes in flight, as repair does; then check, repair of the empty b, check\n` +
      `influx-ha: ${r.command.join(" ")} (its RSS with --help: ${mib(r.helpRssMiB)})\n`,
  );
  const header = [
    "points",
    "ingest points/s",
    "repair points/s",
    "÷ ingest",
    "repair s, copy / all",
    "repair RSS peak",
    "check s, before / after",
    "check RSS peak",
  ];
  const rows = r.sizes.map((s) => [
    int(s.points),
    int(s.ingest.pointsPerSec),
    int(s.repair.pointsPerSec),
    s.ratio.toFixed(3),
    `${s.repair.dataSeconds.toFixed(1)} / ${s.repair.wallSeconds.toFixed(1)}`,
    mib(s.repair.peakRssMiB),
    `${s.checkBefore.wallSeconds.toFixed(1)} / ${s.checkAfter.wallSeconds.toFixed(1)}`,
    mib(Math.max(s.checkBefore.peakRssMiB, s.checkAfter.peakRssMiB)),
  ]);
  printTable([header, ...rows]);
  console.log();
  for (const s of r.sizes) {
    const perPoint = (seconds: number) => `${((seconds * 1e6) / s.points).toFixed(1)} µs`;
    const copy = s.repair.copyCpuSeconds;
    console.log(
      `${int(s.points)} points: repair says "wrote ${int(s.repair.written)} points in ${s.repair.reportedSeconds.toFixed(1)} s" ` +
        `(its own timing of the copy: ${int(s.points / s.repair.reportedSeconds)} points/s). CPU per point: the ingest, influxd ` +
        `${perPoint(s.ingest.influxdCpuSeconds)} + client ${perPoint(s.ingest.clientCpuSeconds)}; the copy, b ${perPoint(copy.target)} ` +
        `+ a ${perPoint(copy.source)} + the tool ${perPoint(copy.tool)} (the tool ${perPoint(s.repair.cpuSeconds)} in all, checks included)`,
    );
  }
}

export function printPromPhase(p: PromPhaseResult): void {
  console.log(
    `\nremote write phase: Prometheus remote write, ${p.samplesPerBody} samples a request (${kb(p.meanBodyBytes)} snappy) over ` +
      `${int(p.series)} series, every sample a new point; straight at one influxd (direct), then through the relay to ` +
      `both replicas (ack "one"), each run into a database of its own\n`,
  );
  const header = ["via", "samples/s", "req/s", "p50 ms", "p99 ms", "errors", "influxd CPU/sample", "relay CPU/sample", "relay RSS peak"];
  const cpu = (us: number) => `${us.toFixed(1)} µs`;
  printTable([
    header,
    ["direct", ...figures(p.direct), cpu(p.direct.cpu.influxdUs), "-", "-"],
    ["relay", ...figures(p.relay), cpu(p.relay.cpu.influxdUs), cpu(p.relay.cpu.relayUs), mib(p.relay.rss.peakMiB)],
  ]);
  console.log(`\nrelay samples/s ÷ direct samples/s: ${p.ratio.toFixed(3)}`);
  console.log(
    `replicas in sync ${p.syncSeconds.toFixed(1)} s after the relay's run, holding ${p.replicaSamples.map(int).join(" and ")} ` +
      `of its samples (it accepted ${int(p.relay.acceptedSamples)})`,
  );
}

function latencyFigures(l: LatencyStats, t: QueryTarget): string[] {
  const cpu = t === "direct" ? "-" : `${int(l.proxyCpuUsPerRequest)} µs`;
  return [l.p50Ms.toFixed(2), l.p99Ms.toFixed(2), int(l.requestsPerSec), cpu, String(l.errors)];
}

function streamFigures(s: StreamStats, t: QueryTarget): string[] {
  const proxy = t === "direct" ? ["-", "-"] : [s.proxyCores.toFixed(2), s.proxyCpuMsPerMb.toFixed(1)];
  return [
    s.mbPerSec.toFixed(1),
    s.roundsMbPerSec.map((v) => v.toFixed(1)).join(" "),
    int(s.firstByteMs),
    s.influxdCores.toFixed(2),
    ...proxy,
  ];
}

export function writeJson(path: string, results: BenchResults): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(results, null, 2) + "\n");
}

function figures(l: LoadResult): string[] {
  return [int(l.pointsPerSec), l.requestsPerSec.toFixed(1), l.p50Ms.toFixed(1), l.p99Ms.toFixed(1), String(l.errors)];
}

/** First column left-aligned, the numbers right-aligned. */
function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  for (const row of rows) {
    console.log(row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join("  "));
  }
}

function int(n: number): string {
  return num(n, 0);
}

function num(n: number, decimals: number): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function kb(bytes: number): string {
  return `${Math.round(bytes / 1024).toLocaleString("en-US")} KiB`;
}

/** Decimal megabytes, as the query phase counts them. */
function mb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

function mib(n: number): string {
  return `${n.toFixed(1)} MiB`;
}
