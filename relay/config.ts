// Loads influxdb-relay's TOML config as is, plus influx-ha's own keys, into a typed RelayConfig.
// Every problem is collected and reported at once, each naming the file and the key.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { TomlError, parse as parseToml } from "smol-toml";
import { ACK_LEVELS, type AckLevel } from "./ack.js";
import { parseGoDuration } from "./duration.js";
import {
  DEFAULTS,
  FSYNC_POLICIES,
  LOG_LEVELS,
  MIN_ADMIN_TOKEN_CHARS,
  WRITE_API_SETTINGS,
  type FsyncPolicy,
  type LogLevel,
  type WriteApiSetting,
} from "./defaults.js";
import { PRECISIONS, type Precision } from "./precision.js";

export interface HostPort {
  /** Empty string means every interface, as Go's ":9096". */
  readonly host: string;
  readonly port: number;
}

export interface HttpOutputConfig {
  readonly name: string;
  /** Full URL of the backend's /write endpoint. */
  readonly location: string;
  readonly timeoutMs: number;
  /** Cap on the output's queue, in MiB on disk; 0 keeps no queue at all. */
  readonly bufferSizeMb: number;
  /** Cap on how old the queue's oldest write may get. */
  readonly maxQueueAgeMs: number;
  readonly maxBatchKb: number;
  readonly maxDelayIntervalMs: number;
  readonly skipTlsVerification: boolean;
  /** How /api/v2/write requests reach the backend: "v2" as they are, "v1" through its /write, "auto" by its version. */
  readonly writeApi: WriteApiSetting;
}

export interface HttpListenerConfig {
  readonly name: string;
  readonly bindAddr: HostPort;
  readonly sslCombinedPem: string | undefined;
  readonly defaultRetentionPolicy: string | undefined;
  /** Largest request body accepted, in bytes, after gzip inflation. */
  readonly maxBodySize: number;
  /** Absolute path; each output queues in a sub-folder named after it. */
  readonly spoolDir: string;
  readonly ack: AckLevel;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** Bearer token for POST /admin/flush; the endpoint is off without one. */
  readonly adminToken: string | undefined;
  readonly outputs: readonly HttpOutputConfig[];
  /** Base URLs of the other relays' listeners in front of the same replicas: their /status says who is behind. */
  readonly peers: readonly string[];
  /** How often each peer's /status is read. */
  readonly peerPollIntervalMs: number;
  /** Bound on one request to a peer, and so on how long a fence can hold up an answer. */
  readonly peerTimeoutMs: number;
  /** Bound on a replica's wait before the first byte of a read's answer, and on each pause in it. */
  readonly queryTimeoutMs: number;
  /** Budget of request body bytes held at once (max-inflight-mb); a request past it gets 503 at once. */
  readonly maxInflightBytes: number;
  /** Bound on receiving a whole request, headers and body. */
  readonly requestTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request. */
  readonly idleTimeoutMs: number;
  /** How often the listener compares its outputs' recent points (relay/drift/watch.ts); 0 turns it off. */
  readonly driftCheckIntervalMs: number;
  /** How far back each drift check looks. */
  readonly driftCheckWindowMs: number;
}

export interface UdpOutputConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly mtu: number;
}

export interface UdpListenerConfig {
  readonly name: string;
  readonly bindAddr: HostPort;
  /** Socket receive buffer in bytes; 0 keeps the OS default. */
  readonly readBuffer: number;
  readonly precision: Precision;
  readonly outputs: readonly UdpOutputConfig[];
}

export interface RelayConfig {
  readonly file: string;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly http: readonly HttpListenerConfig[];
  readonly udp: readonly UdpListenerConfig[];
}

const MIN_DRIFT_CHECK_INTERVAL_MS = 1_000;
const MIB = 1024 * 1024;
/** Largest UDP payload over IPv4. */
const MAX_UDP_PAYLOAD = 65_507;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(file: string): RelayConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): RelayConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text, { unsafeKeyBehaviour: "throw" }) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ConfigError(file, [`line ${err.line}, column ${err.column}: TOML syntax error: ${firstLine(err.message)}`]);
    }
    throw err;
  }
  const problems: string[] = [];
  const top = new Table(doc, "", problems);
  const shutdownTimeoutMs = top.duration("shutdown-timeout", DEFAULTS.shutdownTimeout);
  const logLevel = top.oneOf("log-level", LOG_LEVELS, DEFAULTS.logLevel);
  const http = top.tables("http").map((t, i) => readHttpListener(t, i));
  const udp = top.tables("udp").map((t, i) => readUdpListener(t, i));
  top.rejectUnknownKeys();
  if (http.length === 0 && udp.length === 0) problems.push("no [[http]] or [[udp]] block: the relay would listen on nothing");
  checkDistinctBindAddrs(http, "http", problems);
  checkDistinctBindAddrs(udp, "udp", problems);
  checkDistinctSpoolDirs(http, problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, shutdownTimeoutMs, logLevel, http, udp };
}

