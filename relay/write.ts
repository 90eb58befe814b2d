// POST /write and POST /api/v2/write: check the request, validate and timestamp its lines, fan it out.
// A v2 write is kept as the client sent it; each output maps it for a 1.x /write when it must (v2-to-v1.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { HttpListenerConfig } from "./config.js";
import { HttpError } from "./errors.js";
import { sendAnswer, type FanOut } from "./fanout.js";
import { formatFault, validateBody } from "./lineprotocol.js";
import type { WriteApi } from "./output.js";
import { nowNs, timestampDigits, v1Precision, v2Precision, type Precision } from "./precision.js";
import type { QueueEntry } from "./queue/frame.js";
import type { ListenerStats } from "./stats.js";

/** Query parameters passed on to the backends; everything else is dropped. */
const V1_PARAMS = ["db", "rp", "precision", "consistency", "u", "p"] as const;
const V2_PARAMS = ["org", "bucket", "precision"] as const;

export type Query = Record<string, string | string[] | undefined>;

export interface WriteRoutesOptions {
  readonly listener: HttpListenerConfig;
  readonly fanOut: FanOut;
  readonly stats: ListenerStats;
}

export function writeRoutes(app: FastifyInstance, opts: WriteRoutesOptions): void {
  const defaultRp = opts.listener.defaultRetentionPolicy;

  app.post("/write", (request, reply) => {
    const query = request.query as Query;
    const precision = orFail(v1Precision(first(query.precision)));
    const params = pick(query, V1_PARAMS);
    if (!params.get("db")) throw new HttpError(400, "database is required");
    if (!params.get("rp") && defaultRp) params.set("rp", defaultRp);
    return relay(request, reply, "v1", precision, params);
  });

  app.post("/api/v2/write", (request, reply) => {
    const query = request.query as Query;
    const precision = orFail(v2Precision(first(query.precision)));
    const params = pick(query, V2_PARAMS);
    const bucket = params.get("bucket");
    if (!bucket) throw new HttpError(400, "bucket is required");
    // InfluxDB 1.8's answer, given here so outputs reached through their 1.x /write answer alike.
    if (bucket.startsWith("/"))
      throw new HttpError(404, `bucket name ${JSON.stringify(bucket)} is in db/rp form but has an empty database`);
    // A 1.x bucket is "db/rp"; the listener's default policy applies to "db" alone, as on /write.
    if (!bucket.includes("/") && defaultRp) params.set("bucket", `${bucket}/${defaultRp}`);
    return relay(request, reply, "v2", precision, params);
  });

  async function relay(request: FastifyRequest, reply: FastifyReply, api: WriteApi, precision: Precision, params: URLSearchParams) {
    // An empty body reaches the handler as no body at all; influxd answers it 204, and so does every output.
    const checked = validateBody((request.body as Buffer | undefined) ?? Buffer.alloc(0), () => timestampDigits(nowNs(), precision));
    if ("reason" in checked) throw new HttpError(400, `${formatFault(checked)}; nothing was written`);
    const write: QueueEntry = {
      acceptedAt: Date.now(),
      api,
      query: params.toString(),
      authorization: request.headers.authorization,
      points: checked.points,
      body: checked.body,
    };
    opts.stats.writes++;
    opts.stats.points += write.points;
    opts.stats.bytes += write.body.length;
    return sendAnswer(reply, await opts.fanOut.deliver(write));
  }
}

export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function orFail(precision: Precision | { error: string }): Precision {
  if (typeof precision === "object") throw new HttpError(400, precision.error);
  return precision;
}

/** The named parameters in a fixed order, so every backend sees the same request. */
export function pick(query: Query, names: readonly string[]): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of names) {
    const value = first(query[name]);
    if (value !== undefined && value !== "") params.set(name, value);
  }
  return params;
}
