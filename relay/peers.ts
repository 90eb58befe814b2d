// The other relays in front of the same replicas. Each one's /status is read every peer-poll-interval, so
// this relay knows which replicas they hold a backlog for; a peer that cannot be reached keeps its last
// known state. Polling alone leaves a window, so a relay that starts queueing for a replica fences it on
// every peer (POST /peer/fence) before it answers the client; the fence holds until a poll of that relay,
// begun after the fence, shows what it holds.
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Pool } from "undici";
import type { PeerWrites } from "./durable-output.js";
import { HttpError } from "./errors.js";
import type { Logger } from "./logger.js";
import { ThrottledLog } from "./throttled-log.js";

export interface PeerOutputState {
  /** The peer holds a backlog for the replica, or has it marked out of sync. */
  readonly behind: boolean;
  readonly queueBytes: number;
  readonly outOfSync: boolean;
  /** Writes that missed the replica and are on their way into the peer's queue. */
  readonly pendingAttempts: number;
  /** When the oldest write in the peer's queue for the replica was accepted (ms since the epoch). */
  readonly oldestAcceptedAt: number | undefined;
}

export interface PeerState {
  readonly url: string;
  readonly reachable: boolean;
  readonly relayId: string | undefined;
  /** When the poll that gave `outputs` began; undefined before the first answer. */
  readonly polledAt: number | undefined;
  readonly lastError: string | undefined;
  readonly outputs: ReadonlyMap<string, PeerOutputState>;
}

export interface PeersOptions {
  /** Base URLs of the peers' listeners. */
  readonly urls: readonly string[];
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

interface Fence {
  readonly from: string;
  readonly output: string;
  readonly at: number;
}

/** A fence from a relay this one does not poll (not among its peers) lapses after this many poll intervals. */
const UNKNOWN_SENDER_FENCE_POLLS = 10;

export class Peers implements PeerWrites {
  /** Who this listener is to its peers: it names the fences it sends, and its /status. */
  readonly relayId = randomUUID();
  private readonly peers: Map<string, PeerState>;
  private readonly pools = new Map<string, Pool>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private fences: Fence[] = [];
  private closed = false;
  private readonly warnings: ThrottledLog;

  constructor(private readonly opts: PeersOptions) {
    this.warnings = new ThrottledLog(opts.logger, 60_000);
    this.peers = new Map(
      opts.urls.map((url) => [
        url,
        { url, reachable: false, relayId: undefined, polledAt: undefined, lastError: "not polled yet", outputs: new Map() },
      ]),
    );
    for (const url of opts.urls) this.pools.set(url, new Pool(new URL(url).origin, { connections: 2 }));
  }

  /** Starts polling every peer; the first poll goes out at once. */
  start(): void {
    for (const url of this.opts.urls) void this.pollLoop(url);
  }

  states(): readonly PeerState[] {
    return [...this.peers.values()];
  }

  /** Replicas a peer has fenced and not yet shown its state for in a later poll. */
  fencedOutputs(now = Date.now()): ReadonlySet<string> {
    this.fences = this.fences.filter((fence) => this.holds(fence, now));
    return new Set(this.fences.map((fence) => fence.output));
  }

  holdWritesFor(output: string): boolean {
    return this.fencedOutputs().has(output) || [...this.peers.values()].some((peer) => peer.outputs.get(output)?.behind === true);
  }

  /**
   * True until every peer that answers has been polled since `acceptedAt`, and no peer holds anything for
   * `output` that it accepted at or before then. A peer that cannot be reached counts as its last poll and
   * its fences show it: one that was queueing for the replica still holds those writes on its disk.
   */
  holdWritesBefore(output: string, acceptedAt: number): boolean {
    if (this.fencedOutputs().has(output)) return true;
    for (const peer of this.peers.values()) {
      if (peer.reachable && (peer.polledAt === undefined || peer.polledAt <= acceptedAt)) return true;
      const state = peer.outputs.get(output);
      if (state === undefined) continue;
      if (state.pendingAttempts > 0) return true;
      if (state.oldestAcceptedAt !== undefined && state.oldestAcceptedAt <= acceptedAt) return true;
    }
    return false;
  }

  /** A peer starts queueing for `output`. */
  receiveFence(from: string, output: string): void {
    this.fences.push({ from, output, at: Date.now() });
  }

