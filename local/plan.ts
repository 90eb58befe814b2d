// The local layout as data: the topology of `npm start` on 127.0.0.1, plus where each process keeps
// its config, data and log, and the rendered relay.toml and haproxy.cfg. Pure: nothing here touches
// the file system, the network or the environment.
//
// Port plan, all on 127.0.0.1, from the client port P (8086 by default):
//   P             HAProxy: the port clients use (writes and queries go to the relays; a query reads one replica)
//   P+4           HAProxy stats page and Prometheus /metrics (8090 by default)
//   P+3+10*j      relay j (0-based): UDP (8089, InfluxDB's usual UDP port, and 8099 by default)
//   P+50+10*j     relay j: HTTP
//   P+100+10*i    influxd replica i (0-based): HTTP
//   P+101+10*i    influxd replica i: RPC (influxd's bind-address, backup/restore)
//   P+102+10*i    influxd replica i: UDP
// P+2 (8088, influxd's default RPC port) is left alone on purpose.
import { isAbsolute, join } from "node:path";
import { renderHaproxyConfig } from "../haproxy/render.js";
import { renderRelayConfig } from "../relay/render-config.js";
import { MIN_REPLICAS, TopologyError, buildTopology, type QueueSpec } from "../topology/build.js";
import type { Topology } from "../topology/model.js";

export const HOST = "127.0.0.1";
export const DEFAULT_PORT = 8086;
export const DEFAULT_REPLICAS = 2;
export const DEFAULT_DATABASES: readonly string[] = ["telegraf"];
/** Two relays: HAProxy sends writes to the other while one is down or restarting (--watch). */
const LOCAL_RELAYS = 2;
const MAX_PORT = 65_535;

/** Offsets from the client port P; see the port plan above. */
export const PORT_OFFSETS = {
  stats: 4,
  relayUdp: 3,
  relayHttp: 50,
  relayStride: 10,
  replicaBase: 100,
  replicaStride: 10,
  replicaHttp: 0,
  replicaRpc: 1,
  replicaUdp: 2,
} as const;

export interface LocalOptions {
  /** Client port P. */
  readonly port: number;
  readonly replicas: number;
  /** Absolute path of the run dir. */
  readonly runDir: string;
  /** Created on every replica; the first one is also the UDP database. */
  readonly databases: readonly string[];
  /** Restart the relays when their sources change. */
  readonly watch: boolean;
  /** The relays' queue bounds and ack level; the topology's defaults when absent (npm start has no flag: tests and the soak set them). */
  readonly queue?: QueueSpec;
}

export interface ReplicaPlan {
  /** influxd-<i>: also its directory name and its name in relay.toml and haproxy.cfg. */
  readonly name: string;
  readonly dir: string;
  readonly httpPort: number;
  readonly rpcPort: number;
  readonly udpPort: number;
  /** http://127.0.0.1:<httpPort> */
  readonly url: string;
  readonly logPath: string;
}

export interface RelayPlan {
  /** relay-<j> */
  readonly name: string;
  readonly dir: string;
  readonly httpPort: number;
  readonly udpPort: number;
  /** http://127.0.0.1:<httpPort> */
  readonly url: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly toml: string;
}

export interface HaproxyPlan {
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly cfg: string;
  /** http://127.0.0.1:P+4/ */
  readonly statsUrl: string;
}

export interface LocalPlan {
  readonly host: typeof HOST;
  readonly runDir: string;
  /** Holds the pid of the `npm start` that owns the run dir. */
  readonly lockPath: string;
  /** Where clients write and query: http://127.0.0.1:P, HAProxy. */
  readonly clientUrl: string;
  readonly watch: boolean;
  readonly topology: Topology;
  readonly replicas: readonly ReplicaPlan[];
  readonly relays: readonly RelayPlan[];
  readonly haproxy: HaproxyPlan;
  /** Every TCP port the layout binds, ascending. */
  readonly tcpPorts: readonly number[];
  /** Every UDP port the layout binds, ascending. */
  readonly udpPorts: readonly number[];
}

/** A value no layout can be made of; its message names the flag to change. */
export class PlanError extends Error {
  override readonly name = "PlanError";
}

/** The layout's secrets: made up on the first start, then kept in the run dir for the next ones (main.ts). */
export interface LocalSecrets {
  /** HAProxy's stats page, user admin. */
  readonly statsPassword: string;
  /** Both relays' admin-token: the Bearer token of their /admin endpoints. */
  readonly relayAdminToken: string;
}

/** Where the stats password lives. */
export function statsPasswordPath(runDir: string): string {
  return join(runDir, "haproxy", "stats-password");
}

