// One real InfluxDB 1.x server (Debian's influxd) on 127.0.0.1, living in a directory of its own:
// influxd.conf, meta/, data/, wal/ and influxd.log. Used by the local layout (npm start) and,
// through test/helpers/influxd.ts, by the tests.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "undici";
import { ExitWatch, isAlive, killChild, spawnLogged, stopChild, type Child, type ExitInfo } from "./child.js";
import { parseJsonLossless } from "./json.js";
import { fileSize, readFrom } from "./logfile.js";
import { findBinary } from "./tools.js";
import { waitFor } from "./wait.js";
import { quoteIdentifier } from "../relay/influxql/quote.js";
import { renderInfluxdConfig, type InfluxdConfigOptions } from "../influxdb/render-config.js";

export interface InfluxdProcessOptions extends Omit<InfluxdConfigOptions, "bindAddress" | "authEnabled"> {
  /** Default false. With auth on, query() and createDatabase() are refused: callers send credentials themselves. */
  readonly authEnabled?: boolean;
  /** stop() deletes `dir` (temp dirs of tests). Default false: the data outlives the process. */
  readonly removeDirOnStop?: boolean;
  /** Path of influxd; default: found on PATH or in /usr/sbin, /usr/bin. */
  readonly binary?: string;
  /** Run influxd in its own process group, so a Ctrl-C in the terminal reaches only its parent. Default false. */
  readonly detached?: boolean;
  /** Called when influxd exits while it should be running (not during start, stop, kill9 or restart). */
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

const LOOPBACK = "127.0.0.1";
const READY_TIMEOUT_MS = 30_000;
const TERM_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const HTTP_TIMEOUT_MS = 10_000;
// Logged by the UDP service once its socket is bound. /ping can answer before that, because
// influxd opens the HTTP service before the UDP one.
const UDP_READY_LOG = "Started listening on UDP";
const STOPPED_WHILE_STARTING = "influxd: stopped while starting";

interface Running extends Child {
  readonly exitWatch: ExitWatch;
}

export class InfluxdProcess {
  readonly dir: string;
  readonly httpPort: number;
  readonly rpcPort: number;
  readonly udpPort: number | undefined;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** http://127.0.0.1:PORT/write */
  readonly writeUrl: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly binary: string;

  private running: Running | undefined;
  // Own connection pool: isolates us from a global dispatcher (a test's MockAgent) and lets us
  // drop the connections to a killed server.
  private agent = newAgent();
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: InfluxdProcessOptions) {
    const binary = opts.binary ?? findBinary("influxd");
    if (binary === undefined) throw new Error('influxd not found: install it with "sudo apt-get install -y influxdb"');
    this.binary = binary;
    this.dir = opts.dir;
    this.httpPort = opts.httpPort;
    this.rpcPort = opts.rpcPort;
    this.udpPort = opts.udp?.port;
    this.url = `http://${LOOPBACK}:${opts.httpPort}`;
    this.writeUrl = `${this.url}/write`;
    this.configPath = join(opts.dir, "influxd.conf");
    this.logPath = join(opts.dir, "influxd.log");
  }

  /** Pid of the running influxd, undefined while it is not running. */
  get pid(): number | undefined {
    const child = this.running?.process;
    return child && isAlive(child) ? child.pid : undefined;
  }

