// The remote write phase alone (`npm run bench:prom`): `npm run bench` runs it last, after the other phases;
// alone it needs no sinks, no query data and no repair, and writes bench/results/prom.json.
//
// Environment: BENCH_SECONDS and BENCH_RELAY_CMD, as for `npm run bench` (see bench/relay-bench.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBenchmark } from "./proc.js";
import { runPromPhase } from "./prom.js";
import { printPromPhase } from "./report.js";
import { benchSeconds, relayCommand } from "./settings.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS_DIR = join(ROOT, "bench", "results");
const WARMUP_SECONDS = 2;
const CLIENTS = 4;
const STOP_GRACE_MS = 10_000;

async function main(): Promise<number> {
  const seconds = benchSeconds(process.env);
  const relayArgv = relayCommand(process.env);
  const tmpDir = mkdtempSync(join(os.tmpdir(), "influx-ha-bench-prom-"));
  // On "exit" so it also happens when a signal ends the benchmark early.
  process.once("exit", () => rmSync(tmpDir, { recursive: true, force: true }));
  const result = await runPromPhase({
    relayArgv,
    tmpDir,
    paths: { root: ROOT, logDir: RESULTS_DIR },
    stopGraceMs: STOP_GRACE_MS,
    seconds,
    warmupSeconds: WARMUP_SECONDS,
    clients: CLIENTS,
  });
  const cpus = os.cpus();
  const machine = { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", node: process.versions.node };
  console.log(
    `\n${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}; ${seconds} s per run after ${WARMUP_SECONDS} s warm-up, ` +
      `${CLIENTS} senders; relay: ${relayArgv.join(" ")}`,
  );
  printPromPhase(result);
  const jsonPath = join(RESULTS_DIR, "prom.json");
  const settings = { seconds, warmupSeconds: WARMUP_SECONDS, clients: CLIENTS, relayCommand: relayArgv };
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, settings, prom: result }, null, 2) + "\n");
  console.log(`results written to ${jsonPath}`);
  for (const problem of result.problems) console.error(`FAILED: ${problem}`);
  return result.problems.length > 0 ? 1 : 0;
}

await runBenchmark(main);
