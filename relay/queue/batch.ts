// Replay merges queued writes into larger requests, but only writes that would have gone to the same
// place as the same user: same API, same query string (database, retention policy, precision) and auth.
// InfluxQL statements are never merged: each one's answer is read on its own.
import { isStatement } from "../output.js";
import type { QueueEntry } from "./frame.js";

export function sameTarget(a: QueueEntry, b: QueueEntry): boolean {
  return !isStatement(a.api) && a.api === b.api && a.query === b.query && a.authorization === b.authorization;
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
