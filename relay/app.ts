// buildApp: one fastify instance for one [[http]] block, with its own outputs and their queues, and its
// peers. Closing the app waits for writes and statements still being delivered, then stops polling the
// peers and closes every output's queue and connections.
import Fastify, { LogController, type FastifyError, type FastifyInstance } from "fastify";
import { adminRoutes } from "./admin.js";
import { readBody } from "./body.js";
import type { HttpListenerConfig } from "./config.js";
import { DivergenceLog } from "./divergence.js";
import { DurableOutput } from "./durable-output.js";
import { HttpError, errorBody } from "./errors.js";
import { FanOut } from "./fanout.js";
import { healthRoutes } from "./health.js";
import type { Logger } from "./logger.js";
import { RelayMetrics } from "./metrics.js";
import { Peers, peerRoutes } from "./peers.js";
import { queryRoutes } from "./query.js";
import { newListenerStats } from "./stats.js";
import { ThrottledLog } from "./throttled-log.js";
import { writeRoutes } from "./write.js";

export interface BuildAppOptions {
  readonly listener: HttpListenerConfig;
  readonly logger: Logger;
  /** PEM holding both the certificate and its key, from ssl-combined-pem; HTTPS when given. */
  readonly tlsPem?: Buffer;
}

const POST_ONLY = new Set(["/write", "/api/v2/write", "/api/v2/query", "/api/v1/prom/read", "/admin/flush", "/peer/fence"]);
const GET_ONLY = new Set(["/ping", "/health", "/status", "/metrics"]);
const GET_OR_POST = new Set(["/query"]);

/** Opens every output's queue (resuming what an earlier run left), then builds the app. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { listener } = opts;
  const logger = opts.logger.child({ listener: listener.name });
  const stats = newListenerStats();
  const outputs: DurableOutput[] = [];
  const peers = new Peers({
    urls: listener.peers,
    pollIntervalMs: listener.peerPollIntervalMs,
    timeoutMs: listener.peerTimeoutMs,
    logger,
  });
  const divergences = new DivergenceLog(logger);
  const metrics = new RelayMetrics(listener.name, stats, () => outputs, { peers, divergences });
  try {
    for (const output of listener.outputs) {
      const onBackendRequest = (seconds: number, via: "live" | "replay") => metrics.observeBackend(output.name, via, seconds);
      outputs.push(await DurableOutput.open({ output, listener, logger, onBackendRequest, divergences, peerWrites: peers }));
    }
  } catch (err) {
    await Promise.all([peers.close(), ...outputs.map((output) => output.close())]);
    throw err;
  }
  peers.start();

  const app = Fastify({
    loggerInstance: logger,
    // A line per request would cost more than the write; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: listener.maxBodySize,
    ...(opts.tlsPem ? { https: { key: opts.tlsPem, cert: opts.tlsPem } } : {}),
  }) as unknown as FastifyInstance; // fastify types an HTTPS instance apart; the relay uses both alike

  const fanOut = new FanOut({
    listener: listener.name,
    ack: listener.ack,
    outputs,
    peers,
    divergences,
    warnings: new ThrottledLog(logger),
  });
  // While closing, answers to requests still in flight close their connection, so the server can finish
  // instead of waiting out the clients' keep-alive.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });
  app.addHook("onResponse", (_request, reply, done) => {
    stats.requests.set(reply.statusCode, (stats.requests.get(reply.statusCode) ?? 0) + 1);
    done();
  });
  app.addHook("onClose", async () => {
    await fanOut.settled();
    await Promise.all([peers.close(), ...outputs.map((output) => output.close())]);
  });

  // Line protocol arrives under any content type (or none); every body is read raw, gzip inflated, and a
  // /query form body is parsed from the raw bytes, which are also what a read passes on.
  // Debian's influx CLI sends "Content-Type:" with nothing after it; fastify would answer 415 to that.
  app.addHook("onRequest", async (request) => {
    if (request.headers["content-type"]?.trim() === "") delete request.headers["content-type"];
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (request, payload, done) => {
    const length = request.headers["content-length"];
    readBody(payload, request.headers["content-encoding"], length === undefined ? undefined : Number(length), listener.maxBodySize).then(
      (body) => done(null, body),
      (err: Error) => done(err),
    );
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err instanceof HttpError ? err.statusCode : (err as { statusCode?: number }).statusCode;
    // The relay's own answers (an HttpError) go out as they are, 5xx included: no replica answered, say.
    if (status !== undefined && ((status >= 400 && status < 500) || err instanceof HttpError)) {
      // The rest of a refused body is not worth reading: close the connection instead.
      if (status === 413) reply.header("connection", "close");
      return reply.code(status).type("application/json").send(errorBody(err.message));
    }
    request.log.error({ err }, "unexpected error");
    return reply.code(500).type("application/json").send(errorBody("internal error in the relay"));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?", 1)[0] ?? "";
    if (POST_ONLY.has(path) || GET_ONLY.has(path) || GET_OR_POST.has(path)) {
      return reply
        .code(405)
        .header("allow", GET_ONLY.has(path) ? "GET, HEAD" : GET_OR_POST.has(path) ? "GET, POST" : "POST")
        .type("application/json")
        .send(errorBody(`${request.method} is not allowed on ${path}`));
    }
    return reply
      .code(404)
      .type("application/json")
      .send(
        errorBody(
          `${path} not found: the relay takes POST /write, POST /api/v2/write, GET or POST /query, POST /api/v2/query, ` +
            "POST /api/v1/prom/read, /ping, /health, /status, /metrics, POST /admin/flush and POST /peer/fence",
        ),
      );
  });

  app.get("/metrics", async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  writeRoutes(app, { listener, fanOut, stats });
  queryRoutes(app, { outputs, peers, fanOut, metrics, queryTimeoutMs: listener.queryTimeoutMs });
  healthRoutes(app, { ack: listener.ack, outputs, stats, peers, divergences });
  adminRoutes(app, { adminToken: listener.adminToken, outputs });
  peerRoutes(
    app,
    peers,
    listener.outputs.map((output) => output.name),
  );
  return app;
}
