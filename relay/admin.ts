// POST /admin/flush?output=NAME: drops one output's queue and clears its out-of-sync marking, for when an
// operator has resynced that replica some other way. Guarded by the listener's admin-token as a Bearer token.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { DurableOutput } from "./durable-output.js";
import { HttpError } from "./errors.js";

export interface AdminRoutesOptions {
  readonly adminToken: string | undefined;
  readonly outputs: readonly DurableOutput[];
}

export function adminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  app.post("/admin/flush", async (request, reply) => {
    if (opts.adminToken === undefined) throw new HttpError(403, "/admin/flush is off: set admin-token in this [[http]] block to use it");
    if (!bearerMatches(request.headers.authorization, opts.adminToken)) {
      reply.header("www-authenticate", 'Bearer realm="influx-relay admin"');
      throw new HttpError(401, "/admin/flush needs the header Authorization: Bearer <admin-token>");
    }
    const name = (request.query as Record<string, unknown>).output;
    const names = opts.outputs.map((o) => o.name).join(", ");
    if (typeof name !== "string" || name === "") throw new HttpError(400, `name the output to flush: ?output=NAME, one of ${names}`);
    const output = opts.outputs.find((o) => o.name === name);
    if (!output) throw new HttpError(404, `no output named "${name}" on this listener: its outputs are ${names}`);
    const dropped = await output.flush();
    return { output: name, droppedEntries: dropped.entries, droppedBytes: dropped.bytes };
  });
}

/** Compares digests, so neither the token's content nor its length leaks through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? "");
  if (!match) return false;
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
