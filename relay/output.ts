// One InfluxDB backend reached over HTTP: undici Pools with keep-alive, the output's timeout and TLS settings.
// Writes and statements share one pool; reads have their own, so a burst of long queries never holds up
// the writes' connections (nor their timeouts). /api/v2/write requests reach a backend older than 1.8
// through its /write (write-api). An answer whose headers HTTP forbids is InfluxDB 1.x echoing a refused
// line, control characters included: it is read as the refusal it is, not as a backend that did not answer.
import { Pool, type Dispatcher } from "undici";
import type { HttpOutputConfig } from "./config.js";
import { REMOTE_WRITE_HEADERS } from "./prompb.js";
import type { WriteApiSetting } from "./defaults.js";
import { errorBody } from "./errors.js";
import { takesV2Writes, v2WriteAsV1 } from "./v2-to-v1.js";

/** Which InfluxDB write API a request goes to. */
export type WriteApi = "v1" | "v2";
/**
 * What a queued record is: a line-protocol write, a Prometheus remote write (a snappy-compressed protobuf
 * body, for /api/v1/prom/write), or InfluxQL statements for /query (form body "q=...").
 * "influxql-after-writes" reads or removes stored points, so it waits for every relay's earlier writes.
 */
export type RecordKind = WriteApi | "prom-write" | "influxql" | "influxql-after-writes";

export function isStatement(kind: RecordKind): boolean {
  return kind === "influxql" || kind === "influxql-after-writes";
}

/** How one backend answered one write. `status` is 0 when it did not answer at all. */
export interface OutputReply {
  readonly output: string;
  readonly status: number;
  readonly body?: Buffer;
  readonly contentType?: string;
  readonly error?: Error;
  /** A statement InfluxDB refused inside a 2xx answer ({"results":[{"error":...}]}): the first error it gave. */
  readonly statementError?: string;
}

export interface OutgoingWrite {
  readonly api: RecordKind;
  /** Query string without the '?'. */
  readonly query: string;
  readonly authorization: string | undefined;
  readonly body: Buffer;
}

const LINE_PROTOCOL = { "content-type": "text/plain; charset=utf-8" };
const STATEMENTS = { "content-type": "application/x-www-form-urlencoded" };
/** The headers each kind of record is sent with: a remote write goes as Prometheus sends it (remote write 1.0). */
const CONTENT_HEADERS: Readonly<Record<RecordKind, Readonly<Record<string, string>>>> = {
  v1: LINE_PROTOCOL,
  v2: LINE_PROTOCOL,
  "prom-write": REMOTE_WRITE_HEADERS,
  influxql: STATEMENTS,
  "influxql-after-writes": STATEMENTS,
};

/** Concurrent connections to one backend: enough to overlap large writes without flooding it. */
const CONNECTIONS = 32;

export class HttpOutput {
  readonly name: string;
  /** X-Influxdb-Version of the backend's latest answer: what the relay reports as its own version. */
  version: string | undefined;
  private readonly pool: Pool;
  private readonly readPool: Pool;
  private readonly paths: BackendPaths;
  private readonly timeoutMs: number;
  private readonly writeApi: WriteApiSetting;

  constructor(config: HttpOutputConfig) {
    this.name = config.name;
    this.timeoutMs = config.timeoutMs;
    this.writeApi = config.writeApi;
    const location = new URL(config.location);
    this.paths = backendPaths(location.pathname);
    const connect = { rejectUnauthorized: !config.skipTlsVerification };
    this.pool = new Pool(location.origin, {
      connections: CONNECTIONS,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connect,
    });
    // A query may think for minutes before its first byte, and stream for longer: forward() sets its own bounds.
    this.readPool = new Pool(location.origin, { connections: CONNECTIONS, connect });
  }

  async send(write: OutgoingWrite): Promise<OutputReply> {
    if (write.api !== "v2") return this.post(write);
    const asV1 = (): OutgoingWrite => ({ ...write, api: "v1", ...v2WriteAsV1(write.query, write.authorization) });
    if (this.v2WritesGoTo() === "v1") return this.post(asV1());
    const reply = await this.post(write);
    // Under "auto", a backend not heard from yet (or replaced by an older one) says its version in its 404.
    if (this.writeApi === "auto" && reply.status === 404 && this.v2WritesGoTo() === "v1") return this.post(asV1());
    return reply;
  }

  /** Where an /api/v2/write request goes: its /api/v2/write, or its /write when the backend lacks the first. */
  private v2WritesGoTo(): WriteApi {
    if (this.writeApi !== "auto") return this.writeApi;
    return takesV2Writes(this.version) ? "v2" : "v1";
  }