function readHttpListener(t: Table, index: number): HttpListenerConfig {
  const name = t.string("name") ?? `http-${index}`;
  const adminToken = t.string("admin-token");
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_CHARS) {
    t.problem("admin-token", `is too short to guard /admin/flush: use at least ${MIN_ADMIN_TOKEN_CHARS} random characters`);
  }
  const listener: HttpListenerConfig = {
    name,
    bindAddr: t.hostPort("bind-addr", { required: true, allowWildcard: true }),
    sslCombinedPem: t.string("ssl-combined-pem"),
    defaultRetentionPolicy: t.string("default-retention-policy"),
    maxBodySize: t.integer("max-body-size", DEFAULTS.maxBodySize, { min: 1 }),
    spoolDir: resolve(t.string("spool-dir") ?? join(DEFAULTS.spoolRoot, name)),
    ack: t.oneOf("ack", ACK_LEVELS, DEFAULTS.ack),
    fsync: t.oneOf("fsync", FSYNC_POLICIES, DEFAULTS.fsync),
    fsyncIntervalMs: t.duration("fsync-interval", DEFAULTS.fsyncInterval, { positive: true }),
    adminToken,
    outputs: t.tableArray("output").map(readHttpOutput),
    peers: t.urlList("peers", '"http://10.0.0.2:9096"'),
    peerPollIntervalMs: t.duration("peer-poll-interval", DEFAULTS.peerPollInterval, { positive: true }),
    peerTimeoutMs: t.duration("peer-timeout", DEFAULTS.peerTimeout, { positive: true }),
    queryTimeoutMs: t.duration("query-timeout", DEFAULTS.queryTimeout, { positive: true }),
    maxInflightBytes: t.integer("max-inflight-mb", DEFAULTS.maxInflightMb, { min: 1 }) * MIB,
    requestTimeoutMs: t.duration("request-timeout", DEFAULTS.requestTimeout, { positive: true }),
    idleTimeoutMs: t.duration("idle-timeout", DEFAULTS.idleTimeout, { positive: true }),
    driftCheckIntervalMs: t.duration("drift-check-interval", DEFAULTS.driftCheckInterval),
    driftCheckWindowMs: t.duration("drift-check-window", DEFAULTS.driftCheckWindow, { positive: true }),
  };
  t.rejectUnknownKeys();
  if (listener.maxInflightBytes > 0 && listener.maxInflightBytes < listener.maxBodySize) {
    t.problem(
      "max-inflight-mb",
      `${listener.maxInflightBytes / MIB} MiB is less than max-body-size (${listener.maxBodySize} bytes): a body of that size could never be taken`,
    );
  }
  if (listener.driftCheckIntervalMs > 0 && listener.driftCheckIntervalMs < MIN_DRIFT_CHECK_INTERVAL_MS) {
    t.problem(
      "drift-check-interval",
      `must be 0s (off) or at least ${MIN_DRIFT_CHECK_INTERVAL_MS / 1000}s: each check reads every replica`,
    );
  }
  checkOutputs(t, listener.outputs);
  return listener;
}

function readHttpOutput(t: Table): HttpOutputConfig {
  const location = t.url("location");
  const output: HttpOutputConfig = {
    name: t.string("name") ?? (location ? new URL(location).host : ""),
    location: location ?? "",
    timeoutMs: t.duration("timeout", DEFAULTS.outputTimeout, { positive: true }),
    bufferSizeMb: t.integer("buffer-size-mb", DEFAULTS.bufferSizeMb, { min: 0 }),
    maxQueueAgeMs: t.duration("max-queue-age", DEFAULTS.maxQueueAge, { positive: true }),
    maxBatchKb: t.integer("max-batch-kb", DEFAULTS.maxBatchKb, { min: 1 }),
    maxDelayIntervalMs: t.duration("max-delay-interval", DEFAULTS.maxDelayInterval, { positive: true }),
    skipTlsVerification: t.boolean("skip-tls-verification", false),
    writeApi: t.oneOf("write-api", WRITE_API_SETTINGS, DEFAULTS.writeApi),
  };
  t.rejectUnknownKeys();
  return output;
}

