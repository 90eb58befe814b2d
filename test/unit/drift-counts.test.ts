// drift/counts.ts and the time arithmetic of drift/influxql.ts: which buckets differ, which replica looks whole,
// and buckets aligned as influxd aligns shard groups and GROUP BY time, for negative times too.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countQuery, diffCounts, pointCount, sameCounts, wholeReplicas, type PolicyCounts } from "../../relay/drift/counts.js";
import { ALL_TIME, clampTo, floorTo } from "../../relay/drift/influxql.js";
import { quoteIdentifier } from "../../relay/influxql/quote.js";

const WEEK = 604_800_000_000_000n;
const counts = (entries: Record<string, Record<string, Record<string, number>>>): PolicyCounts =>
  new Map(
    Object.entries(entries).map(([m, buckets]) => [
      m,
      new Map(Object.entries(buckets).map(([start, fields]) => [BigInt(start), new Map(Object.entries(fields))])),
    ]),
  );

describe("diffCounts", () => {
  it("reports the buckets whose counts differ, with every replica's counts, clamped to the compared range", () => {
    const a = counts({ cpu: { "0": { v: 10, w: 10 }, [String(WEEK)]: { v: 5 } }, mem: { "0": { f: 1 } } });
    const b = counts({ cpu: { "0": { v: 10, w: 10 }, [String(WEEK)]: { v: 4 } } });
    const range = { start: 100n, end: WEEK + 7n };
    expect(
      diffCounts(
        "db",
        "rp",
        new Map([
          ["a", a],
          ["b", b],
        ]),
        WEEK,
        range,
      ),
    ).toEqual([
      {
        database: "db",
        retentionPolicy: "rp",
        measurement: "cpu",
        range: { start: WEEK, end: WEEK + 7n },
        counts: { a: { v: 5 }, b: { v: 4 } },
      },
      { database: "db", retentionPolicy: "rp", measurement: "mem", range: { start: 100n, end: WEEK }, counts: { a: { f: 1 }, b: {} } },
    ]);
  });

  it("finds nothing between replicas that hold the same counts, and a bucket for any one count changed", () => {
    const field = fc.dictionary(fc.constantFrom("v", "w", "x"), fc.integer({ min: 1, max: 9 }), { minKeys: 1 });
    const policy = fc.dictionary(fc.constantFrom("cpu", "mem"), fc.dictionary(fc.constantFrom("0", "1", "-1"), field, { minKeys: 1 }), {
      minKeys: 1,
    });
    fc.assert(
      fc.property(policy, fc.nat(), (entries, pick) => {
        const same = diffCounts(
          "d",
          "r",
          new Map([
            ["a", counts(entries)],
            ["b", counts(entries)],
          ]),
          1n,
          ALL_TIME,
        );
        expect(same).toEqual([]);
        const measurement = Object.keys(entries)[pick % Object.keys(entries).length]!;
        const bucket = Object.keys(entries[measurement]!)[pick % Object.keys(entries[measurement]!).length]!;
        const changed = structuredClone(entries);
        const fieldName = Object.keys(changed[measurement]![bucket]!)[0]!;
        changed[measurement]![bucket]![fieldName]! += 1;
        const found = diffCounts(
          "d",
          "r",
          new Map([
            ["a", counts(entries)],
            ["b", counts(changed)],
          ]),
          1n,
          ALL_TIME,
        );
        expect(found.map((d) => [d.measurement, d.range.start])).toEqual([[measurement, BigInt(bucket)]]);
        expect(wholeReplicas(found[0]!.counts)).toEqual(["b"]);
      }),
    );
  });
});

describe("counting", () => {
  it("takes a replica's points as its most counted field, and whole the replicas at least as full in every field", () => {
    expect(pointCount({ v: 3, w: 7 })).toBe(7);
    expect(pointCount({})).toBe(0);
    expect(wholeReplicas({ a: { v: 3, w: 7 }, b: { v: 3, w: 6 } })).toEqual(["a"]);
    // Each lacks a field the other has: neither is whole.
    expect(wholeReplicas({ a: { v: 3 }, b: { w: 3 } })).toEqual([]);
    expect(sameCounts([{ v: 1 }, { v: 1, w: 0 }])).toBe(false);
  });

  it("asks influxd for each measurement in a statement of its own, quoted, per bucket, without empty buckets", () => {
    expect(countQuery('my "db"', "rp", { start: -5n, end: 10n }, WEEK, ["cpu", "a b"])).toBe(
      `SELECT count(*) FROM "my \\"db\\""."rp"."cpu" WHERE time >= -5 AND time < 10 GROUP BY time(${WEEK}ns) fill(none); ` +
        `SELECT count(*) FROM "my \\"db\\""."rp"."a b" WHERE time >= -5 AND time < 10 GROUP BY time(${WEEK}ns) fill(none)`,
    );
    expect(quoteIdentifier("a\\b")).toBe('"a\\\\b"');
  });
});

describe("floorTo and clampTo", () => {
  it("round down to the bucket that holds the time, before the epoch too", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), fc.bigInt({ min: 1n, max: WEEK }), (ns, step) => {
        const start = floorTo(ns, step);
        expect(start % step).toBe(0n);
        expect(start <= ns && ns - start < step).toBe(true);
      }),
    );
    expect(floorTo(-1n, 10n)).toBe(-10n);
  });

  it("keep the part of a range inside the bounds", () => {
    expect(clampTo({ start: 0n, end: 100n }, { start: 10n, end: 50n })).toEqual({ start: 10n, end: 50n });
    expect(clampTo({ start: 20n, end: 30n }, { start: 10n, end: 50n })).toEqual({ start: 20n, end: 30n });
  });
});