  private async post(write: OutgoingWrite): Promise<OutputReply> {
    const headers: Record<string, string> = { ...CONTENT_HEADERS[write.api] };
    if (write.authorization !== undefined) headers.authorization = write.authorization;
    try {
      const response = await this.pool.request({
        method: "POST",
        path: write.query === "" ? this.paths[write.api] : `${this.paths[write.api]}?${write.query}`,
        headers,
        body: write.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      this.noteVersion(response.headers);
      const status = response.statusCode;
      // A write's 2xx says all; a statement's answer is its results, and may hold a refusal.
      if (status >= 200 && status < 300 && !isStatement(write.api)) {
        await response.body.dump();
        return { output: this.name, status };
      }
      const body = Buffer.from(await response.body.arrayBuffer());
      const contentType = firstHeader(response.headers["content-type"]);
      const statementError = status >= 200 && status < 300 ? firstStatementError(body) : undefined;
      return { output: this.name, status, body, contentType, ...(statementError === undefined ? {} : { statementError }) };
    } catch (err) {
      return unreadableRefusal(this.name, err) ?? { output: this.name, status: 0, error: err as Error };
    }
  }

  /** GET /ping beside the write endpoint: how an idle output is found to be back. */
  async ping(): Promise<OutputReply> {
    try {
      const response = await this.pool.request({ method: "GET", path: this.paths.ping, signal: AbortSignal.timeout(this.timeoutMs) });
      this.noteVersion(response.headers);
      await response.body.dump();
      return { output: this.name, status: response.statusCode };
    } catch (err) {
      return { output: this.name, status: 0, error: err as Error };
    }
  }

  /**
   * A client's read, sent as it came (path and query string under the backend's prefix). The answer's body
   * is the caller's to consume or destroy. Throws when no answer's headers came.
   */
  async forward(read: ForwardedRequest): Promise<Dispatcher.ResponseData> {
    const response = await this.readPool.request({
      method: read.method,
      path: `${this.paths.prefix}${read.pathAndQuery}`,
      headers: read.headers,
      ...(read.body === undefined ? {} : { body: read.body }),
      headersTimeout: read.timeoutMs,
      bodyTimeout: read.timeoutMs,
      ...(read.signal ? { signal: read.signal } : {}),
    });
    this.noteVersion(response.headers);
    return response;
  }

  private noteVersion(headers: Dispatcher.ResponseData["headers"]): void {
    const version = firstHeader(headers["x-influxdb-version"]);
    if (version !== undefined) this.version = version;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.readPool.close()]);
  }
}

export interface ForwardedRequest {
  readonly method: Dispatcher.HttpMethod;
  /** "/query?db=x&q=...", as the client sent it. */
  readonly pathAndQuery: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** Bound on the wait for the answer's headers, and on each pause in its body. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * undici refuses an answer with a control character in a header (llhttp: "Invalid header value char", or
 * "Invalid header token" in a name; its code is HPE_INVALID_HEADER_TOKEN when undici sets one). InfluxDB 1.x
 * sends one when it refuses a line or statement holding such characters: it echoes them in X-Influxdb-Error.
 * The status line was read, so the backend is up and answered; the answer is taken as the 400 it nearly
 * always is, with InfluxDB's error from the JSON body when the parser's leftover holds it.
 * Any other parse error (not HTTP at all, a bad status line or framing) stays a failure.
 */
function unreadableRefusal(output: string, err: unknown): OutputReply | undefined {
  const { name, code, message, data } = err as { name?: unknown; code?: unknown; message?: unknown; data?: unknown };
  if (name !== "HTTPParserError") return undefined;
  if (code !== "HPE_INVALID_HEADER_TOKEN" && !/\(Invalid header (value char|token)\)/.test(String(message))) return undefined;
  const influxError = typeof data === "string" ? errorInLeftover(data) : undefined;
  const why =
    "put control characters in a header, as InfluxDB 1.x does when it echoes what it refused; HTTP forbids them, " +
    "so its status could not be read and is taken as 400";
  const body = errorBody(
    influxError === undefined ? `${output} refused the request with an answer that ${why}` : `${influxError} (${output}'s answer ${why})`,
  );
  return { output, status: 400, body: Buffer.from(body), contentType: "application/json", error: err as Error };
}

/** The {"error": "..."} body after the headers, in what the parser had not read yet; undefined when it is not there whole. */
function errorInLeftover(leftover: string): string | undefined {
  const bodyStart = leftover.indexOf("\r\n\r\n");
  if (bodyStart === -1) return undefined;
  try {
    const parsed = JSON.parse(leftover.slice(bodyStart + 4)) as { error?: unknown };
    return typeof parsed.error === "string" ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** InfluxDB answers a statement it refused with 200 and {"results":[{"statement_id":0,"error":"..."}]}. */
export function firstStatementError(body: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return "the answer is not JSON";
  }
  const answer = parsed as { error?: unknown; results?: { error?: unknown }[] };
  if (typeof answer.error === "string") return answer.error;
  const failed = Array.isArray(answer.results) ? answer.results.find((r) => typeof r?.error === "string") : undefined;
  return failed ? String(failed.error) : undefined;
}

/** InfluxDB's answer when a write or statement names a database it lacks (yet). */
export function isMissingDatabase(reply: OutputReply): boolean {
  const message = reply.statementError ?? (reply.status === 404 ? reply.body?.toString("utf8", 0, 500) : undefined);
  return message !== undefined && /database not found/.test(message);
}

export type BackendPaths = Readonly<Record<RecordKind | "ping" | "prefix", string>>;

/**
 * `location` names the backend's /write endpoint; /api/v2/write, /api/v1/prom/write, /query and /ping sit beside it under the same prefix,
 * so "http://h:8086/write" also gives "/api/v2/write" and "http://h/influx/write" gives "/influx/api/v2/write".
 */
export function backendPaths(locationPath: string): BackendPaths {
  const prefix = locationPath.replace(/\/write\/?$/, "").replace(/\/$/, "");
  return {
    v1: locationPath === "/" ? "/write" : locationPath,
    v2: `${prefix}/api/v2/write`,
    "prom-write": `${prefix}/api/v1/prom/write`,
    influxql: `${prefix}/query`,
    "influxql-after-writes": `${prefix}/query`,
    ping: `${prefix}/ping`,
    prefix,
  };
}
