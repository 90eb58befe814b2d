// InfluxQL text the drift tools send: quoted names and the time ranges of buckets, so a database, retention
// policy or measurement named with spaces, quotes or keywords is asked for as itself.
import { quoteIdentifier } from "../influxql/quote.js";

/** `"db"."rp"."m"`, or `"db"."rp"./.*\/` for every measurement of the policy. */
export function source(database: string, retentionPolicy: string, measurement?: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(retentionPolicy)}.${measurement === undefined ? "/.*/" : quoteIdentifier(measurement)}`;
}

/** Times in nanoseconds since the epoch, as influxd takes bare integers in a time condition. */
export interface TimeRange {
  readonly start: bigint;
  /** Exclusive. */
  readonly end: bigint;
}

/** Every time influxd can store: it refuses points outside [-2^63+2, 2^63-2]. */
export const ALL_TIME: TimeRange = { start: -9_223_372_036_854_775_806n, end: 9_223_372_036_854_775_807n };

export function timeCondition(range: TimeRange): string {
  return `time >= ${range.start} AND time < ${range.end}`;
}

/** The part of `range` inside `bounds`. */
export function clampTo(range: TimeRange, bounds: TimeRange): TimeRange {
  return { start: range.start > bounds.start ? range.start : bounds.start, end: range.end < bounds.end ? range.end : bounds.end };
}

/** Rounds down to a multiple of `step`, as influxd aligns shard groups and GROUP BY time buckets. */
export function floorTo(ns: bigint, step: bigint): bigint {
  const rest = ns % step;
  return rest < 0n ? ns - rest - step : ns - rest;
}
