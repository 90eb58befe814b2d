// The repair phase alone (`npm run bench:repair`): `npm run bench` runs it last, after the relay's phases,
// but at the 10 M points the check's target is about it takes minutes of its own, and needs nothing else.
//
// Environment:
//   BENCH_REPAIR_POINTS  points of the larger size (default 2,000,000); the smaller is a quarter
//   BENCH_DRIFT_CMD      influx-ha command line, split on spaces (e.g. "node dist/drift/main.js"); default: the
//                        current drift/ bundled into a temp dir. It must exec the tool itself, whose pid is measured.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBenchmark } from "./proc.js";
import { repairSettings, repairTargets, runRepairPhase } from "./repair.js";
import { printRepairPhase, printTargets } from "./report.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS_DIR = join(ROOT, "bench", "results");

async function main(): Promise<number> {
  const { points, driftArgv } = repairSettings(process.env);
  const tmpDir = mkdtempSync(join(os.tmpdir(), "influx-ha-bench-repair-"));
  // On "exit" so it also happens when a signal ends the benchmark early.
  process.once("exit", () => rmSync(tmpDir, { recursive: true, force: true }));
  const result = await runRepairPhase({ points, driftArgv, tmpDir, paths: { root: ROOT, logDir: RESULTS_DIR } });
  const targets = repairTargets(result);
  const cpus = os.cpus();
  console.log(`\n${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown"}, Node ${process.versions.node}`);
  printRepairPhase(result);
  console.log();
  printTargets(targets);
  const jsonPath = join(RESULTS_DIR, "repair.json");
  const machine = { cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? "unknown", node: process.versions.node };
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), machine, repair: result, targets }, null, 2) + "\n");
  console.log(`results written to ${jsonPath}`);
  for (const problem of result.problems) console.error(`FAILED: ${problem}`);
  return result.problems.length > 0 ? 1 : 0;
}

await runBenchmark(main);
