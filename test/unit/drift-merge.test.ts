// drift/merge.ts: what each replica lacks in a bucket, field by field. Properties over generated holdings: once
// the plan's writes are applied, every value no two replicas disagree on is on every replica; a value a replica
// holds is never changed unless --prefer settled a conflict; the conflicts are exactly the disagreements.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FieldValue } from "../../drift/line-protocol.js";
import { planMerge, sameValue, type Holdings, type SeriesHoldings } from "../../drift/merge.js";

const REPLICAS = ["r0", "r1", "r2"] as const;
type Cell = { series: string; time: bigint; field: string };
type Held = Map<string, FieldValue>; // "series|time|field" → value

const cellKey = (c: Cell) => `${c.series}|${c.time}|${c.field}`;

/** Per replica, a few values on a small grid of series × times × fields, so replicas overlap and clash. */
const grid = fc.array(
  fc.record({
    replica: fc.constantFrom(...REPLICAS),
    series: fc.constantFrom("cpu,host=a", "cpu,host=b"),
    time: fc.bigInt({ min: 1n, max: 3n }),
    field: fc.constantFrom("v", "w"),
    value: fc.constantFrom<FieldValue>(1, 2, 2n, 0.5, "2", true),
  }),
  { maxLength: 30 },
);

function toHoldings(cells: ReadonlyArray<Cell & { replica: string; value: FieldValue }>): Map<string, Holdings> {
  const holdings = new Map<string, Map<string, SeriesHoldings & { times: Map<bigint, Map<string, FieldValue>> }>>(
    REPLICAS.map((r) => [r, new Map()]),
  );
  for (const c of cells) {
    const byReplica = holdings.get(c.replica)!;
    const [measurement, tag] = c.series.split(",");
    const series = byReplica.get(c.series) ?? { measurement: measurement!, tags: { host: tag!.slice(5) }, times: new Map() };
    const fields = series.times.get(c.time) ?? new Map<string, FieldValue>();
    fields.set(c.field, c.value);
    series.times.set(c.time, fields);
    byReplica.set(c.series, series);
  }
  return holdings;
}

function flatten(holdings: Holdings): Held {
  const held: Held = new Map();
  for (const [series, s] of holdings)
    for (const [time, fields] of s.times) for (const [field, value] of fields) held.set(cellKey({ series, time, field }), value);
  return held;
}

describe("planMerge", () => {
  it("fills every gap no replicas disagree on, changes nothing held, and reports exactly the disagreements", () => {
    fc.assert(
      fc.property(grid, fc.option(fc.constantFrom(...REPLICAS), { nil: undefined }), (cells, prefer) => {
        const holdings = toHoldings(cells);
        const before = new Map([...holdings].map(([r, h]) => [r, flatten(h)]));
        const plan = planMerge(holdings, prefer);
        const after = new Map([...before].map(([r, held]) => [r, new Map(held)]));
        for (const [replica, points] of plan.writes) {
          for (const p of points) {
            for (const [field, value] of p.fields)
              after.get(replica)!.set(cellKey({ series: `${p.measurement},host=${p.tags.host}`, time: p.time, field }), value);
          }
        }
        const allCells = new Set([...before.values()].flatMap((held) => [...held.keys()]));
        const conflicted = new Set(plan.conflicts.map((c) => cellKey(c)));
        let disagreements = 0;
        for (const cell of allCells) {
          const values = REPLICAS.flatMap((r) => (before.get(r)!.has(cell) ? [before.get(r)!.get(cell)!] : []));
          const agree = values.every((v) => sameValue(v, values[0]!));
          if (!agree) disagreements++;
          const settledBy = !agree && prefer !== undefined ? before.get(prefer)!.get(cell) : undefined;
          for (const r of REPLICAS) {
            const was = before.get(r)!.get(cell);
            const now = after.get(r)!.get(cell);
            if (agree) expect(sameValue(now!, values[0]!)).toBe(true);
            else if (settledBy !== undefined) expect(sameValue(now!, settledBy)).toBe(true);
            else expect(now).toBe(was);
          }
          expect(conflicted.has(cell)).toBe(!agree && settledBy === undefined);
        }
        expect(plan.conflicts.length + plan.settled).toBe(disagreements);
      }),
      { numRuns: 300 },
    );
  });

  it("writes a replica only the fields it lacks, grouped per point", () => {
    const holdings = toHoldings([
      { replica: "r0", series: "cpu,host=a", time: 1n, field: "v", value: 1 },
      { replica: "r0", series: "cpu,host=a", time: 1n, field: "w", value: 2 },
      { replica: "r1", series: "cpu,host=a", time: 1n, field: "v", value: 1 },
    ]);
    const plan = planMerge(holdings);
    expect(plan.writes.get("r0")).toEqual([]);
    expect(plan.writes.get("r1")).toEqual([{ measurement: "cpu", tags: { host: "a" }, time: 1n, fields: new Map([["w", 2]]) }]);
    expect(plan.writes.get("r2")).toEqual([
      {
        measurement: "cpu",
        tags: { host: "a" },
        time: 1n,
        fields: new Map([
          ["v", 1],
          ["w", 2],
        ]),
      },
    ]);
  });

  it("takes an int64 as the same value whether it came as a number or a bigint, and never a string or boolean for a number", () => {
    expect(sameValue(3, 3n)).toBe(true);
    expect(sameValue("3", 3)).toBe(false);
    expect(sameValue(true, 1)).toBe(false);
    expect(sameValue(0.5, 0.5)).toBe(true);
    expect(sameValue(0.5, 1)).toBe(false);
    expect(sameValue(1.5, 2n)).toBe(false);
  });
});