/** Where the relays' admin token lives; influx-ha repair reads it from their relay.toml. */
export function relayAdminTokenPath(runDir: string): string {
  return join(runDir, "relay-admin-token");
}

export function planLocalLayout(options: LocalOptions, secrets: LocalSecrets): LocalPlan {
  const { port, replicas: count, runDir } = options;
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) {
    throw new PlanError(`--port must be a whole number from 1 to ${MAX_PORT}, not ${port}`);
  }
  if (!Number.isInteger(count) || count < MIN_REPLICAS) {
    throw new PlanError(`--replicas must be a whole number of at least ${MIN_REPLICAS} (high availability needs two copies), not ${count}`);
  }
  if (!isAbsolute(runDir)) throw new PlanError(`the run dir must be an absolute path, not "${runDir}"`);
  if (options.databases.length === 0) throw new PlanError("at least one --db is needed");
  const highest = replicaPort(port, count - 1, PORT_OFFSETS.replicaUdp);
  if (highest > MAX_PORT) {
    throw new PlanError(
      `--port ${port} with ${count} replicas needs ports up to ${highest}, above ${MAX_PORT}: choose a lower --port or fewer --replicas`,
    );
  }

  const onThisMachine = { address: HOST, bindAddress: HOST };
  let topology: Topology;
  try {
    topology = buildTopology({
      databases: options.databases,
      udpDatabase: options.databases[0],
      replicas: Array.from({ length: count }, (_, i) => ({
        name: `influxd-${i}`,
        ...onThisMachine,
        httpPort: replicaPort(port, i, PORT_OFFSETS.replicaHttp),
        rpcPort: replicaPort(port, i, PORT_OFFSETS.replicaRpc),
        udpPort: replicaPort(port, i, PORT_OFFSETS.replicaUdp),
      })),
      relays: Array.from({ length: LOCAL_RELAYS }, (_, j) => ({
        name: `relay-${j}`,
        ...onThisMachine,
        httpPort: port + PORT_OFFSETS.relayHttp + PORT_OFFSETS.relayStride * j,
        udpPort: port + PORT_OFFSETS.relayUdp + PORT_OFFSETS.relayStride * j,
        spoolDir: join(runDir, `relay-${j}`, "spool"),
      })),
      loadBalancers: [{ name: "haproxy", ...onThisMachine, port, statsPort: port + PORT_OFFSETS.stats }],
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      stats: { password: secrets.statsPassword },
      relayAdminToken: secrets.relayAdminToken,
    });
  } catch (err) {
    // The flags were checked above, so what is left comes from the values themselves (e.g. a --db name).
    if (err instanceof TopologyError) throw new PlanError(err.problems.join("; "));
    throw err;
  }

  const url = (p: number): string => `http://${HOST}:${p}`;
  const replicas = topology.replicas.map((r): ReplicaPlan => {
    const dir = join(runDir, r.name);
    return {
      name: r.name,
      dir,
      httpPort: r.httpPort,
      rpcPort: r.rpcPort,
      udpPort: r.udpPort!,
      url: url(r.httpPort),
      logPath: join(dir, "influxd.log"),
    };
  });
  const relays = topology.relays.map((r): RelayPlan => {
    const dir = join(runDir, r.name);
    return {
      name: r.name,
      dir,
      httpPort: r.httpPort,
      udpPort: r.udpPort!,
      url: url(r.httpPort),
      configPath: join(dir, "relay.toml"),
      logPath: join(dir, "relay.log"),
      toml: renderRelayConfig(topology, r),
    };
  });
  const lb = topology.loadBalancers[0]!;
  const haproxyDir = join(runDir, "haproxy");
  const haproxy: HaproxyPlan = {
    dir: haproxyDir,
    configPath: join(haproxyDir, "haproxy.cfg"),
    logPath: join(haproxyDir, "haproxy.log"),
    cfg: renderHaproxyConfig(topology, lb),
    statsUrl: `${url(lb.statsPort)}/`,
  };

  const ascending = (ports: number[]): number[] => ports.sort((a, b) => a - b);
  return {
    host: HOST,
    runDir,
    lockPath: join(runDir, "local.lock"),
    clientUrl: url(lb.port),
    watch: options.watch,
    topology,
    replicas,
    relays,
    haproxy,
    tcpPorts: ascending([lb.port, lb.statsPort, ...relays.map((r) => r.httpPort), ...replicas.flatMap((r) => [r.httpPort, r.rpcPort])]),
    udpPorts: ascending([...relays.map((r) => r.udpPort), ...replicas.map((r) => r.udpPort)]),
  };
}

function replicaPort(port: number, index: number, offset: number): number {
  return port + PORT_OFFSETS.replicaBase + PORT_OFFSETS.replicaStride * index + offset;
}
