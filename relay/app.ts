// buildApp: one fastify instance for one [[http]] block, with its own outputs and their queues, and its
// peers. Closing the app waits for writes and statements still being delivered, then stops polling the
// peers and closes every output's queue and connections. The listener's limits live here too: the budget
// of body bytes in flight (inflight.ts), the body size limit (body.ts), request-timeout and idle-timeout.
import type { Socket } from "node:net";
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest, type RouteHandlerMethod } from "fastify";
import { adminRoutes } from "./admin.js";
import { BodyAbortedError, readBody } from "./body.js";
import type { HttpListenerConfig } from "./config.js";
import { DivergenceLog } from "./divergence.js";
import { DriftWatch } from "./drift/watch.js";
import { credentialsFromEnv, replicaBaseUrl } from "./drift/replica.js";
import { DurableOutput, outputDirsIn } from "./durable-output.js";
import { HttpError, errorBody } from "./errors.js";
import { FanOut } from "./fanout.js";
import { healthRoutes } from "./health.js";
import { InflightBudget, RETRY_AFTER_SECONDS, ShedError, type BodyHold } from "./inflight.js";
import type { Logger } from "./logger.js";
import { RelayMetrics } from "./metrics.js";
import { Peers, peerRoutes } from "./peers.js";
import { promWriteRoutes } from "./prom-write.js";
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

const POST_ONLY = new Set([
  "/write",
  "/api/v2/write",
  "/api/v1/prom/write",
  "/api/v2/query",
  "/api/v1/prom/read",
  "/admin/flush",
  "/admin/mark-in-sync",
  "/peer/fence",
]);
const GET_ONLY = new Set(["/ping", "/health", "/status", "/metrics"]);
const GET_OR_POST = new Set(["/query"]);
/** Prometheus remote write and read bodies are snappy blocks, which their routes decode or pass on as they are. */
const SNAPPY_BODIES = new Set(["/api/v1/prom/write", "/api/v1/prom/read"]);
/** Node's own bound on the request headers; request-timeout shortens it, never lengthens it. */
const NODE_HEADERS_TIMEOUT_MS = 60_000;