function readUdpListener(t: Table, index: number): UdpListenerConfig {
  const listener: UdpListenerConfig = {
    name: t.string("name") ?? `udp-${index}`,
    bindAddr: t.hostPort("bind-addr", { required: true, allowWildcard: true }),
    readBuffer: t.integer("read-buffer", 0, { min: 0 }),
    precision: t.oneOf("precision", PRECISIONS, DEFAULTS.udpPrecision),
    outputs: t.tableArray("output").map(readUdpOutput),
  };
  t.rejectUnknownKeys();
  checkOutputs(t, listener.outputs);
  return listener;
}

function readUdpOutput(t: Table): UdpOutputConfig {
  const location = t.hostPort("location", { required: true, allowWildcard: false });
  const output: UdpOutputConfig = {
    name: t.string("name") ?? formatHostPort(location),
    host: location.host,
    port: location.port,
    mtu: t.integer("mtu", DEFAULTS.udpMtu, { min: 64, max: MAX_UDP_PAYLOAD }),
  };
  t.rejectUnknownKeys();
  return output;
}

function checkOutputs(t: Table, outputs: readonly { name: string }[]): void {
  if (outputs.length === 0) {
    t.problem("output", "the block has no outputs: add at least one { name, location } to output = [...]");
    return;
  }
  const seen = new Set<string>();
  outputs.forEach((o, i) => {
    if (seen.has(o.name)) t.problem(`output[${i}].name`, `duplicate output name "${o.name}": names must be unique within a block`);
    seen.add(o.name);
  });
}

function checkDistinctBindAddrs(listeners: readonly { bindAddr: HostPort }[], kind: "http" | "udp", problems: string[]): void {
  listeners.forEach((a, i) => {
    for (let j = 0; j < i; j++) {
      const b = listeners[j]!.bindAddr;
      const clash = a.bindAddr.port === b.port && (a.bindAddr.host === b.host || isWildcard(a.bindAddr.host) || isWildcard(b.host));
      if (clash && a.bindAddr.port !== 0) {
        problems.push(
          `${kind}[${i}].bind-addr: "${formatHostPort(a.bindAddr)}" clashes with ${kind}[${j}].bind-addr "${formatHostPort(b)}": each [[${kind}]] block needs its own address`,
        );
      }
    }
  });
}

/** Each output's queue folder is named after the output, so two blocks sharing a spool-dir could share a queue. */
function checkDistinctSpoolDirs(listeners: readonly HttpListenerConfig[], problems: string[]): void {
  listeners.forEach((a, i) => {
    const j = listeners.findIndex((b) => b.spoolDir === a.spoolDir);
    if (j < i) problems.push(`http[${i}].spool-dir: "${a.spoolDir}" is also http[${j}]'s spool-dir: each [[http]] block needs its own`);
  });
}

function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::";
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses "host:port", "[v6]:port" or ":port". */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2] ?? "", port };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/** Typed reads from one TOML table, recording problems under the table's key path. */
class Table {
  private readonly used = new Set<string>();

  constructor(
    private readonly values: Record<string, unknown>,
    private readonly path: string,
    private readonly problems: string[],
  ) {}

  problem(key: string, message: string): void {
    this.problems.push(`${this.keyPath(key)}: ${message}`);
  }

