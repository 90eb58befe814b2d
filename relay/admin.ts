// The operator's endpoints for an output marked out of sync, guarded by the listener's admin-token as a
// Bearer token. POST /admin/flush?output=NAME drops the output's queue and clears the marking, for a replica
// resynced some other way. POST /admin/mark-in-sync?output=NAME&before=TIME clears the marking and keeps the
// queue, whose writes the replica still needs: influx-ha repair calls it once it has copied what the replica
// lacked, comparing from `before`.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { DurableOutput } from "./durable-output.js";
import { HttpError } from "./errors.js";

export interface AdminRoutesOptions {
  readonly adminToken: string | undefined;
  readonly outputs: readonly DurableOutput[];
}

/** An ISO-8601 time with its zone: without one, the relay and the repair tool could read it in different zones. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/i;

export function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  app.post("/admin/flush", async (request, reply) => {
    const output = guardedOutput(opts, "/admin/flush", "flush", request, reply);
    const dropped = await output.flush();
    return { output: output.name, droppedEntries: dropped.entries, droppedBytes: dropped.bytes };
  });

  app.post("/admin/mark-in-sync", async (request, reply) => {
    const output = guardedOutput(opts, "/admin/mark-in-sync", "mark in sync", request, reply);
    const before = (request.query as Record<string, unknown>).before;
    const beforeMs = typeof before === "string" && ISO_TIME.test(before) ? Date.parse(before) : NaN;
    if (Number.isNaN(beforeMs)) {
      throw new HttpError(
        400,
        "give the moment the repair's comparison began: ?before=TIME, an ISO-8601 time with its zone such as 2025-03-10T00:00:00Z",
      );
    }
    const result = await output.markInSync(beforeMs);
    if (result.kind === "dropped-since") {
      throw new HttpError(
        409,
        `output ${output.name} last dropped a write at ${new Date(result.lastDropAt).toISOString()}, at or after before=${before}: ` +
          "the repair did not cover that gap, so the output stays out of sync; run the repair again",
      );
    }
    const { queue } = output.health();
    return { output: output.name, cleared: result.kind === "cleared", queue: { entries: queue.entries, bytes: queue.bytes } };
  });
}

/** The output named by ?output=NAME, once the Bearer token is right: 403 when the endpoint is off, 401, 400, 404. */
function guardedOutput(
  opts: AdminRoutesOptions,
  path: string,
  action: string,
  request: FastifyRequest,
  reply: FastifyReply,
): DurableOutput {
  if (opts.adminToken === undefined) throw new HttpError(403, `${path} is off: set admin-token in this [[http]] block to use it`);
  if (!bearerMatches(request.headers.authorization, opts.adminToken)) {
    reply.header("www-authenticate", 'Bearer realm="influx-relay admin"');
    throw new HttpError(401, `${path} needs the header Authorization: Bearer <admin-token>`);
  }
  const name = (request.query as Record<string, unknown>).output;
  const names = opts.outputs.map((o) => o.name).join(", ");
  if (typeof name !== "string" || name === "") throw new HttpError(400, `name the output to ${action}: ?output=NAME, one of ${names}`);
  const output = opts.outputs.find((o) => o.name === name);
  if (!output) throw new HttpError(404, `no output named "${name}" on this listener: its outputs are ${names}`);
  return output;
}

/** Compares digests, so neither the token's content nor its length leaks through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? "");
  if (!match) return false;
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
