// What each replica lacks in one bucket, field by field, from the points every replica holds there: a value
// one replica has and another lacks is copied; a value two replicas hold differently is a conflict, settled
// only for a preferred replica the operator names. Nothing a replica holds is overwritten otherwise. Pure.
import type { FieldValue, Point } from "./line-protocol.js";

/** One replica's points in a bucket: series key to time to field values. */
export type Holdings = ReadonlyMap<string, SeriesHoldings>;

export interface SeriesHoldings {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly times: ReadonlyMap<bigint, ReadonlyMap<string, FieldValue>>;
}

export interface Conflict {
  readonly series: string;
  readonly time: bigint;
  readonly field: string;
  /** The value on each replica that holds one. */
  readonly values: Readonly<Record<string, FieldValue>>;
}

export interface MergePlan {
  /** Replica to the points to write to it, each with only the fields it lacks (or, with prefer, holds wrong). */
  readonly writes: ReadonlyMap<string, readonly Point[]>;
  /** Conflicts left as they are: no preferred replica, or it lacks the value. */
  readonly conflicts: readonly Conflict[];
  /** Conflicts settled by the preferred replica's value. */
  readonly settled: number;
}

export function sameValue(a: FieldValue, b: FieldValue): boolean {
  if (a === b) return true;
  // int64 values come as number or bigint depending on their size; never across strings or booleans.
  if (typeof a === "bigint" && typeof b === "number") return Number.isInteger(b) && a === BigInt(b);
  if (typeof a === "number" && typeof b === "bigint") return Number.isInteger(a) && BigInt(a) === b;
  return false;
}

export function planMerge(holdings: ReadonlyMap<string, Holdings>, prefer?: string): MergePlan {
  const replicas = [...holdings.keys()];
  const writes = new Map<string, Map<string, { point: Omit<Point, "fields">; fields: Map<string, FieldValue> }>>(
    replicas.map((r) => [r, new Map()]),
  );
  const conflicts: Conflict[] = [];
  let settled = 0;
  /** `key`: the series key the holdings are mapped by. */
  const give = (replica: string, key: string, series: SeriesHoldings, time: bigint, field: string, value: FieldValue) => {
    const pending = writes.get(replica)!;
    const pointKey = `${key} ${time}`;
    const entry = pending.get(pointKey) ?? { point: { measurement: series.measurement, tags: series.tags, time }, fields: new Map() };
    entry.fields.set(field, value);
    pending.set(pointKey, entry);
  };

  const seriesKeys = new Set([...holdings.values()].flatMap((h) => [...h.keys()]));
  for (const key of seriesKeys) {
    const bySeries = replicas.map((r) => holdings.get(r)!.get(key));
    const series = bySeries.find((s) => s !== undefined)!;
    const times = new Set(bySeries.flatMap((s) => [...(s?.times.keys() ?? [])]));
    for (const time of times) {
      const fields = new Set(bySeries.flatMap((s) => [...(s?.times.get(time)?.keys() ?? [])]));
      for (const field of fields) {
        const values: Record<string, FieldValue> = {};
        replicas.forEach((r, i) => {
          const value = bySeries[i]?.times.get(time)?.get(field);
          if (value !== undefined) values[r] = value;
        });
        const held = Object.values(values);
        if (held.every((v) => sameValue(v, held[0]!))) {
          for (const r of replicas) if (!(r in values)) give(r, key, series, time, field, held[0]!);
          continue;
        }
        const preferred = prefer === undefined ? undefined : values[prefer];
        if (preferred === undefined) {
          conflicts.push({ series: key, time, field, values });
          continue;
        }
        settled++;
        for (const r of replicas) if (!(r in values) || !sameValue(values[r]!, preferred)) give(r, key, series, time, field, preferred);
      }
    }
  }
  return {
    writes: new Map(
      [...writes].map(([replica, pending]) => [replica, [...pending.values()].map(({ point, fields }) => ({ ...point, fields }))]),
    ),
    conflicts,
    settled,
  };
}
