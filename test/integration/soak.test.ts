// A short soak (soak/soak.ts) in CI: ten seeded faults on the local layout under load, then every
// acknowledged point on both replicas, and both replicas the same. `npm run soak` runs longer ones.
import { describe, expect, it } from "vitest";
import { runSoak } from "../../soak/soak.js";
import { useLocalLayout } from "../helpers/local-layout.js";

const DATABASE = "soak";
const fx = useLocalLayout({ name: "soak", databases: [DATABASE] });

describe("npm run soak", () => {
  it("keeps every acknowledged point on both replicas through ten random faults (seed 1)", async () => {
    const result = await runSoak({ plan: fx.plan, layout: fx.layout, database: DATABASE, seed: 1, faults: 10, log: () => undefined });
    expect(result.violations).toEqual([]);
    expect(result.faults).toHaveLength(10);
    expect(result.ackedBatches).toBeGreaterThan(10 * 5);
    for (const points of Object.values(result.pointsOnReplicas)) expect(points).toBe(result.points);
  }, 240_000);
});
