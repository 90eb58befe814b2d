// Runs a real InfluxDB 1.x server (influxd) on 127.0.0.1 for integration tests.
//
// Each instance lives in its own temp dir (config, meta, data, wal, log) and
// binds only loopback ports chosen at start. Children are SIGKILLed when the
// test process exits, so a crashed or forgetful test cannot leak an influxd.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { parseJsonLossless } from './json.js';
import { freePort, freeUdpPort, waitFor } from './ports.js';

export interface InfluxdOptions {
  /** Enables a [[udp]] listener writing into this database (created after start). */
  udpDatabase?: string;
  /** [[udp]] precision: "n" (default), "u", "ms", "s", "m" or "h". */
  udpPrecision?: string;
}

export interface Influxd {
  readonly httpPort: number;
  readonly udpPort: number | undefined;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** http://127.0.0.1:PORT/write */
  readonly writeUrl: string;
  /** Temp dir holding meta/, data/, wal/, influxd.conf and influxd.log. */
  readonly dir: string;
  /** Pid of the running influxd, undefined while it is not running. */
  readonly pid: number | undefined;
  /**
   * GET /query with epoch=ns. Returns the parsed JSON, except that integers
   * beyond 2^53 (i.e. every ns timestamp) are exact decimal strings. Throws on
   * a non-2xx status, a top-level "error" or an "error" in any statement result.
   */
  query(q: string, db?: string): Promise<any>;
  /** POST /query CREATE DATABASE (idempotent in InfluxDB 1.x). */
  createDatabase(name: string): Promise<void>;
  /**
   * SELECT * FROM "measurement" as row objects keyed by column name. `time` is
   * always the exact nanosecond timestamp as a decimal string (see query()).
   * Returns [] when the measurement does not exist; throws if the db does not.
   */
  points(db: string, measurement: string): Promise<Array<Record<string, unknown>>>;
  /** SIGKILL and wait for the process to be gone (simulates a crash). */
  kill9(): Promise<void>;
  /** Start again with the same dir, ports and config (stopping first if running) and wait until ready. */
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after a grace period), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const TERM_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const HTTP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
// Logged by the UDP service once its socket is bound. /ping can answer before
// that, because influxd opens the HTTP service before the UDP one.
const UDP_READY_LOG = 'Started listening on UDP';

/** Path of the influxd binary, or undefined if there is none. */
export function influxdBinary(): string | undefined {
  const candidates = ['/usr/bin/influxd'];
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'influxd'));
  }
  return candidates.find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

export function influxdAvailable(): boolean {
  return influxdBinary() !== undefined;
}

export async function startInfluxd(opts: InfluxdOptions = {}): Promise<Influxd> {
  const binary = influxdBinary();
  if (binary === undefined) throw new Error('influxd not found (looked in /usr/bin and PATH)');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'influx-ha-influxd-'));

  // freePort() can race with other processes grabbing the port before influxd
  // binds it; influxd then exits with "address already in use" and we retry
  // with fresh ports.
  for (let attempt = 1; ; attempt++) {
    const ports: Ports = {
      http: await freePort(),
      rpc: await freePort(),
      udp: opts.udpDatabase === undefined ? undefined : await freeUdpPort(),
    };
    const server = new InfluxdServer(binary, dir, ports, opts);
    try {
      await server.init();
      return server;
    } catch (err) {
      await server.stop();
      const retriable = err instanceof Error && /address already in use/.test(err.message);
      if (!retriable || attempt >= START_ATTEMPTS) throw err;
      await fsp.mkdir(dir, { recursive: true }); // stop() removed it
    }
  }
}

interface Ports {
  http: number;
  rpc: number;
  udp: number | undefined;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface Running {
  child: ChildProcess;
  exited: Promise<ExitInfo>;
}

class InfluxdServer implements Influxd {
  readonly httpPort: number;
  readonly udpPort: number | undefined;
  readonly url: string;
  readonly writeUrl: string;
  readonly dir: string;