  /**
   * Writes influxd.conf, starts influxd and waits until /ping answers (and the UDP listener is
   * bound), then creates the UDP database. On failure influxd is killed and the error carries
   * the tail of influxd.log ("address already in use" among others). When `signal` aborts first,
   * influxd is stopped as stop() does and start() rejects at once.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.stopping) throw new Error("influxd: start() after stop()");
    if (this.running) throw new Error("influxd: already started");
    await mkdir(this.dir, { recursive: true });
    await writeFile(
      this.configPath,
      renderInfluxdConfig({ ...this.opts, bindAddress: LOOPBACK, authEnabled: this.opts.authEnabled ?? false }),
    );
    await this.spawnAndWait(signal);
    if (this.opts.udp !== undefined) await this.createDatabase(this.opts.udp.database, signal);
  }

  /**
   * GET /query with epoch=ns. Returns the parsed JSON, except that integers beyond 2^53 (every ns
   * timestamp) are exact decimal strings. Throws on a non-2xx status, a top-level "error" or an
   * "error" in any statement result.
   */
  async query(q: string, db?: string): Promise<any> {
    const params = new URLSearchParams({ q, epoch: "ns" });
    if (db !== undefined) params.set("db", db);
    return this.queryRequest("GET", `${this.url}/query?${params}`, undefined);
  }

  /** POST /query CREATE DATABASE (idempotent in InfluxDB 1.x); `signal` ends the request early. */
  async createDatabase(name: string, signal?: AbortSignal): Promise<void> {
    // POST: InfluxDB 1.6 warns about CREATE in a GET ("read only context").
    const body = new URLSearchParams({ q: `CREATE DATABASE ${quoteIdentifier(name)}` }).toString();
    await this.queryRequest("POST", `${this.url}/query`, body, signal);
  }

  /**
   * SELECT * FROM "measurement" as row objects keyed by column name. `time` is always the exact
   * nanosecond timestamp as a decimal string. [] when the measurement does not exist; throws if the db does not.
   */
  async points(db: string, measurement: string): Promise<Array<Record<string, unknown>>> {
    const json = await this.query(`SELECT * FROM ${quoteIdentifier(measurement)}`, db);
    const rows: Array<Record<string, unknown>> = [];
    for (const result of asArray(json?.results)) {
      for (const series of asArray(result?.series)) {
        const columns = asArray(series?.columns) as string[];
        for (const values of asArray(series?.values)) {
          const row: Record<string, unknown> = {};
          columns.forEach((col, i) => {
            row[col] = (values as unknown[])[i] ?? null;
          });
          // Small timestamps stay JSON numbers; make the type predictable.
          if (row["time"] !== undefined && row["time"] !== null) row["time"] = String(row["time"]);
          rows.push(row);
        }
      }
    }
    return rows;
  }