/** Opens every output's queue (resuming what an earlier run left), then builds the app. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { listener } = opts;
  const logger = opts.logger.child({ listener: listener.name });
  const stats = newListenerStats();
  const budget = new InflightBudget(listener.maxInflightBytes, stats);
  const outputs: DurableOutput[] = [];
  const peers = new Peers({
    urls: listener.peers,
    pollIntervalMs: listener.peerPollIntervalMs,
    timeoutMs: listener.peerTimeoutMs,
    logger,
  });
  const divergences = new DivergenceLog(logger);
  const drift =
    listener.driftCheckIntervalMs > 0
      ? new DriftWatch({
          replicas: listener.outputs.map((o) => ({ name: o.name, url: replicaBaseUrl(o.location) })),
          intervalMs: listener.driftCheckIntervalMs,
          windowMs: listener.driftCheckWindowMs,
          credentials: credentialsFromEnv(process.env),
          logger,
        })
      : undefined;
  const metrics = new RelayMetrics(listener.name, stats, () => outputs, { peers, divergences, drift });
  try {
    const outputDirsAtStart = await outputDirsIn(listener.spoolDir);
    for (const output of listener.outputs) {
      const onBackendRequest = (seconds: number, via: "live" | "replay") => metrics.observeBackend(output.name, via, seconds);
      outputs.push(
        await DurableOutput.open({ output, listener, logger, onBackendRequest, divergences, peerWrites: peers, outputDirsAtStart }),
      );
    }
  } catch (err) {
    await Promise.all([peers.close(), drift?.close(), ...outputs.map((output) => output.close())]);
    throw err;
  }
  peers.start();
  drift?.start();

  // request-timeout bounds the whole request, headers and body, but not the time to answer it. Node checks
  // it every connectionsCheckingInterval (30 s by default), and cuts a body short only once the longer of it
  // and headersTimeout (60 s by default) has passed: all three are set when the server is made.
  const serverTimeouts = {
    requestTimeout: listener.requestTimeoutMs,
    headersTimeout: Math.min(NODE_HEADERS_TIMEOUT_MS, listener.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(listener.requestTimeoutMs / 10)),
  };
  const app = Fastify({
    loggerInstance: logger,
    // A line per request would cost more than the write; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: listener.maxBodySize,
    requestTimeout: listener.requestTimeoutMs,
    // How long a kept-alive connection may wait for its next request.
    keepAliveTimeout: listener.idleTimeoutMs,
    ...(opts.tlsPem ? { https: { key: opts.tlsPem, cert: opts.tlsPem, ...serverTimeouts } } : { http: serverTimeouts }),
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
    await Promise.all([peers.close(), drift?.close(), ...outputs.map((output) => output.close())]);
  });

  // Line protocol arrives under any content type (or none); every body is read raw, gzip inflated (snappy
  // left as it is for Prometheus), and a /query form body is parsed from the raw bytes, which are also what
  // a read passes on.
  // Debian's influx CLI sends "Content-Type:" with nothing after it; fastify would answer 415 to that.
  app.addHook("onRequest", async (request) => {
    if (request.headers["content-type"]?.trim() === "") delete request.headers["content-type"];
  });

  // Every body the relay reads holds its bytes in the budget: writes, and also statements, Flux and remote
  // reads, whose bodies are small but take memory all the same. A Content-Length is held before the body
  // is read, so a request that does not fit is refused before it costs anything.
  const holds = new WeakMap<FastifyRequest, BodyHold>();
  app.addHook("preParsing", (request, reply, payload, done) => {
    const length = request.headers["content-length"];
    const bodyless = length === undefined ? request.headers["transfer-encoding"] === undefined : length === "0";
    if (bodyless || request.method === "GET" || request.method === "HEAD") return done(null, payload); // no body is read
    const declared = length === undefined ? 0 : Number(length);
    if (declared > listener.maxBodySize) return done(null, payload); // readBody answers 413 without reading it
    let hold: BodyHold;
    try {
      hold = budget.hold(declared);
    } catch (err) {
      return done(err as Error);
    }
    holds.set(request, hold);
    reply.raw.once("close", () => hold.responseClosed());
    done(null, payload);
  });
  // The body stays in memory until the handler is done with it, fan-out and queueing included, even when
  // the client has gone away meanwhile.
  app.addHook("onRoute", (route) => {
    if (![route.method].flat().includes("POST")) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = async function (this: FastifyInstance, request, reply) {
      const hold = holds.get(request);
      if (hold === undefined) return handler.call(this, request, reply);
      hold.handlerStarted();
      try {
        return await handler.call(this, request, reply);
      } finally {
        hold.release();
      }
    };
  });
  // A body that has arrived goes to its handler, which validates it at once, one body per turn of the event
  // loop: when many large bodies complete together, the relay still reads the headers of the requests behind
  // them between two validations, and refuses at once those that do not fit.
  const arrived: Array<() => void> = [];
  const handOverNext = (): void => {
    try {
      arrived.shift()?.();
    } finally {
      if (arrived.length > 0) setImmediate(handOverNext);
    }
  };
  const handOver = (next: () => void): void => {
    arrived.push(next);
    if (arrived.length === 1) setImmediate(handOverNext);
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (request, payload, done) => {
    const length = request.headers["content-length"];
    const hold = holds.get(request);
    readBody(payload, {
      contentEncoding: request.headers["content-encoding"],
      encoding: SNAPPY_BODIES.has(request.routeOptions.url ?? "") ? "snappy" : "gzip",
      contentLength: length === undefined ? undefined : Number(length),
      limit: listener.maxBodySize,
      ...(hold === undefined ? {} : { cover: (total: number) => hold.cover(total) }),
    }).then(
      (body) => handOver(() => done(null, body)),
      (err: Error) => {
        hold?.release();
        done(err);
      },
    );
  });
  // Sockets closed by request-timeout, so an upload cut short by it is logged as such.
  const timedOut = new WeakSet<Socket>();
  app.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code !== "ERR_HTTP_REQUEST_TIMEOUT") return;
    timedOut.add(socket);
    logger.debug({ remoteAddress: socket.remoteAddress }, "closed a connection whose request did not arrive within request-timeout");
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof BodyAbortedError) {
      // A client going away is not the relay's error: no stack. The answer goes nowhere; it ends the request.
      const why = timedOut.has(request.raw.socket)
        ? `its body had not arrived after request-timeout (${listener.requestTimeoutMs / 1000}s): the relay closed the connection`
        : "the client closed the connection before its body arrived";
      request.log.info(
        { method: request.method, url: request.url, contentLength: request.headers["content-length"], received: err.received },
        `request dropped: ${why}`,
      );
      return reply.code(400).send();
    }
    const status = err instanceof HttpError ? err.statusCode : (err as { statusCode?: number }).statusCode;
    // The relay's own answers (an HttpError) go out as they are, 5xx included: no replica answered, say.
    if (status !== undefined && ((status >= 400 && status < 500) || err instanceof HttpError)) {
      if (err instanceof ShedError) reply.header("retry-after", String(RETRY_AFTER_SECONDS));
      // The rest of a refused body is not worth reading: close the connection instead.
      if (status === 413 || err instanceof ShedError) reply.header("connection", "close");
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
          `${path} not found: the relay takes POST /write, POST /api/v2/write, POST /api/v1/prom/write, GET or POST /query, POST /api/v2/query, ` +
            "POST /api/v1/prom/read, /ping, /health, /status, /metrics, POST /admin/flush, POST /admin/mark-in-sync and POST /peer/fence",
        ),
      );
  });

  app.get("/metrics", async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  writeRoutes(app, { listener, fanOut, stats });
  promWriteRoutes(app, { listener, fanOut, stats });
  queryRoutes(app, { outputs, peers, fanOut, metrics, queryTimeoutMs: listener.queryTimeoutMs });
  healthRoutes(app, { ack: listener.ack, outputs, stats, peers, divergences, drift });
  adminRoutes(app, { adminToken: listener.adminToken, outputs });
  peerRoutes(
    app,
    peers,
    listener.outputs.map((output) => output.name),
  );
  return app;
}
