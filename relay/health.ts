// GET /health for load balancers and GET /status for people: both give each output's state and queue.
import type { FastifyInstance } from "fastify";
import { requiredAccepts, type AckLevel } from "./ack.js";
import type { DivergenceLog } from "./divergence.js";
import type { DriftWatch } from "./drift/watch.js";
import type { DurableOutput, OutputHealth } from "./durable-output.js";
import type { Peers } from "./peers.js";
import type { ListenerStats } from "./stats.js";
import { VERSION } from "./version.js";

export interface HealthRoutesOptions {
  readonly ack: AckLevel;
  readonly outputs: readonly DurableOutput[];
  readonly stats: ListenerStats;
  readonly peers: Peers;
  readonly divergences: DivergenceLog;
  readonly drift?: DriftWatch | undefined;
}

/**
 * "ok": every output up and in sync; "degraded": writes still succeed; "read-only": reads are served, but
 * fewer outputs can take a write now than `ack` needs (a write is answered 503, and kept where one took
 * it); "down": no replica answers, so 503. A relay that can still read stays in its load balancer.
 */
export type HealthStatus = "ok" | "degraded" | "read-only" | "down";

export function healthStatus(ack: AckLevel, outputs: readonly OutputHealth[]): HealthStatus {
  if (!outputs.some((o) => o.up)) return "down";
  const takers = outputs.filter((o) => o.takesWritesNow).length;
  if (takers < requiredAccepts(ack, outputs.length)) return "read-only";
  return outputs.every((o) => o.up && !o.outOfSync) ? "ok" : "degraded";
}

export function healthRoutes(app: FastifyInstance, opts: HealthRoutesOptions): void {
  const startedAt = new Date();

  app.get("/health", (_request, reply) => {
    const outputs = opts.outputs.map((o) => o.health());
    const status = healthStatus(opts.ack, outputs);
    return reply.code(status === "down" ? 503 : 200).send({
      status,
      ack: opts.ack,
      outputs: outputs.map((o) => ({
        name: o.name,
        up: o.up,
        ...(o.lastError === undefined ? {} : { lastError: o.lastError }),
        outOfSync: o.outOfSync !== undefined,
        queue: { entries: o.queue.entries, bytes: o.queue.bytes, oldestAgeSeconds: o.queue.oldestAgeSeconds ?? 0 },
      })),
    });
  });

  app.get("/status", (_request, reply) => {
    const outputs = opts.outputs.map((o) => ({ ...o.health(), totals: o.stats }));
    const { stats } = opts;
    const fenced = opts.peers.fencedOutputs();
    return reply.send({
      status: healthStatus(opts.ack, outputs),
      version: VERSION,
      // Peers read this to tell this listener's fences from another's.
      relayId: opts.peers.relayId,
      startedAt: startedAt.toISOString(),
      ack: opts.ack,
      totals: {
        requests: Object.fromEntries([...stats.requests].sort(([a], [b]) => a - b)),
        writes: stats.writes,
        points: stats.points,
        bytes: stats.bytes,
        promWrites: stats.promWrites,
        promSamples: stats.promSamples,
      },
      outputs,
      peers: opts.peers.states().map((peer) => ({
        url: peer.url,
        reachable: peer.reachable,
        ...(peer.lastError === undefined ? {} : { lastError: peer.lastError }),
        polledAt: peer.polledAt === undefined ? null : new Date(peer.polledAt).toISOString(),
        behind: [...peer.outputs].filter(([, state]) => state.behind).map(([name]) => name),
      })),
      fencedByPeers: [...fenced],
      divergences: { total: opts.divergences.total, recent: opts.divergences.recent },
      ...(opts.drift === undefined ? {} : { driftCheck: driftStatus(opts.drift) }),
    });
  });
}

/** The last drift check's findings, and why the latest failed if it did. */
function driftStatus(drift: DriftWatch): object {
  const { last, lastError, runs } = drift;
  return {
    runs,
    lastCheckAt: last === undefined ? null : new Date(last.at).toISOString(),
    lastCheckMs: last === undefined ? null : Math.round(last.durationMs),
    outputs: last === undefined ? {} : Object.fromEntries(last.outputs),
    ...(lastError === undefined ? {} : { lastError }),
  };
}
