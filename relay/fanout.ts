// Sends one write to every output and decides the client's answer as influxdb-relay documents it:
// 204 as soon as one output returns 2xx; the first 4xx at once, with its body; a 5xx only when every
// output failed (the last 5xx, or 503 when none answered).
import { errorBody } from "./errors.js";
import type { OutputReply } from "./output.js";

export interface ClientAnswer {
  readonly status: number;
  readonly body?: Buffer | string;
  readonly contentType?: string;
}

export interface FanOut {
  /** Resolves as soon as the client's answer is known. */
  readonly answer: Promise<ClientAnswer>;
  /** Resolves when every output has answered, with every reply. */
  readonly replies: Promise<readonly OutputReply[]>;
}

export function fanOut(sends: readonly Promise<OutputReply>[]): FanOut {
  let resolveAnswer!: (answer: ClientAnswer) => void;
  const answer = new Promise<ClientAnswer>((resolve) => (resolveAnswer = resolve));
  let answered = false;
  const arrived: OutputReply[] = [];
  const decide = (reply: OutputReply) => {
    arrived.push(reply);
    if (answered) return;
    if (isSuccess(reply.status)) resolveAnswer({ status: 204 });
    else if (isClientError(reply.status)) resolveAnswer(passThrough(reply));
    else return;
    answered = true;
  };
  const replies = Promise.all(sends.map((send) => send.then((reply) => (decide(reply), reply))));
  void replies.then(() => {
    if (!answered) resolveAnswer(allFailed(arrived));
  });
  return { answer, replies };
}

/** Replies that the client's answer hid: failures when another output succeeded, and 4xx after a success. */
export function partialFailures(replies: readonly OutputReply[]): OutputReply[] {
  if (!replies.some((r) => isSuccess(r.status))) return [];
  return replies.filter((r) => !isSuccess(r.status));
}

export function describeReply(reply: OutputReply): string {
  if (reply.status === 0) return reply.error?.message ?? "no answer";
  const body = reply.body?.toString("utf8", 0, 300).trim();
  return body ? `HTTP ${reply.status}: ${body}` : `HTTP ${reply.status}`;
}

/** Replies in the order they arrived, so "the last 5xx" is the last one answered. */
function allFailed(replies: readonly OutputReply[]): ClientAnswer {
  const last5xx = replies.findLast((r) => r.status >= 500);
  if (last5xx) return passThrough(last5xx);
  const reasons = replies.map((r) => `${r.output}: ${describeReply(r)}`).join("; ");
  return { status: 503, body: errorBody(`no backend answered: ${reasons}`), contentType: "application/json" };
}

function passThrough(reply: OutputReply): ClientAnswer {
  return { status: reply.status, body: reply.body ?? "", contentType: reply.contentType ?? "text/plain" };
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isClientError(status: number): boolean {
  return status >= 400 && status < 500;
}