  private readonly configPath: string;
  private readonly logPath: string;
  private running: Running | undefined;
  // Own connection pool: isolates us from a test's global dispatcher (e.g. a
  // MockAgent) and lets us drop connections to a killed server.
  private agent = newAgent();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly binary: string,
    dir: string,
    private readonly ports: Ports,
    private readonly opts: InfluxdOptions,
  ) {
    this.dir = dir;
    this.httpPort = ports.http;
    this.udpPort = ports.udp;
    this.url = `http://${LOOPBACK}:${ports.http}`;
    this.writeUrl = `${this.url}/write`;
    this.configPath = path.join(dir, 'influxd.conf');
    this.logPath = path.join(dir, 'influxd.log');
  }

  get pid(): number | undefined {
    const child = this.running?.child;
    return child && isAlive(child) ? child.pid : undefined;
  }

  async init(): Promise<void> {
    await fsp.writeFile(this.configPath, this.renderConfig());
    await this.spawnAndWait();
    if (this.opts.udpDatabase !== undefined) await this.createDatabase(this.opts.udpDatabase);
  }

  async query(q: string, db?: string): Promise<any> {
    const params = new URLSearchParams({ q, epoch: 'ns' });
    if (db !== undefined) params.set('db', db);
    return this.queryRequest('GET', `${this.url}/query?${params}`, undefined);
  }

  async createDatabase(name: string): Promise<void> {
    // POST: InfluxDB 1.6 warns about CREATE in a GET ("read only context").
    const body = new URLSearchParams({ q: `CREATE DATABASE ${quoteIdent(name)}` }).toString();
    await this.queryRequest('POST', `${this.url}/query`, body);
  }

