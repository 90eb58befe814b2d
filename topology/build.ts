// TopologySpec (what a stack file or the local flags say) → Topology (everything resolved and checked).
// Pure. Every problem is collected and reported at once, each naming the field it is about.
import { ACK_LEVELS } from "../relay/ack.js";
import { DEFAULTS as RELAY_DEFAULTS, FSYNC_POLICIES, MIN_ADMIN_TOKEN_CHARS } from "../relay/defaults.js";
import { parseGoDuration } from "../relay/duration.js";
import type {
  LoadBalancerNode,
  LoadBalancerSettings,
  NodeAddress,
  QueueSettings,
  RelayNode,
  ReplicaNode,
  StatsAuth,
  Topology,
} from "./model.js";

interface NodeSpec {
  readonly name: string;
  readonly address: string;
  /** Default 0.0.0.0. */
  readonly bindAddress?: string;
}

export interface ReplicaSpec extends NodeSpec {
  /** Default 8086. */
  readonly httpPort?: number;
  /** Default 8088. */
  readonly rpcPort?: number;
  readonly udpPort?: number;
}

export interface RelaySpec extends NodeSpec {
  /** Default 9096 (influxdb-relay's). */
  readonly httpPort?: number;
  readonly udpPort?: number;
  /** Default /var/lib/influx-relay/<name>. */
  readonly spoolDir?: string;
}

export interface LoadBalancerSpec extends NodeSpec {
  /** Default 8086: clients keep the port they know. */
  readonly port?: number;
  /** Default 8404 (HAProxy's customary stats port). */
  readonly statsPort?: number;
}

/** Durations are Go durations ("10s", "24h"), as in the relay config. */
export interface QueueSpec {
  readonly ack?: string;
  readonly fsync?: string;
  readonly fsyncInterval?: string;
  readonly bufferSizeMb?: number;
  readonly maxQueueAge?: string;
  readonly maxBatchKb?: number;
  readonly maxDelayInterval?: string;
  readonly outputTimeout?: string;
}

export interface LoadBalancerSettingsSpec {
  readonly maxConnections?: number;
  readonly relayMaxConnections?: number;
  readonly connectTimeout?: string;
  readonly clientTimeout?: string;
  readonly writeTimeout?: string;
  readonly queryTimeout?: string;
  readonly checkInterval?: string;
  readonly checkFall?: number;
  readonly checkRise?: number;
}

export interface TopologySpec {
  readonly databases: readonly string[];
  /** Needed when any node has a UDP port; must be one of `databases`. */
  readonly udpDatabase?: string;
  readonly replicas: readonly ReplicaSpec[];
  readonly relays: readonly RelaySpec[];
  readonly loadBalancers: readonly LoadBalancerSpec[];
  readonly queue?: QueueSpec;
  readonly loadBalancer?: LoadBalancerSettingsSpec;
  /** The user defaults to "admin"; there is no default password. */
  readonly stats: { readonly user?: string; readonly password: string };
  /** Every relay's admin-token; there is no default either. */
  readonly relayAdminToken: string;
  readonly tls?: { readonly certificatePath: string };
}

const TOPOLOGY_DEFAULTS = {
  bindAddress: "0.0.0.0",
  replicaHttpPort: 8086,
  replicaRpcPort: 8088,
  relayHttpPort: 9096,
  loadBalancerPort: 8086,
  statsPort: 8404,
  statsUser: "admin",
  queue: {
    ack: RELAY_DEFAULTS.ack,
    fsync: RELAY_DEFAULTS.fsync,
    fsyncInterval: RELAY_DEFAULTS.fsyncInterval,
    bufferSizeMb: RELAY_DEFAULTS.bufferSizeMb,
    maxQueueAge: RELAY_DEFAULTS.maxQueueAge,
    maxBatchKb: RELAY_DEFAULTS.maxBatchKb,
    maxDelayInterval: RELAY_DEFAULTS.maxDelayInterval,
    outputTimeout: RELAY_DEFAULTS.outputTimeout,
  },
  loadBalancer: {
    maxConnections: 4096,
    // Two relays take 2,000 requests at once from each load balancer, half its connections.
    relayMaxConnections: 1000,
    connectTimeout: "5s",
    clientTimeout: "60s",
    writeTimeout: "60s",
    // InfluxQL over a long range can take minutes; HAProxy must not cut it short first.
    queryTimeout: "5m",
    checkInterval: "2s",
    checkFall: 3,
    checkRise: 2,
  },
} as const;