  string(key: string): string | undefined {
    const value = this.take(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") return this.wrongType(key, "a string", value);
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.take(key);
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") return this.wrongType(key, "true or false", value) ?? fallback;
    return value;
  }

  integer(key: string, fallback: number, range: { min?: number; max?: number }): number {
    const value = this.take(key);
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value)) return this.wrongType(key, "an integer", value) ?? fallback;
    const { min = -Infinity, max = Infinity } = range;
    if (value < min || value > max) {
      this.problem(key, `${value} is out of range: must be ${max === Infinity ? `at least ${min}` : `between ${min} and ${max}`}`);
    }
    return value;
  }

  duration(key: string, fallback: string, opts: { positive?: boolean } = {}): number {
    const value = this.take(key) ?? fallback;
    if (typeof value !== "string") return this.wrongType(key, 'a duration string such as "10s"', value) ?? 0;
    const ms = parseGoDuration(value);
    if (ms === undefined) {
      this.problem(key, `"${value}" is not a duration: use a number and a unit (ns, us, ms, s, m, h), such as "10s" or "1m30s"`);
      return 0;
    }
    if (ms < 0 || (opts.positive && ms === 0))
      this.problem(key, `"${value}" must be ${opts.positive ? "greater than zero" : "zero or more"}`);
    return ms;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.take(key);
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !allowed.includes(value as T)) {
      this.problem(key, `${describe(value)} is not one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
      return fallback;
    }
    return value as T;
  }

  url(key: string): string | undefined {
    const value = this.string(key);
    if (value === undefined) {
      if (!this.has(key)) this.problem(key, "is required: the full URL of the backend's /write endpoint");
      return undefined;
    }
    return this.httpUrl(key, value, '"http://10.0.0.1:8086/write"');
  }

  /** An array of http(s) URLs, empty when absent. */
  urlList(key: string, example: string): string[] {
    const value = this.take(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) return this.wrongType(key, `an array of URLs, each such as ${example}`, value) ?? [];
    const urls: string[] = [];
    value.forEach((item, i) => {
      if (typeof item !== "string") return this.problem(`${key}[${i}]`, `must be a URL such as ${example}, got ${describe(item)}`);
      const url = this.httpUrl(`${key}[${i}]`, item, example);
      if (url !== undefined) urls.push(url.replace(/\/+$/, ""));
    });
    return urls;
  }

  private httpUrl(key: string, value: string, example: string): string | undefined {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problem(key, `"${value}" is not a URL: expected e.g. ${example}`);
      return undefined;
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
      this.problem(key, `"${value}" must be an http:// or https:// URL with a host`);
      return undefined;
    }
    return url.href;
  }

  hostPort(key: string, opts: { required: boolean; allowWildcard: boolean }): HostPort {
    const value = this.string(key);
    const none = { host: "", port: 0 };
    if (value === undefined) {
      if (opts.required && !this.has(key)) this.problem(key, 'is required: an address such as "127.0.0.1:9096"');
      return none;
    }
    const parsed = parseHostPort(value);
    if (!parsed) {
      this.problem(key, `"${value}" is not an address: expected "host:port" with a port from 1 to 65535, such as "127.0.0.1:9096"`);
      return none;
    }
    if (!opts.allowWildcard && isWildcard(parsed.host)) this.problem(key, `"${value}" needs a host to send to`);
    return parsed;
  }

  /** An array of tables: [[http]] at top level. */
  tables(key: string): Table[] {
    return this.tableList(key, (i) => `${this.keyPath(key)}[${i}]`, `one or more [[${key}]] blocks`);
  }

  /** An inline array of tables: output = [{ ... }, ...]. */
  tableArray(key: string): Table[] {
    return this.tableList(key, (i) => `${this.keyPath(key)}[${i}]`, `an array of tables: ${key} = [{ name = "...", location = "..." }]`);
  }

  rejectUnknownKeys(): void {
    for (const key of Object.keys(this.values)) {
      if (!this.used.has(key))
        this.problem(
          key,
          `unknown key: ${this.used.size > 0 ? `known keys here are ${[...this.used].sort().join(", ")}` : "not expected here"}`,
        );
    }
  }

  private tableList(key: string, pathOf: (i: number) => string, expected: string): Table[] {
    const value = this.take(key);
    if (value === undefined) return [];
    if (!Array.isArray(value)) return this.wrongType(key, expected, value) ?? [];
    const tables: Table[] = [];
    value.forEach((item, i) => {
      if (isPlainTable(item)) tables.push(new Table(item, pathOf(i), this.problems));
      else this.problems.push(`${pathOf(i)}: must be a table, got ${describe(item)}`);
    });
    return tables;
  }

  private has(key: string): boolean {
    return Object.hasOwn(this.values, key);
  }

  private take(key: string): unknown {
    this.used.add(key);
    return this.values[key];
  }

  private wrongType(key: string, expected: string, value: unknown): undefined {
    this.problem(key, `must be ${expected}, got ${describe(value)}`);
    return undefined;
  }

  private keyPath(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }
}

function isPlainTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
  if (typeof value === "string") return `the string "${value}"`;
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (isPlainTable(value)) return "a table";
  return `${typeof value} ${String(value)}`;
}