  /** Tells every peer to hold reads off `output`; waits at most peer-timeout, and never fails. */
  async fence(output: string): Promise<void> {
    const query = new URLSearchParams({ output, from: this.relayId });
    await Promise.all(
      this.opts.urls.map(async (url) => {
        try {
          const response = await this.pools.get(url)!.request({
            method: "POST",
            path: `${new URL(url).pathname.replace(/\/$/, "")}/peer/fence?${query}`,
            signal: AbortSignal.timeout(this.opts.timeoutMs),
          });
          await response.body.dump();
          if (response.statusCode !== 204) throw new Error(`HTTP ${response.statusCode}`);
        } catch (err) {
          this.warnings.warn(`fence:${url}`, { peer: url, output }, `cannot fence ${output} on peer ${url}: ${(err as Error).message}`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all([...this.pools.values()].map((pool) => pool.destroy()));
  }

  private holds(fence: Fence, now: number): boolean {
    const sender = [...this.peers.values()].find((peer) => peer.relayId === fence.from);
    if (sender) return sender.polledAt === undefined || sender.polledAt <= fence.at;
    return now - fence.at < UNKNOWN_SENDER_FENCE_POLLS * this.opts.pollIntervalMs;
  }

  private async pollLoop(url: string): Promise<void> {
    if (this.closed) return;
    await this.poll(url);
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.pollLoop(url);
    }, this.opts.pollIntervalMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async poll(url: string): Promise<void> {
    const startedAt = Date.now();
    const previous = this.peers.get(url)!;
    try {
      const response = await this.pools.get(url)!.request({
        method: "GET",
        path: `${new URL(url).pathname.replace(/\/$/, "")}/status`,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`/status answered HTTP ${response.statusCode}`);
      const status = parseStatus(text);
      if (!previous.reachable) this.opts.logger.info({ peer: url }, `peer ${url} answers`);
      this.peers.set(url, {
        url,
        reachable: true,
        relayId: status.relayId,
        polledAt: startedAt,
        lastError: undefined,
        outputs: status.outputs,
      });
    } catch (err) {
      if (this.closed) return;
      const lastError = (err as Error).message;
      if (previous.reachable || previous.polledAt === undefined) {
        this.warnings.warn(`poll:${url}`, { peer: url, error: lastError }, `peer ${url} cannot be reached; keeping its last known state`);
      }
      this.peers.set(url, { ...previous, reachable: false, lastError });
    }
  }
}

/** The parts of a peer's /status that say which replicas it holds back. */
function parseStatus(text: string): { relayId: string | undefined; outputs: Map<string, PeerOutputState> } {
  const status = JSON.parse(text) as {
    relayId?: unknown;
    outputs?: {
      name?: unknown;
      behind?: unknown;
      outOfSync?: unknown;
      pendingAttempts?: unknown;
      queue?: { bytes?: unknown; oldestAcceptedAt?: unknown };
    }[];
  };
  if (!Array.isArray(status.outputs)) throw new Error("its /status has no outputs: is it an influx-ha relay?");
  const outputs = new Map<string, PeerOutputState>();
  for (const o of status.outputs) {
    if (typeof o.name !== "string") continue;
    const outOfSync = o.outOfSync !== undefined && o.outOfSync !== null && o.outOfSync !== false;
    const queueBytes = typeof o.queue?.bytes === "number" ? o.queue.bytes : 0;
    const pendingAttempts = typeof o.pendingAttempts === "number" ? o.pendingAttempts : 0;
    const oldestAcceptedAt = typeof o.queue?.oldestAcceptedAt === "number" ? o.queue.oldestAcceptedAt : undefined;
    outputs.set(o.name, {
      behind: o.behind === true || outOfSync || queueBytes > 0,
      queueBytes,
      outOfSync,
      pendingAttempts,
      oldestAcceptedAt,
    });
  }
  return { relayId: typeof status.relayId === "string" ? status.relayId : undefined, outputs };
}

/** POST /peer/fence?output=NAME&from=RELAY-ID: a peer has started queueing for that replica. */
export function peerRoutes(app: FastifyInstance, peers: Peers, outputNames: readonly string[]): void {
  app.post("/peer/fence", async (request, reply) => {
    const { output, from } = request.query as Record<string, unknown>;
    if (typeof output !== "string" || !outputNames.includes(output)) {
      throw new HttpError(400, `name one of this listener's outputs: ?output=${outputNames.join("|")}`);
    }
    if (typeof from !== "string" || from === "") throw new HttpError(400, "name the fencing relay: ?from=RELAY-ID");
    peers.receiveFence(from, output);
    return reply.code(204).send();
  });
}