export const MIN_REPLICAS = 2;
/** One relay is a single point of failure for every write. */
const MIN_RELAYS = 2;
const MIN_STATS_PASSWORD = 8;
const MAX_PORT = 65_535;
// Names end up as HAProxy server names, relay output names and Kubernetes object names.
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// HAProxy userlist user names are bare words.
const STATS_USER = /^[A-Za-z0-9._-]+$/;
// Rendered inside single quotes in haproxy.cfg, where nothing is escaped: printable ASCII, no space, no quote.
export const STATS_PASSWORD = /^[\x21-\x26\x28-\x7e]+$/;
// Rendered into relay.toml as a TOML string, and sent as a Bearer token: long enough for the relay, printable
// ASCII without spaces, quotes or backslashes, so it is written and read back with no escaping anywhere.
export const RELAY_ADMIN_TOKEN = new RegExp(`^[\\x21\\x23-\\x26\\x28-\\x5b\\x5d-\\x7e]{${MIN_ADMIN_TOKEN_CHARS},}$`);
export const RELAY_ADMIN_TOKEN_RULE = `at least ${MIN_ADMIN_TOKEN_CHARS} printable ASCII characters without spaces, quotes or backslashes`;
const HOST = /^[A-Za-z0-9.:_-]+$/;

export class TopologyError extends Error {
  override readonly name = "TopologyError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid topology:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

export function buildTopology(spec: TopologySpec): Topology {
  const problems: string[] = [];
  const check = new Checker(problems);

  const replicas = spec.replicas.map((r, i): ReplicaNode => {
    const at = `replicas[${i}]`;
    return {
      ...check.node(r, at),
      httpPort: check.port(r.httpPort ?? TOPOLOGY_DEFAULTS.replicaHttpPort, `${at}.httpPort`),
      rpcPort: check.port(r.rpcPort ?? TOPOLOGY_DEFAULTS.replicaRpcPort, `${at}.rpcPort`),
      udpPort: r.udpPort === undefined ? undefined : check.port(r.udpPort, `${at}.udpPort`),
    };
  });
  const relays = spec.relays.map((r, i): RelayNode => {
    const at = `relays[${i}]`;
    const spoolDir = r.spoolDir ?? `${RELAY_DEFAULTS.spoolRoot}/${r.name}`;
    if (!spoolDir.startsWith("/")) problems.push(`${at}.spoolDir must be an absolute path, not "${spoolDir}"`);
    return {
      ...check.node(r, at),
      httpPort: check.port(r.httpPort ?? TOPOLOGY_DEFAULTS.relayHttpPort, `${at}.httpPort`),
      udpPort: r.udpPort === undefined ? undefined : check.port(r.udpPort, `${at}.udpPort`),
      spoolDir,
    };
  });
  const loadBalancers = spec.loadBalancers.map((lb, i): LoadBalancerNode => {
    const at = `loadBalancers[${i}]`;
    return {
      ...check.node(lb, at),
      port: check.port(lb.port ?? TOPOLOGY_DEFAULTS.loadBalancerPort, `${at}.port`),
      statsPort: check.port(lb.statsPort ?? TOPOLOGY_DEFAULTS.statsPort, `${at}.statsPort`),
    };
  });

  if (replicas.length < MIN_REPLICAS) {
    problems.push(`replicas: at least ${MIN_REPLICAS} are needed (high availability needs two copies of the data), not ${replicas.length}`);
  }
  if (relays.length < MIN_RELAYS) {
    problems.push(`relays: at least ${MIN_RELAYS} are needed (one relay is a single point of failure for writes), not ${relays.length}`);
  }
  if (loadBalancers.length < 1) problems.push("loadBalancers: at least one is needed");

  checkUniqueNames([...replicas, ...relays, ...loadBalancers], problems);
  checkPortClashes(replicas, relays, loadBalancers, problems);
  checkSpoolDirs(relays, problems);
  const databases = checkDatabases(spec, problems);
  const udpDatabase = checkUdp(spec, replicas, relays, problems);
  const queue = buildQueue(spec.queue ?? {}, check);
  const loadBalancer = buildLoadBalancerSettings(spec.loadBalancer ?? {}, check);
  if (loadBalancer.writeTimeoutMs <= queue.outputTimeoutMs) {
    problems.push(
      `loadBalancer.writeTimeout (${loadBalancer.writeTimeoutMs} ms) must be longer than queue.outputTimeout (${queue.outputTimeoutMs} ms): ` +
        "otherwise HAProxy gives up on a write the relays are still delivering, and the client's retry duplicates it",
    );
  }
  const stats = buildStats(spec.stats, problems);
  // The problem never quotes the token: it is a secret.
  if (!RELAY_ADMIN_TOKEN.test(spec.relayAdminToken)) problems.push(`relayAdminToken must be ${RELAY_ADMIN_TOKEN_RULE}`);
  const tls = spec.tls === undefined ? undefined : { certificatePath: spec.tls.certificatePath };
  if (tls && !tls.certificatePath.startsWith("/")) {
    problems.push(`tls.certificatePath must be an absolute path, not "${tls.certificatePath}"`);
  }

  if (problems.length > 0) throw new TopologyError(problems);
  return deepFreeze({
    databases,
    udpDatabase,
    replicas,
    relays,
    loadBalancers,
    queue,
    loadBalancer,
    stats,
    relayAdminToken: spec.relayAdminToken,
    tls,
  });
}

class Checker {
  constructor(private readonly problems: string[]) {}

