// Presenting results: a table for people, JSON for tooling.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { LoadResult } from "./load.js";
import type { OutageResult } from "./outage.js";
import type { RssStats } from "./rss.js";

export interface Target {
  label: string;
  measured: number;
  goal: number;
  /** Shown after the numbers, e.g. " ms". */
  unit: string;
  decimals: number;
  /** "min": measured must be at least goal; "max": measured must stay below goal. */
  kind: "min" | "max";
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
  targets: Target[];
}

export function target(t: Omit<Target, "met">): Target {
  return { ...t, met: t.kind === "min" ? t.measured >= t.goal : t.measured < t.goal };
}

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

  console.log();
  for (const t of r.targets) {
    const goal = `${t.kind === "min" ? "≥" : "<"} ${num(t.goal, t.decimals)}${t.unit}`;
    console.log(`target: ${t.label} ${goal}, measured ${num(t.measured, t.decimals)}${t.unit}: ${t.met ? "met" : "MISSED"}`);
  }
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

function mib(n: number): string {
  return `${n.toFixed(1)} MiB`;
}
