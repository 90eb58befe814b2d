// buildApp: one fastify instance for one [[http]] block, with its own outputs and their queues. Closing
// the app waits for writes still being delivered, then closes every output's queue and connections.
import Fastify, { LogController, type FastifyError, type FastifyInstance } from "fastify";
import { adminRoutes } from "./admin.js";
import { readBody } from "./body.js";
import type { HttpListenerConfig } from "./config.js";
import { DurableOutput } from "./durable-output.js";
import { HttpError, errorBody } from "./errors.js";
import { healthRoutes } from "./health.js";
import type { Logger } from "./logger.js";
import { RelayMetrics } from "./metrics.js";
import { newListenerStats } from "./stats.js";
import { ThrottledLog } from "./throttled-log.js";
import { PING_VERSION } from "./version.js";
import { writeRoutes } from "./write.js";

export interface BuildAppOptions {
  readonly listener: HttpListenerConfig;
  readonly logger: Logger;
  /** PEM holding both the certificate and its key, from ssl-combined-pem; HTTPS when given. */
  readonly tlsPem?: Buffer;
}

const POST_ONLY = new Set(["/write", "/api/v2/write", "/admin/flush"]);
const GET_ONLY = new Set(["/ping", "/health", "/status", "/metrics"]);

/** Opens every output's queue (resuming what an earlier run left), then builds the app. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { listener } = opts;
  const stats = newListenerStats();
  const outputs: DurableOutput[] = [];
  const metrics = new RelayMetrics(listener.name, stats, () => outputs);
  try {
    for (const output of listener.outputs) {
      const onBackendRequest = (seconds: number, via: "live" | "replay") => metrics.observeBackend(output.name, via, seconds);
      outputs.push(
        await DurableOutput.open({ output, listener, logger: opts.logger.child({ listener: listener.name }), onBackendRequest }),
      );
    }
  } catch (err) {
    await Promise.all(outputs.map((output) => output.close()));
    throw err;
  }

  const app = Fastify({
    loggerInstance: opts.logger.child({ listener: listener.name }),
    // A line per request would cost more than the write; failures are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: listener.maxBodySize,
    ...(opts.tlsPem ? { https: { key: opts.tlsPem, cert: opts.tlsPem } } : {}),
  }) as unknown as FastifyInstance; // fastify types an HTTPS instance apart; the relay uses both alike

  const inFlight = new Set<Promise<unknown>>();
  const track = (done: Promise<unknown>) => {
    inFlight.add(done);
    const forget = () => inFlight.delete(done);
    done.then(forget, forget);
  };
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
    await Promise.allSettled([...inFlight]);
    await Promise.all(outputs.map((output) => output.close()));
  });

  // Line protocol arrives under any content type (or none); every body is read raw, gzip inflated.
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
    if (status !== undefined && status >= 400 && status < 500) {
      // The rest of a refused body is not worth reading: close the connection instead.
      if (status === 413) reply.header("connection", "close");
      return reply.code(status).type("application/json").send(errorBody(err.message));
    }
    request.log.error({ err }, "unexpected error");
    return reply.code(500).type("application/json").send(errorBody("internal error in the relay"));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?", 1)[0] ?? "";
    if (POST_ONLY.has(path) || GET_ONLY.has(path)) {
      return reply
        .code(405)
        .header("allow", GET_ONLY.has(path) ? "GET, HEAD" : "POST")
        .type("application/json")
        .send(errorBody(`${request.method} is not allowed on ${path}`));
    }
    return reply
      .code(404)
      .type("application/json")
      .send(
        errorBody(
          `${path} not found: the relay takes POST /write, POST /api/v2/write, /ping, /health, /status, /metrics and POST /admin/flush; send queries to InfluxDB`,
        ),
      );
  });

  app.get("/ping", (_request, reply) => reply.code(204).header("x-influxdb-version", PING_VERSION).send());
  app.get("/metrics", async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  writeRoutes(app, { listener, outputs, stats, warnings: new ThrottledLog(app.log), track });
  healthRoutes(app, { ack: listener.ack, outputs, stats });
  adminRoutes(app, { adminToken: listener.adminToken, outputs });
  return app;
}
