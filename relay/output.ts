// One InfluxDB backend reached over HTTP: an undici Pool with keep-alive, the output's timeout and TLS settings.
import { Pool } from "undici";
import type { HttpOutputConfig } from "./config.js";

/** Which InfluxDB write API a request goes to. */
export type WriteApi = "v1" | "v2";

/** How one backend answered one write. `status` is 0 when it did not answer at all. */
export interface OutputReply {
  readonly output: string;
  readonly status: number;
  readonly body?: Buffer;
  readonly contentType?: string;
  readonly error?: Error;
}

export interface OutgoingWrite {
  readonly api: WriteApi;
  /** Query string without the '?'. */
  readonly query: string;
  readonly authorization: string | undefined;
  readonly body: Buffer;
}

/** Concurrent connections to one backend: enough to overlap large writes without flooding it. */
const CONNECTIONS = 32;

export class HttpOutput {
  readonly name: string;
  private readonly pool: Pool;
  private readonly paths: BackendPaths;
  private readonly timeoutMs: number;

  constructor(config: HttpOutputConfig) {
    this.name = config.name;
    this.timeoutMs = config.timeoutMs;
    const location = new URL(config.location);
    this.paths = backendPaths(location.pathname);
    this.pool = new Pool(location.origin, {
      connections: CONNECTIONS,
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connect: { rejectUnauthorized: !config.skipTlsVerification },
    });
  }

  async send(write: OutgoingWrite): Promise<OutputReply> {
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
    if (write.authorization !== undefined) headers.authorization = write.authorization;
    try {
      const response = await this.pool.request({
        method: "POST",
        path: write.query === "" ? this.paths[write.api] : `${this.paths[write.api]}?${write.query}`,
        headers,
        body: write.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const status = response.statusCode;
      if (status >= 200 && status < 300) {
        await response.body.dump();
        return { output: this.name, status };
      }
      const body = Buffer.from(await response.body.arrayBuffer());
      const contentType = response.headers["content-type"];
      return { output: this.name, status, body, contentType: Array.isArray(contentType) ? contentType[0] : contentType };
    } catch (err) {
      return { output: this.name, status: 0, error: err as Error };
    }
  }

  /** GET /ping beside the write endpoint: how an idle output is found to be back. */
  async ping(): Promise<OutputReply> {
    try {
      const response = await this.pool.request({ method: "GET", path: this.paths.ping, signal: AbortSignal.timeout(this.timeoutMs) });
      await response.body.dump();
      return { output: this.name, status: response.statusCode };
    } catch (err) {
      return { output: this.name, status: 0, error: err as Error };
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export type BackendPaths = Readonly<Record<WriteApi | "ping", string>>;

/**
 * `location` names the backend's /write endpoint; /api/v2/write and /ping sit beside it under the same prefix,
 * so "http://h:8086/write" also gives "/api/v2/write" and "http://h/influx/write" gives "/influx/api/v2/write".
 */
export function backendPaths(locationPath: string): BackendPaths {
  const prefix = locationPath.replace(/\/write\/?$/, "").replace(/\/$/, "");
  return { v1: locationPath === "/" ? "/write" : locationPath, v2: `${prefix}/api/v2/write`, ping: `${prefix}/ping` };
}
