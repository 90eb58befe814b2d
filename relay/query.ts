// Everything a client asks of InfluxDB besides writes. /query is split into statements and classified:
// reads (SELECT, SHOW, EXPLAIN) go to one replica that is in sync and stream back as they come; statements
// that change state (schema, users, deletes, continuous queries, SELECT INTO) go to every replica through
// the same ordered, durable path as writes; statements that only make sense on one server are refused.
// Flux (/api/v2/query), Prometheus remote read (/api/v1/prom/read) and /ping are reads.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Dispatcher } from "undici";
import type { DurableOutput } from "./durable-output.js";
import { HttpError } from "./errors.js";
import { sendAnswer, type FanOut } from "./fanout.js";
import { classifyQuery, type ClassifiedStatement } from "./influxql/classify.js";
import { pinNow } from "./influxql/pin-now.js";
import type { RelayMetrics } from "./metrics.js";
import type { Peers } from "./peers.js";
import { nowNs } from "./precision.js";
import { planRead, type ReadCandidate } from "./read-router.js";
import { PING_VERSION } from "./version.js";

export interface QueryRoutesOptions {
  readonly outputs: readonly DurableOutput[];
  readonly peers: Peers;
  readonly fanOut: FanOut;
  readonly metrics: RelayMetrics;
  /** Bound on a replica's wait before the first byte of its answer, and on each pause in it. */
  readonly queryTimeoutMs: number;
}

/** The header on an answer from a replica that was not in sync: it may lack acknowledged writes. */
export const STALE_HEADER = "x-influx-ha-stale";
/** Parameters that shape a read's answer, not a statement's effect. */
const READ_ONLY_PARAMS = new Set(["q", "chunked", "chunk_size"]);
/** Headers that describe one hop, not the request or answer: never passed on. */
const HOP_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);
/** Also not passed on with a request: the relay has inflated a gzip body, and undici sets the rest. */
const REQUEST_ONLY_HEADERS = new Set(["host", "content-length", "content-encoding", "expect"]);