  async points(db: string, measurement: string): Promise<Array<Record<string, unknown>>> {
    const json = await this.query(`SELECT * FROM ${quoteIdent(measurement)}`, db);
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
          if (row['time'] !== undefined && row['time'] !== null) row['time'] = String(row['time']);
          rows.push(row);
        }
      }
    }
    return rows;
  }

  async kill9(): Promise<void> {
    const running = this.running;
    if (!running) return;
    await this.resetAgent();
    if (isAlive(running.child)) running.child.kill('SIGKILL');
    await waitExit(running, KILL_WAIT_MS, 'influxd to die after SIGKILL');
    this.running = undefined;
  }

  async restart(): Promise<void> {
    if (this.stopping) throw new Error('influxd: restart() after stop()');
    await this.terminate();
    await this.spawnAndWait();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.terminate();
      } finally {
        await this.agent.destroy().catch(() => undefined);
        await fsp.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      }
    })();
    return this.stopping;
  }

  // --- internals ---------------------------------------------------------

  private renderConfig(): string {
    const s = (v: string): string => JSON.stringify(v); // JSON strings are valid TOML basic strings
    const lines = [
      'reporting-disabled = true',
      // RPC (backup/restore) port; the default 8088 must never be touched.
      `bind-address = ${s(`${LOOPBACK}:${this.ports.rpc}`)}`,
      '',
      '[meta]',
      `  dir = ${s(path.join(this.dir, 'meta'))}`,
      '',
      '[data]',
      `  dir = ${s(path.join(this.dir, 'data'))}`,
      `  wal-dir = ${s(path.join(this.dir, 'wal'))}`,
      '  query-log-enabled = false',
      '',
      '[http]',
      '  enabled = true',
      `  bind-address = ${s(`${LOOPBACK}:${this.ports.http}`)}`,
      '  log-enabled = false',
      '',
      '[monitor]',
      '  store-enabled = false',
      '',
      '[continuous_queries]',
      '  enabled = false',
    ];
    if (this.opts.udpDatabase !== undefined && this.ports.udp !== undefined) {
      lines.push(
        '',
        '[[udp]]',
        '  enabled = true',
        `  bind-address = ${s(`${LOOPBACK}:${this.ports.udp}`)}`,
        `  database = ${s(this.opts.udpDatabase)}`,
        // Flush every datagram immediately so tests see UDP points without delay.
        '  batch-size = 1',
        '  batch-timeout = "10ms"',
      );
      if (this.opts.udpPrecision !== undefined) lines.push(`  precision = ${s(this.opts.udpPrecision)}`);
    }
    return lines.join('\n') + '\n';
  }

  private async spawnAndWait(): Promise<void> {
    const logOffset = fileSize(this.logPath);
    const logFd = fs.openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.binary, ['run', '-config', this.configPath], {
        cwd: this.dir,
        env: influxdEnv(),
        stdio: ['ignore', logFd, logFd],
        // Same process group on purpose: a Ctrl-C on the test run reaches influxd too.
      });
    } finally {
      fs.closeSync(logFd); // the child has its own copy
    }
    liveChildren.set(child, this.dir);
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    }).finally(() => liveChildren.delete(child));
    this.running = { child, exited };

    const abort = new AbortController();
    void exited.then((info) => {
      abort.abort(new Error(`influxd exited during startup (${describeExit(info)})\n${this.logTail()}`));
    });

    try {
      await waitFor(() => this.ping(), {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 50,
        what: `influxd /ping on ${this.url}`,
        signal: abort.signal,
      });
      if (this.ports.udp !== undefined) {
        await waitFor(async () => readFrom(this.logPath, logOffset).includes(UDP_READY_LOG), {
          timeoutMs: READY_TIMEOUT_MS,
          intervalMs: 20,
          what: `influxd UDP listener on ${LOOPBACK}:${this.ports.udp}`,
          signal: abort.signal,
        });
      }
    } catch (err) {
      if (isAlive(child)) child.kill('SIGKILL');
      await waitExit(this.running, KILL_WAIT_MS, 'influxd to die after failed start').catch(() => undefined);
      this.running = undefined;
      if (abort.signal.aborted) throw err; // message already has the log tail
      throw new Error(`${(err as Error).message}\n${this.logTail()}`);
    }
  }

  /** Graceful shutdown of the current process, if any; SIGKILL after a grace period. */
  private async terminate(): Promise<void> {
    const running = this.running;
    if (!running) return;
    await this.resetAgent();
    if (isAlive(running.child)) {
      running.child.kill('SIGTERM');
      try {
        await waitExit(running, TERM_GRACE_MS, 'influxd to exit after SIGTERM');
      } catch {
        if (isAlive(running.child)) running.child.kill('SIGKILL');
        await waitExit(running, KILL_WAIT_MS, 'influxd to die after SIGKILL');
      }
    }
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

  private async queryRequest(method: 'GET' | 'POST', url: string, body: string | undefined): Promise<any> {
    const res = await request(url, {
      method,
      dispatcher: this.agent,
      headersTimeout: HTTP_TIMEOUT_MS,
      bodyTimeout: HTTP_TIMEOUT_MS,
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
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

  private logTail(maxBytes = 4_000): string {
    const size = fileSize(this.logPath);
    const tail = readFrom(this.logPath, Math.max(0, size - maxBytes));
    return `--- tail of ${this.logPath} ---\n${tail}`;
  }
}

// --- process-wide safety net ------------------------------------------------

// Every influxd we started and has not exited yet, with its temp dir.
const liveChildren = new Map<ChildProcess, string>();

// 'exit' handlers must be synchronous: SIGKILL is, and best-effort removal of
// the temp dir keeps /tmp clean when a test forgot stop().
process.once('exit', () => {
  for (const [child, dir] of liveChildren) {
    try {
      if (isAlive(child)) child.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // influxd may still be dying and writing; leave the dir behind
    }
  }
});

// --- small utilities ---------------------------------------------------------

function newAgent(): Agent {
  return new Agent({ connections: 8, keepAliveTimeout: 1_000 });
}

function isAlive(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

async function waitExit(running: Running, timeoutMs: number, what: string): Promise<ExitInfo> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([running.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeExit(info: ExitInfo): string {
  if (info.error) return `spawn error: ${info.error.message}`;
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

/** The parent's env minus INFLUXDB_* overrides, which influxd applies on top of the config file. */
function influxdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('INFLUXDB_')) env[key] = value;
  }
  return env;
}

/** InfluxQL double-quoted identifier. */
function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function asArray(value: unknown): any[] {
  return Array.isArray(value) ? value : [];
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