  node(spec: NodeSpec, at: string): NodeAddress {
    if (!DNS_LABEL.test(spec.name)) {
      this.problems.push(`${at}.name "${spec.name}" must be a DNS label: lower-case letters, digits and "-", at most 63`);
    }
    const bindAddress = spec.bindAddress ?? TOPOLOGY_DEFAULTS.bindAddress;
    for (const [key, value] of [
      ["address", spec.address],
      ["bindAddress", bindAddress],
    ] as const) {
      if (!HOST.test(value)) this.problems.push(`${at}.${key} must be a host name or an IP address, not "${value}"`);
    }
    return { name: spec.name, address: spec.address, bindAddress };
  }

  port(value: number, at: string): number {
    if (!Number.isInteger(value) || value < 1 || value > MAX_PORT) {
      this.problems.push(`${at} must be a whole number from 1 to ${MAX_PORT}, not ${value}`);
    }
    return value;
  }

  positiveInteger(value: number, at: string, min = 1): number {
    if (!Number.isInteger(value) || value < min) this.problems.push(`${at} must be a whole number of at least ${min}, not ${value}`);
    return value;
  }

  duration(text: string, at: string): number {
    const ms = parseGoDuration(text);
    if (ms === undefined || ms <= 0) {
      this.problems.push(`${at} must be a positive duration such as "10s", "5m" or "24h", not "${text}"`);
      return 0;
    }
    return ms;
  }