export function queryRoutes(app: FastifyInstance, opts: QueryRoutesOptions): void {
  let turn = 0;
  const byName = new Map(opts.outputs.map((output) => [output.name, output]));

  const handleQuery = async (request: FastifyRequest, reply: FastifyReply) => {
    const form = readForm(request);
    const q = form.get("q");
    if (q === null) return forwardRead(request, reply); // InfluxDB says what is missing, in its words
    const classified = classifyQuery(q);
    if ("error" in classified) throw new HttpError(400, classified.error);
    const { statements } = classified;
    const refused = statements.find((s) => s.class === "single-server");
    if (refused) throw new HttpError(400, `${refused.kind} is not served through influx-ha: ${refused.reason ?? ""}`.trim());
    const writes = statements.filter((s) => s.class === "write");
    if (writes.length === 0) return forwardRead(request, reply);
    if (writes.length < statements.length) throw new HttpError(400, mixedMessage(statements));
    const params = new URLSearchParams();
    for (const [name, value] of form) if (!READ_ONLY_PARAMS.has(name)) params.set(name, value);
    // One record for the whole q: its statements stay together, in the client's order. One that reads or
    // removes points may run later on a replica that is behind: its now() is pinned to this moment.
    const afterWrites = writes.some((s) => s.afterEarlierWrites);
    const acceptedNs = nowNs();
    const text = afterWrites ? writes.map((s) => (s.afterEarlierWrites ? pinNow(s.text, acceptedNs) : s.text)).join(";\n") : q;
    const answer = await opts.fanOut.deliver({
      acceptedAt: Date.now(),
      api: afterWrites ? "influxql-after-writes" : "influxql",
      query: params.toString(),
      authorization: request.headers.authorization,
      points: 0,
      body: Buffer.from(new URLSearchParams({ q: text }).toString()),
    });
    return sendAnswer(reply, answer);
  };

  app.get("/query", handleQuery);
  app.post("/query", handleQuery);
  app.post("/api/v2/query", forwardRead);
  app.post("/api/v1/prom/read", forwardRead);
  app.get("/ping", async (request, reply) => {
    try {
      return await forwardRead(request, reply);
    } catch (err) {
      if (!(err instanceof HttpError) || err.statusCode !== 503) throw err;
      // No replica answered: the relay itself is up, and says which version it last saw.
      return reply
        .code(204)
        .header("x-influxdb-version", backendVersion() ?? PING_VERSION)
        .send();
    }
  });

  // InfluxDB sets X-Influxdb-Version on every answer; clients read it.
  app.addHook("onSend", async (_request, reply) => {
    if (!reply.hasHeader("x-influxdb-version")) {
      const version = backendVersion();
      if (version !== undefined) reply.header("x-influxdb-version", version);
    }
  });

  function backendVersion(): string | undefined {
    return opts.outputs.find((output) => output.backendVersion !== undefined)?.backendVersion;
  }

  function candidates(): readonly ReadCandidate[] {
    const own = opts.outputs.map((output) => {
      const health = output.health();
      return {
        name: health.name,
        up: health.up,
        behind: health.behind,
        outOfSync: health.outOfSync !== undefined,
        queueBytes: health.queue.bytes,
      };
    });
    return planRead(own, opts.peers.states(), opts.peers.fencedOutputs(), turn++);
  }

  /** Sends the request as it came to the first candidate that answers, and streams its answer back. */
  async function forwardRead(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const abort = new AbortController();
    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const body = request.body instanceof Buffer ? request.body : undefined;
    const failures: string[] = [];
    for (const candidate of candidates()) {
      const output = byName.get(candidate.name)!;
      let response: Dispatcher.ResponseData;
      try {
        response = await output.forward({
          method: request.method as Dispatcher.HttpMethod,
          pathAndQuery: request.url,
          headers: passedOn(request.headers),
          ...(body === undefined ? {} : { body }),
          timeoutMs: opts.queryTimeoutMs,
          signal: abort.signal,
        });
      } catch (err) {
        if (abort.signal.aborted) return reply;
        const code = (err as { code?: string }).code;
        // A replica that took the request and then thought too long is not asked again elsewhere.
        if (code === "UND_ERR_HEADERS_TIMEOUT") {
          throw new HttpError(504, `${candidate.name} did not answer within the query timeout (${opts.queryTimeoutMs / 1000}s)`);
        }
        failures.push(`${candidate.name}: ${(err as Error).message}`);
        continue;
      }
      opts.metrics.observeRead(candidate.name, candidate.stale);
      reply.code(response.statusCode);
      for (const [name, value] of Object.entries(response.headers)) {
        // Content-Length goes: the answer streams through, and a HEAD's would be wrong. Content-Encoding stays.
        if (value !== undefined && !HOP_HEADERS.has(name) && name !== "content-length") reply.header(name, value);
      }
      if (candidate.stale) reply.header(STALE_HEADER, `${candidate.name}: no replica is in sync; this answer may lack acknowledged writes`);
      return reply.send(response.body);
    }
    throw new HttpError(503, `no replica answered: ${failures.join("; ") || "the listener has no outputs"}`);
  }
}

/** The client's parameters as InfluxDB reads them: the URL's, then a form body's, which win. */
function readForm(request: FastifyRequest): URLSearchParams {
  const queryAt = request.url.indexOf("?");
  const form = new URLSearchParams(queryAt < 0 ? "" : request.url.slice(queryAt + 1));
  const contentType = (request.headers["content-type"] ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (request.method !== "POST" || !(request.body instanceof Buffer) || request.body.length === 0) return form;
  if (contentType === "multipart/form-data") {
    throw new HttpError(415, "send q in the URL or in an application/x-www-form-urlencoded body, not multipart/form-data");
  }
  if (contentType === "application/x-www-form-urlencoded") {
    for (const [name, value] of new URLSearchParams(request.body.toString("utf8"))) form.set(name, value);
  }
  return form;
}

function mixedMessage(statements: readonly ClassifiedStatement[]): string {
  const reads = statements.filter((s) => s.class === "read").map((s) => s.kind);
  const writes = statements.filter((s) => s.class === "write").map((s) => s.kind);
  return (
    `this query mixes reads (${[...new Set(reads)].join(", ")}) with statements that change every replica ` +
    `(${[...new Set(writes)].join(", ")}): reads go to one replica and changes to all, so send them as separate requests`
  );
}

function passedOn(headers: FastifyRequest["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_HEADERS.has(name)) continue;
    // A remote read's snappy body goes on as it came, so it keeps saying what it is.
    if (REQUEST_ONLY_HEADERS.has(name) && !(name === "content-encoding" && value === "snappy")) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
