// planFaults (soak/plan.ts): a seeded, replayable plan of faults for the soak.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../bench/random.js";
import { planFaults, type FaultPlanOptions } from "../../soak/plan.js";

const base: FaultPlanOptions = {
  seed: 1,
  faults: 10,
  replicas: ["influxd-0", "influxd-1"],
  relays: ["relay-0", "relay-1"],
  holdMs: { min: 500, max: 3_000 },
  settleMs: { min: 200, max: 1_000 },
};

describe("planFaults", () => {
  it("gives the same plan for the same seed and another for another seed", () => {
    expect(planFaults(base)).toEqual(planFaults(base));
    expect(planFaults({ ...base, seed: 2 })).not.toEqual(planFaults(base));
  });

  it("draws every kind and every target over a long plan", () => {
    const plan = planFaults({ ...base, faults: 200 });
    expect(new Set(plan.map((f) => f.kind))).toEqual(new Set(["kill", "freeze", "restart"]));
    expect(new Set(plan.map((f) => f.target.name))).toEqual(new Set(["influxd-0", "influxd-1", "relay-0", "relay-1"]));
  });

  it("keeps every fault's times within their bounds, and its target among the layout's", () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(50), fc.nat(5_000), fc.nat(5_000), (seed, faults, a, b) => {
        const holdMs = { min: Math.min(a, b), max: Math.max(a, b) };
        const plan = planFaults({ ...base, seed, faults, holdMs });
        expect(plan).toHaveLength(faults);
        for (const fault of plan) {
          expect(fault.holdMs).toBeGreaterThanOrEqual(holdMs.min);
          expect(fault.holdMs).toBeLessThanOrEqual(holdMs.max);
          expect(fault.target.role === "replica" ? base.replicas : base.relays).toContain(fault.target.name);
        }
      }),
    );
  });

  it("draws uniformly in [0, 1)", () => {
    const random = mulberry32(42);
    const draws = Array.from({ length: 10_000 }, random);
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
  });
});