  oneOf<T extends string>(value: string, allowed: readonly T[], at: string): T {
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${at} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, not "${value}"`);
    }
    return value as T;
  }
}

function checkUniqueNames(nodes: readonly NodeAddress[], problems: string[]): void {
  const seen = new Set<string>();
  for (const { name } of nodes) {
    if (seen.has(name)) problems.push(`node name "${name}" is used twice; every replica, relay and load balancer needs its own`);
    seen.add(name);
  }
}

interface PortUse {
  readonly address: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly what: string;
}

/** Nodes with the same address are on one machine: no two listeners there may share a port. */
function checkPortClashes(
  replicas: readonly ReplicaNode[],
  relays: readonly RelayNode[],
  loadBalancers: readonly LoadBalancerNode[],
  problems: string[],
): void {
  const uses: PortUse[] = [];
  const use = (node: NodeAddress, protocol: PortUse["protocol"], port: number | undefined, role: string): void => {
    if (port !== undefined) uses.push({ address: node.address, protocol, port, what: `${node.name} ${role}` });
  };
  for (const r of replicas) {
    use(r, "tcp", r.httpPort, "HTTP");
    use(r, "tcp", r.rpcPort, "RPC");
    use(r, "udp", r.udpPort, "UDP");
  }
  for (const r of relays) {
    use(r, "tcp", r.httpPort, "HTTP");
    use(r, "udp", r.udpPort, "UDP");
  }
  for (const lb of loadBalancers) {
    use(lb, "tcp", lb.port, "client port");
    use(lb, "tcp", lb.statsPort, "stats port");
  }
  const owners = new Map<string, string>();
  for (const u of uses) {
    const key = `${u.address}:${u.port}/${u.protocol}`;
    const owner = owners.get(key);
    if (owner === undefined) owners.set(key, u.what);
    else problems.push(`port clash on ${key}: ${owner} and ${u.what}`);
  }
}

function checkSpoolDirs(relays: readonly RelayNode[], problems: string[]): void {
  const owners = new Map<string, string>();
  for (const r of relays) {
    const key = `${r.address}:${r.spoolDir}`;
    const owner = owners.get(key);
    if (owner === undefined) owners.set(key, r.name);
    else problems.push(`relays ${owner} and ${r.name} share the spool dir ${r.spoolDir} on ${r.address}; each needs its own`);
  }
}

function checkDatabases(spec: TopologySpec, problems: string[]): readonly string[] {
  const databases = [...new Set(spec.databases)];
  if (databases.length === 0) problems.push("databases: at least one is needed");
  for (const db of databases) {
    if (db === "" || /[\x00-\x1f\x7f]/.test(db)) problems.push(`databases: ${JSON.stringify(db)} is not a usable database name`);
  }
  return databases;
}

function checkUdp(
  spec: TopologySpec,
  replicas: readonly ReplicaNode[],
  relays: readonly RelayNode[],
  problems: string[],
): string | undefined {
  const relaysWithUdp = relays.filter((r) => r.udpPort !== undefined);
  const replicasWithUdp = replicas.filter((r) => r.udpPort !== undefined);
  const anyUdp = relaysWithUdp.length > 0 || replicasWithUdp.length > 0;
  if (!anyUdp) {
    if (spec.udpDatabase !== undefined) problems.push("udpDatabase is set but no node has a udpPort");
    return undefined;
  }
  if (relaysWithUdp.length !== relays.length || replicasWithUdp.length !== replicas.length) {
    problems.push("udpPort must be set on every relay and every replica, or on none (a relay's UDP output goes to every replica)");
  }
  if (spec.udpDatabase === undefined)
    problems.push("udpDatabase is needed when the nodes have UDP ports: the replicas' UDP listeners write into it");
  else if (!spec.databases.includes(spec.udpDatabase)) problems.push(`udpDatabase "${spec.udpDatabase}" must be one of databases`);
  return spec.udpDatabase;
}

function buildQueue(spec: QueueSpec, check: Checker): QueueSettings {
  const d = { ...TOPOLOGY_DEFAULTS.queue, ...spec };
  return {
    ack: check.oneOf(d.ack, ACK_LEVELS, "queue.ack"),
    fsync: check.oneOf(d.fsync, FSYNC_POLICIES, "queue.fsync"),
    fsyncIntervalMs: check.duration(d.fsyncInterval, "queue.fsyncInterval"),
    bufferSizeMb: check.positiveInteger(d.bufferSizeMb, "queue.bufferSizeMb", 0),
    maxQueueAgeMs: check.duration(d.maxQueueAge, "queue.maxQueueAge"),
    maxBatchKb: check.positiveInteger(d.maxBatchKb, "queue.maxBatchKb"),
    maxDelayIntervalMs: check.duration(d.maxDelayInterval, "queue.maxDelayInterval"),
    outputTimeoutMs: check.duration(d.outputTimeout, "queue.outputTimeout"),
  };
}

function buildLoadBalancerSettings(spec: LoadBalancerSettingsSpec, check: Checker): LoadBalancerSettings {
  const d = { ...TOPOLOGY_DEFAULTS.loadBalancer, ...spec };
  return {
    maxConnections: check.positiveInteger(d.maxConnections, "loadBalancer.maxConnections"),
    relayMaxConnections: check.positiveInteger(d.relayMaxConnections, "loadBalancer.relayMaxConnections"),
    connectTimeoutMs: check.duration(d.connectTimeout, "loadBalancer.connectTimeout"),
    clientTimeoutMs: check.duration(d.clientTimeout, "loadBalancer.clientTimeout"),
    writeTimeoutMs: check.duration(d.writeTimeout, "loadBalancer.writeTimeout"),
    queryTimeoutMs: check.duration(d.queryTimeout, "loadBalancer.queryTimeout"),
    checkIntervalMs: check.duration(d.checkInterval, "loadBalancer.checkInterval"),
    checkFall: check.positiveInteger(d.checkFall, "loadBalancer.checkFall"),
    checkRise: check.positiveInteger(d.checkRise, "loadBalancer.checkRise"),
  };
}

function buildStats(spec: TopologySpec["stats"], problems: string[]): StatsAuth {
  const user = spec.user ?? TOPOLOGY_DEFAULTS.statsUser;
  if (!STATS_USER.test(user)) problems.push(`stats.user must be letters, digits, ".", "_" or "-", not "${user}"`);
  if (spec.password.length < MIN_STATS_PASSWORD || !STATS_PASSWORD.test(spec.password)) {
    problems.push(`stats.password must be at least ${MIN_STATS_PASSWORD} printable ASCII characters without spaces or single quotes`);
  }
  return { user, password: spec.password };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
