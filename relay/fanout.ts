// One write or statement to every output: each tries it (or defers it behind its queue), the ack level
// decides the client's answer, and each output that missed it queues it or lets it go. Before the answer
// goes out, the relay's peers hear of every output that has just fallen behind, so no relay sends a read
// there that could miss what this client was just told is written.
import type { FastifyReply } from "fastify";
import { decide, describeReply, type AckLevel, type Attempt, type ClientAnswer } from "./ack.js";
import type { DivergenceLog } from "./divergence.js";
import type { DurableOutput, Outcome } from "./durable-output.js";
import { isStatement } from "./output.js";
import type { Peers } from "./peers.js";
import type { QueueEntry } from "./queue/frame.js";
import type { ThrottledLog } from "./throttled-log.js";

export interface FanOutOptions {
  readonly listener: string;
  readonly ack: AckLevel;
  readonly outputs: readonly DurableOutput[];
  readonly peers: Peers;
  readonly divergences: DivergenceLog;
  readonly warnings: ThrottledLog;
}

export class FanOut {
  /** Per output, the behind-episode its peers were last told of. */
  private readonly announced = new Map<string, number>();
  /** Deliveries under way, so closing can wait for them. */
  private readonly inFlight = new Set<Promise<ClientAnswer>>();

  constructor(private readonly opts: FanOutOptions) {}

  /** The client's answer, once every output has tried the request and kept it as the ack level says. */
  deliver(entry: QueueEntry): Promise<ClientAnswer> {
    const delivery = this.deliverToAll(entry);
    this.inFlight.add(delivery);
    const forget = () => this.inFlight.delete(delivery);
    delivery.then(forget, forget);
    return delivery;
  }

  /** Resolves once every delivery begun so far has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async deliverToAll(entry: QueueEntry): Promise<ClientAnswer> {
    const { outputs } = this.opts;
    const attempts = await Promise.all(outputs.map((output) => output.attempt(entry)));
    const decision = decide(this.opts.ack, attempts);
    const [outcomes] = await Promise.all([
      Promise.all(outputs.map((output, i) => output.settle(entry, attempts[i]!, decision))),
      decision.queue ? this.fenceNewlyBehind(attempts) : undefined,
    ]);
    outcomes.forEach((outcome, i) => this.logMiss(entry, attempts[i]!, outcome));
    if (isStatement(entry.api)) this.checkAgreement(entry, attempts);
    return decision.answer;
  }

  /** Peers are told once per episode; a peer that does not answer within peer-timeout does not hold the answer up. */
  private async fenceNewlyBehind(attempts: readonly Attempt[]): Promise<void> {
    const fences: Promise<void>[] = [];
    this.opts.outputs.forEach((output, i) => {
      const kind = attempts[i]!.kind;
      if (kind === "accepted" || kind === "rejected") return;
      if (this.announced.get(output.name) === output.behindEpisode) return;
      this.announced.set(output.name, output.behindEpisode);
      fences.push(this.opts.peers.fence(output.name));
    });
    await Promise.all(fences);
  }

  /** A statement one output applied and another refused leaves the replicas different: never silent. */
  private checkAgreement(entry: QueueEntry, attempts: readonly Attempt[]): void {
    const applied = attempts.filter((a) => a.kind === "accepted").map((a) => (a.kind === "accepted" ? a.reply.output : ""));
    const refused = attempts.flatMap((a) =>
      a.kind === "rejected" ? [{ output: a.reply.output, error: a.reply.statementError ?? describeReply(a.reply) }] : [],
    );
    if (applied.length === 0 || refused.length === 0) return;
    this.opts.divergences.record({
      statement: new URLSearchParams(entry.body.toString("utf8")).get("q") ?? "",
      appliedOn: applied,
      refusedBy: refused,
      via: "live",
    });
  }

  /** A request one output missed while the client was told otherwise, or was told nothing about it. */
  private logMiss(entry: QueueEntry, attempt: Attempt, outcome: Outcome): void {
    if (attempt.kind !== "failed" || outcome === "dropped") return; // deferred requests are expected; drops log themselves
    const { output } = attempt.reply;
    const what = isStatement(entry.api) ? "statement" : "write";
    this.opts.warnings.warn(
      `output:${output}`,
      { listener: this.opts.listener, output, status: attempt.reply.status, outcome },
      `${what} failed on output ${output} (${describeReply(attempt.reply)}): ${outcome === "queued" ? "queued for replay" : "not kept, as no output took it"}`,
    );
  }
}

export function sendAnswer(reply: FastifyReply, answer: ClientAnswer): FastifyReply {
  if (answer.contentType) reply.type(answer.contentType);
  return reply.code(answer.status).send(answer.body);
}
