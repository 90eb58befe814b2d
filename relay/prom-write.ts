// POST /api/v1/prom/write: Prometheus remote write 1.0, fanned out like a line-protocol write (ack levels,
// the ordered queue, dead letters). The body, a snappy block holding a prometheus.WriteRequest, is decoded
// before anything is forwarded: one that does not decode gets a 400 saying why and reaches no replica. Each
// replica gets the body as the client sent it at its own /api/v1/prom/write, where InfluxDB 1.x stores every
// sample as a point: measurement = __name__, tags = the labels, field "value".
import { isUtf8 } from "node:buffer";
import { decompress, decompressedLength } from "@stablelib/snappy";
import type { FastifyInstance } from "fastify";
import type { HttpListenerConfig } from "./config.js";
import { HttpError } from "./errors.js";
import { sendAnswer, type FanOut } from "./fanout.js";
import { SeriesLabelBytes, WriteRequestSeries } from "./prompb.js";
import type { QueueEntry } from "./queue/frame.js";
import type { ListenerStats } from "./stats.js";
import { pick, type Query } from "./write.js";

/** What influxd's /api/v1/prom/write reads from the query string (u and p are credentials); the rest is dropped. */
const PARAMS = ["db", "rp", "consistency", "u", "p"] as const;
/** The message remote write 1.0 sends; 2.0 names its own in Content-Type's proto parameter. */
const REMOTE_WRITE_1_MESSAGE = "prometheus.WriteRequest";

export interface PromWriteRoutesOptions {
  readonly listener: HttpListenerConfig;
  readonly fanOut: FanOut;
  readonly stats: ListenerStats;
}

export function promWriteRoutes(app: FastifyInstance, opts: PromWriteRoutesOptions): void {
  const defaultRp = opts.listener.defaultRetentionPolicy;

  app.post("/api/v1/prom/write", async (request, reply) => {
    checkMessageType(request.headers["content-type"]);
    const params = pick(request.query as Query, PARAMS);
    if (!params.get("db")) throw new HttpError(400, "database is required");
    if (!params.get("rp") && defaultRp) params.set("rp", defaultRp);
    const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
    const write: QueueEntry = {
      acceptedAt: Date.now(),
      api: "prom-write",
      query: params.toString(),
      authorization: request.headers.authorization,
      points: remoteWriteSamples(body, opts.listener.maxBodySize),
      body,
    };
    const { stats } = opts;
    stats.writes++;
    stats.promWrites++;
    stats.points += write.points;
    stats.promSamples += write.points;
    stats.bytes += body.length;
    return sendAnswer(reply, await opts.fanOut.deliver(write));
  });
}

/**
 * Remote write 2.0 sends another message (io.prometheus.write.v2.Request) that would read as an empty
 * WriteRequest: influxd would answer 204 and store nothing. Its 415 is what the 2.0 protocol asks for.
 */
function checkMessageType(contentType: string | undefined): void {
  const proto = /;\s*proto\s*=\s*"?([^";\s]+)/i.exec(contentType ?? "")?.[1];
  if (proto !== undefined && proto !== REMOTE_WRITE_1_MESSAGE) {
    throw new HttpError(415, `unsupported remote write message ${proto}: InfluxDB 1.x takes remote write 1.0 (${REMOTE_WRITE_1_MESSAGE})`);
  }
}

/**
 * The samples in a remote write body, once it has decoded; throws a 400 saying why it does not, or a 413
 * when it would decompress past `maxBytes` (max-body-size, which also bounds an inflated gzip body on
 * /write). The snappy decoder is a port of the Go one influxd uses, so it refuses the same blocks, one
 * shorter than its header says included. protobufjs skips a field of the wrong wire type where influxd
 * refuses it: such a body gets influxd's own 400 instead. Decoding is synchronous and its buffers are
 * dropped at once, so at most one decompressed body is held beside the compressed ones the in-flight
 * budget counts.
 */
export function remoteWriteSamples(body: Buffer, maxBytes: number): number {
  const length = decoded(() => decompressedLength(body), "not a snappy block");
  if (length > maxBytes) {
    throw new HttpError(413, `the remote write body decompresses to ${length} bytes: the limit is ${maxBytes} bytes (max-body-size)`);
  }
  const request = decoded(() => decompress(body), "not a snappy block");
  const series = decoded(
    () => (WriteRequestSeries.decode(request) as unknown as { timeseries: Uint8Array[] }).timeseries,
    `not a ${REMOTE_WRITE_1_MESSAGE}`,
  );
  let samples = 0;
  series.forEach((bytes, i) => {
    const where = `time series ${i + 1} of ${series.length}`;
    const { labels, samples: own } = decoded(
      () => SeriesLabelBytes.decode(bytes) as unknown as { labels: { name: Uint8Array; value: Uint8Array }[]; samples: unknown[] },
      `${where} is not a prometheus.TimeSeries`,
    );
    // influxd makes the labels its measurement and tags, where invalid UTF-8 breaks a shard (lineprotocol.ts
    // says how): refused, as /write refuses it. Prometheus itself never sends it.
    for (const label of labels) {
      if (!isUtf8(label.name) || !isUtf8(label.value)) throw invalid(`${where} has a label that is not valid UTF-8`);
    }
    samples += own.length;
  });
  return samples;
}

function decoded<T>(decode: () => T, what: string): T {
  try {
    return decode();
  } catch (err) {
    throw invalid(`${what}: ${(err as Error).message}`);
  }
}

function invalid(why: string): HttpError {
  return new HttpError(400, `invalid Prometheus remote write body: ${why}; nothing was written`);
}