  /** SIGKILL and wait for the process to be gone (simulates a crash). */
  async kill9(): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.exitWatch.unwatch();
    await this.resetAgent();
    await killChild(running, "influxd", KILL_WAIT_MS);
    this.running = undefined;
  }

  /**
   * Start again with the same dir, ports and config (stopping first if running) and wait until ready;
   * `signal` as for start().
   */
  async restart(signal?: AbortSignal): Promise<void> {
    if (this.stopping) throw new Error("influxd: restart() after stop()");
    await this.terminate();
    await this.spawnAndWait(signal);
  }

  /** SIGTERM (SIGKILL after a grace period); then removes the dir if removeDirOnStop. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.terminate();
      } finally {
        await this.agent.destroy().catch(() => undefined);
        if (this.opts.removeDirOnStop) await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      }
    })();
    return this.stopping;
  }

  // --- internals ---------------------------------------------------------

  private async spawnAndWait(signal: AbortSignal | undefined): Promise<void> {
    // stop() may have come while start() or restart() was awaiting: spawn nothing it cannot see.
    if (this.stopping || signal?.aborted) throw new Error(STOPPED_WHILE_STARTING);
    const logOffset = fileSize(this.logPath);
    const removeDir = this.opts.removeDirOnStop ?? false;
    const child = spawnLogged(this.binary, ["run", "-config", this.configPath], {
      cwd: this.dir,
      logPath: this.logPath,
      env: influxdEnv(),
      detached: this.opts.detached ?? false,
      // Keeps /tmp clean when a test forgot stop(); influxd may still be writing, hence best effort.
      ...(removeDir ? { onParentExit: () => rmSync(this.dir, { recursive: true, force: true, maxRetries: 2 }) } : {}),
    });
    const exitWatch = new ExitWatch(child, { what: "influxd", logPath: this.logPath, onUnexpectedExit: this.opts.onUnexpectedExit });
    const running: Running = { ...child, exitWatch };
    this.running = running;
    // Its exit then ends the readiness wait below; stop() reports a failure to whoever calls it next.
    const stopOnAbort = (): void => void this.stop().catch(() => undefined);
    signal?.addEventListener("abort", stopOnAbort, { once: true });
    try {
      await exitWatch.untilReady(async (exited) => {
        await waitFor(() => this.ping(), {
          timeoutMs: READY_TIMEOUT_MS,
          intervalMs: 50,
          what: `influxd /ping on ${this.url}`,
          signal: exited,
        });
        if (this.udpPort !== undefined) {
          await waitFor(async () => readFrom(this.logPath, logOffset).includes(UDP_READY_LOG), {
            timeoutMs: READY_TIMEOUT_MS,
            intervalMs: 20,
            what: `influxd UDP listener on ${LOOPBACK}:${this.udpPort}`,
            signal: exited,
          });
        }
      }, KILL_WAIT_MS);
    } catch (err) {
      if (this.running === running) this.running = undefined;
      throw signal?.aborted ? new Error(STOPPED_WHILE_STARTING) : err;
    } finally {
      signal?.removeEventListener("abort", stopOnAbort);
    }
    if (signal?.aborted) throw new Error(STOPPED_WHILE_STARTING);
  }

  /** Graceful shutdown of the current process, if any; SIGKILL after a grace period. */
  private async terminate(): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.exitWatch.unwatch();
    await this.resetAgent();
    await stopChild(running, "influxd", { termGraceMs: TERM_GRACE_MS, killWaitMs: KILL_WAIT_MS });
    this.running = undefined;
  }

  private async ping(): Promise<boolean> {
    const res = await request(`${this.url}/ping`, {
      dispatcher: this.agent,
      headersTimeout: 1_000,
      bodyTimeout: 1_000,
    });
    await res.body.dump();
    return res.statusCode === 204;
  }

  private async queryRequest(method: "GET" | "POST", url: string, body: string | undefined, signal?: AbortSignal): Promise<any> {
    const res = await request(url, {
      method,
      signal,
      dispatcher: this.agent,
      headersTimeout: HTTP_TIMEOUT_MS,
      bodyTimeout: HTTP_TIMEOUT_MS,
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/x-www-form-urlencoded" } }),
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) {
      throw new Error(`influxd ${method} /query failed: HTTP ${res.statusCode}: ${text}`);
    }
    const json = parseJsonLossless(text) as any;
    if (json?.error) throw new Error(`influxd /query error: ${json.error}`);
    for (const result of asArray(json?.results)) {
      if (result?.error) throw new Error(`influxd /query statement ${result.statement_id} error: ${result.error}`);
    }
    return json;
  }

  /** Drop pooled connections, which are dead once the server goes away. */
  private async resetAgent(): Promise<void> {
    const old = this.agent;
    this.agent = newAgent();
    await old.destroy().catch(() => undefined);
  }
}

function newAgent(): Agent {
  return new Agent({ connections: 8, keepAliveTimeout: 1_000 });
}

/** The parent's env minus INFLUXDB_* overrides, which influxd applies on top of the config file. */
function influxdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("INFLUXDB_")) env[key] = value;
  }
  return env;
}

function asArray(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

/**
 * Starts the server `make` gives, on ports probed free just before: another process may take one first,
 * and influxd then exits with "address already in use", so a fresh server on fresh ports is tried again.
 */
export async function startOnFreePorts(make: () => Promise<InfluxdProcess>, attempts = 3): Promise<InfluxdProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = await make();
    try {
      await server.start();
      return server;
    } catch (err) {
      await server.stop();
      const retriable = err instanceof Error && /address already in use/.test(err.message);
      if (!retriable || attempt >= attempts) throw err;
    }
  }
}
