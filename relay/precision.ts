// Write precisions and the relay's receive time expressed in them.

/** What InfluxDB 1.x accepts in /write?precision= (empty means nanoseconds). */
export const PRECISIONS = ["n", "ns", "u", "ms", "s", "m", "h"] as const;
export type Precision = (typeof PRECISIONS)[number];

/** What /api/v2/write accepts, mapped to the 1.x names. */
const V2_PRECISIONS: Readonly<Record<string, Precision>> = { "": "ns", ns: "ns", us: "u", ms: "ms", s: "s" };

/** Nanoseconds in one unit of each precision. */
export const NS_PER_UNIT: Readonly<Record<Precision, bigint>> = {
  n: 1n,
  ns: 1n,
  u: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** The precision of a /write request, or an error in InfluxDB's wording. */
export function v1Precision(param: string | undefined): Precision | { error: string } {
  if (param === undefined || param === "") return "ns";
  if ((PRECISIONS as readonly string[]).includes(param)) return param as Precision;
  return { error: `invalid precision ${JSON.stringify(param)} (use n, u, ms, s, m or h)` };
}

/** The precision of an /api/v2/write request, or an error in InfluxDB's wording. */
export function v2Precision(param: string | undefined): Precision | { error: string } {
  const precision = V2_PRECISIONS[param ?? ""];
  return precision ?? { error: `invalid precision ${JSON.stringify(param)} (use ns, us, ms or s)` };
}

/**
 * Wall-clock time in nanoseconds. Date.now() keeps it on the system clock; the monotonic clock's
 * sub-millisecond part keeps two requests in the same millisecond from sharing a timestamp.
 */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

/** A timestamp in the given precision, as line protocol's decimal digits. */
export function timestampDigits(timeNs: bigint, precision: Precision): Buffer {
  return Buffer.from((timeNs / NS_PER_UNIT[precision]).toString(), "latin1");
}
