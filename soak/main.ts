// npm run soak -- [--seed N] [--faults N] [--port P]: a soak of the local layout (soak/soak.ts) in a
// temporary run dir. Prints the seed first, so a failing run can be replayed, and exits 1 when the
// invariant does not hold.
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalLayout } from "../local/layout.js";
import { planLocalLayout } from "../local/plan.js";
import { freeLayoutPort } from "../test/helpers/layout-port.js";
import { runSoak } from "./soak.js";

const DATABASE = "soak";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { seed: { type: "string" }, faults: { type: "string", default: "20" }, port: { type: "string" } },
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const faults = Number(values.faults);
  if (!Number.isInteger(seed) || !Number.isInteger(faults) || faults < 1) {
    console.error("usage: npm run soak -- [--seed N] [--faults N (at least 1, default 20)] [--port P]");
    return 2;
  }
  const runDir = await mkdtemp(join(tmpdir(), "influx-ha-soak-"));
  const port = values.port === undefined ? await freeLayoutPort() : Number(values.port);
  const plan = planLocalLayout(
    { port, replicas: 2, runDir, databases: [DATABASE], watch: false },
    { statsPassword: "soak-stats-password", relayAdminToken: "soak-relay-admin-token" },
  );
  const log = (line: string): void => console.log(line);
  const layout = new LocalLayout(plan, { info: (line) => log(`[local] ${line}`), warn: (line) => log(`[local] ${line}`) });
  const stop = async (): Promise<void> => {
    await layout.stop();
    rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  };
  process.once("SIGINT", () => void stop().finally(() => process.exit(130)));
  try {
    await layout.start();
    const result = await runSoak({ plan, layout, database: DATABASE, seed, faults, log });
    log(
      `soak: seed ${result.seed}: ${result.faults.length} faults, ${result.ackedBatches} batches (${result.points} points) acknowledged, ${result.retries} client retries`,
    );
    log(`soak: points on each replica: ${JSON.stringify(result.pointsOnReplicas)}`);
    for (const violation of result.violations) log(`soak: VIOLATION: ${violation}`);
    log(result.violations.length === 0 ? "soak: the invariant holds" : `soak: FAILED (seed ${result.seed})`);
    return result.violations.length === 0 ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
