// The client's answer once every output has had its try at a write, by the listener's ack level.
// It keeps influxdb-relay's documented semantics (any 4xx is passed back, 2xx once an output took it,
// a 5xx only when every output failed), made deterministic: the answer waits for every output, so it
// no longer depends on which backend answered first. A write is queued for the outputs that missed it
// only when at least one output took it, so a client retrying a refused write never fills the queues.
// InfluxQL statements travel the same way; their answer is the results of an output that applied them.
import { errorBody } from "./errors.js";
import type { OutputReply } from "./output.js";

export type AckLevel = "one" | "quorum" | "all";
export const ACK_LEVELS: readonly AckLevel[] = ["one", "quorum", "all"];

/** One output's first try at a write. */
export type Attempt =
  /** The backend answered 2xx. */
  | { readonly kind: "accepted"; readonly reply: OutputReply }
  /** The backend answered 4xx, or refused the statement: the request itself is at fault. */
  | { readonly kind: "rejected"; readonly reply: OutputReply }
  /**
   * "database not found": the database may still be on its way there, in a CREATE DATABASE that a relay
   * holds queued. Kept and retried like a failure when another output took the write; passed back when none did.
   */
  | { readonly kind: "missing-database"; readonly reply: OutputReply }
  /** No answer, a timeout or a 5xx: the write may go to the output's queue. */
  | { readonly kind: "failed"; readonly reply: OutputReply }
  /** Not sent: the write must go behind what the output (or another relay) holds for the replica. */
  | { readonly kind: "deferred"; readonly output: string; readonly reason: string };

export interface ClientAnswer {
  readonly status: number;
  readonly body?: Buffer | string;
  readonly contentType?: string;
}

export interface AckDecision {
  readonly answer: ClientAnswer;
  /** Queue the write for outputs that failed or deferred it: true when at least one output took it. */
  readonly queue: boolean;
}

/** Outputs that must accept a write before the client gets 2xx. */
export function requiredAccepts(level: AckLevel, outputs: number): number {
  if (level === "one") return 1;
  if (level === "quorum") return Math.floor(outputs / 2) + 1;
  return outputs;
}

export function decide(level: AckLevel, attempts: readonly Attempt[]): AckDecision {
  const accepted = attempts.filter((a) => a.kind === "accepted");
  const queue = accepted.length > 0;
  const rejected = attempts.find((a) => a.kind === "rejected");
  if (rejected) return { answer: passThrough(rejected.reply), queue };
  const needed = requiredAccepts(level, attempts.length);
  // A write's answer is 204; a statement's is its results, from the first output that applied it.
  const first = accepted[0];
  if (accepted.length >= needed && first) return { answer: first.reply.body ? passThrough(first.reply) : { status: 204 }, queue };
  const missed = attempts
    .filter((a) => a.kind !== "accepted")
    .map(describeAttempt)
    .join("; ");
  if (accepted.length > 0) {
    const message =
      `ack "${level}" needs ${needed} of ${attempts.length} outputs to accept the write, and ${accepted.length} did ` +
      `(${accepted.map(nameOf).join(", ")}). The others keep it in their queues and will replay it: ${missed}`;
    return { answer: jsonError(503, message), queue };
  }
  const missing = attempts.find((a) => a.kind === "missing-database");
  if (missing && missing.kind === "missing-database") return { answer: passThrough(missing.reply), queue };
  const last5xx = attempts.findLast((a) => a.kind === "failed" && a.reply.status >= 500);
  if (last5xx && last5xx.kind === "failed") return { answer: passThrough(last5xx.reply), queue };
  return { answer: jsonError(503, `no backend took the write, and nothing was kept: ${missed}`), queue };
}

export function describeReply(reply: OutputReply): string {
  if (reply.status === 0) return reply.error?.message ?? "no answer";
  const body = reply.body?.toString("utf8", 0, 300).trim();
  return body ? `HTTP ${reply.status}: ${body}` : `HTTP ${reply.status}`;
}

function describeAttempt(attempt: Attempt): string {
  if (attempt.kind === "deferred") return `${attempt.output}: ${attempt.reason}`;
  return `${attempt.reply.output}: ${describeReply(attempt.reply)}`;
}

function nameOf(attempt: Attempt): string {
  return attempt.kind === "deferred" ? attempt.output : attempt.reply.output;
}

function jsonError(status: number, message: string): ClientAnswer {
  return { status, body: errorBody(message), contentType: "application/json" };
}

function passThrough(reply: OutputReply): ClientAnswer {
  return { status: reply.status, body: reply.body ?? "", contentType: reply.contentType ?? "text/plain" };
}
