// Replay merges queued writes into larger requests, but only writes that would have gone to the same
// place as the same user: same API, same query string (database, retention policy, precision) and auth.
// Only line protocol is merged: each InfluxQL statement's answer is read on its own, and a Prometheus
// remote write's body is a snappy block, which does not join another.
import type { RecordKind } from "../output.js";
import type { QueueEntry } from "./frame.js";

export function sameTarget(a: QueueEntry, b: QueueEntry): boolean {
  return isLineProtocol(a.api) && a.api === b.api && a.query === b.query && a.authorization === b.authorization;
}

function isLineProtocol(kind: RecordKind): boolean {
  return kind === "v1" || kind === "v2";
}

const NEWLINE = Buffer.from("\n");

/** The bodies as one, each ending in a newline so the last line of one never runs into the next. */
export function mergeBodies(entries: readonly QueueEntry[]): Buffer {
  if (entries.length === 1) return entries[0]!.body;
  const parts: Buffer[] = [];
  for (const { body } of entries) {
    parts.push(body);
    if (body.length > 0 && body[body.length - 1] !== 0x0a) parts.push(NEWLINE);
  }
  return Buffer.concat(parts);
}

export function pointsIn(entries: readonly QueueEntry[]): number {
  return entries.reduce((sum, e) => sum + e.points, 0);
}
