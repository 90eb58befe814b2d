// The local layout as data: every port, directory and file of `npm start`, and the relay's config
// text. Pure: nothing here touches the file system, the network or the environment.
//
// Port plan, all on 127.0.0.1, from the client port P (8086 by default):
//   P             relay HTTP write endpoint: the port clients use (HAProxy will take it later)
//   P+3           relay UDP listener (8089 by default, InfluxDB's usual UDP port)
//   P+100+10*i    influxd replica i (0-based): HTTP
//   P+101+10*i    influxd replica i: RPC (influxd's bind-address, backup/restore)
//   P+102+10*i    influxd replica i: UDP
// So with the defaults: relay 8086 and 8089/udp, influxd-0 8186, 8187, 8188/udp, influxd-1 8196, 8197, 8198/udp.
// P+2 (8088, influxd's default RPC port) is left alone on purpose.
import { isAbsolute, join } from "node:path";

export const HOST = "127.0.0.1";
export const DEFAULT_PORT = 8086;
export const DEFAULT_REPLICAS = 2;
export const DEFAULT_DATABASES: readonly string[] = ["telegraf"];
export const MIN_REPLICAS = 2;
export const MAX_PORT = 65_535;

/** Offsets from the client port P; see the port plan above. */
export const PORT_OFFSETS = {
  relayUdp: 3,
  replicaBase: 100,
  replicaStride: 10,
  replicaHttp: 0,
  replicaRpc: 1,
  replicaUdp: 2,
} as const;

/** The relay's timeout for each write to a replica. */
export const OUTPUT_TIMEOUT = "10s";

export interface LocalOptions {
  /** Client port P. */
  readonly port: number;
  readonly replicas: number;
  /** Absolute path of the run dir. */
  readonly runDir: string;
  /** Created on every replica; the first one is also the UDP database. */
  readonly databases: readonly string[];
}

export interface ReplicaPlan {
  readonly index: number;
  /** influxd-<index>, also its directory name and its output name in the relay config. */
  readonly name: string;
  readonly dir: string;
  readonly httpPort: number;
  readonly rpcPort: number;
  readonly udpPort: number;
  /** http://127.0.0.1:<httpPort> */
  readonly url: string;
  readonly writeUrl: string;
  readonly logPath: string;
}

export interface RelayPlan {
  readonly dir: string;
  readonly httpPort: number;
  readonly udpPort: number;
  /** http://127.0.0.1:<httpPort> */
  readonly url: string;
  readonly configPath: string;
  readonly logPath: string;
  /** Contents of relay.toml (influxdb-relay's format). */
  readonly toml: string;
}

export interface LocalPlan {
  readonly host: typeof HOST;
  readonly runDir: string;
  /** Holds the pid of the `npm start` that owns the run dir. */
  readonly lockPath: string;
  /** Where clients write: http://127.0.0.1:P */
  readonly clientUrl: string;
  readonly databases: readonly string[];
  /** Database the influxd UDP listeners write into: the first of `databases`. */
  readonly udpDatabase: string;
  readonly relay: RelayPlan;
  readonly replicas: readonly ReplicaPlan[];
  /** Every TCP port the layout binds, ascending. */
  readonly tcpPorts: readonly number[];
  /** Every UDP port the layout binds, ascending. */
  readonly udpPorts: readonly number[];
}

/** A value no layout can be made of; its message names the flag to change. */
export class PlanError extends Error {
  override readonly name = "PlanError";
}

export function planLocalLayout(options: LocalOptions): LocalPlan {
  const { port, replicas: count, runDir } = options;
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) {
    throw new PlanError(`--port must be a whole number from 1 to ${MAX_PORT}, not ${port}`);
  }
  if (!Number.isInteger(count) || count < MIN_REPLICAS) {
    throw new PlanError(`--replicas must be a whole number of at least ${MIN_REPLICAS} (high availability needs two copies), not ${count}`);
  }
  if (!isAbsolute(runDir)) throw new PlanError(`the run dir must be an absolute path, not "${runDir}"`);
  const databases = [...new Set(options.databases)];
  const udpDatabase = databases[0];
  if (udpDatabase === undefined) throw new PlanError("at least one --db is needed");
  if (databases.some((db) => db === "")) throw new PlanError("--db needs a database name");

  const highest = replicaPort(port, count - 1, PORT_OFFSETS.replicaUdp);
  if (highest > MAX_PORT) {
    throw new PlanError(
      `--port ${port} with ${count} replicas needs ports up to ${highest}, above ${MAX_PORT}: choose a lower --port or fewer --replicas`,
    );
  }

  const replicas = Array.from({ length: count }, (_, index): ReplicaPlan => {
    const name = `influxd-${index}`;
    const dir = join(runDir, name);
    const httpPort = replicaPort(port, index, PORT_OFFSETS.replicaHttp);
    const url = `http://${HOST}:${httpPort}`;
    return {
      index,
      name,
      dir,
      httpPort,
      rpcPort: replicaPort(port, index, PORT_OFFSETS.replicaRpc),
      udpPort: replicaPort(port, index, PORT_OFFSETS.replicaUdp),
      url,
      writeUrl: `${url}/write`,
      logPath: join(dir, "influxd.log"),
    };
  });

  const relayDir = join(runDir, "relay");
  const relayUdpPort = port + PORT_OFFSETS.relayUdp;
  const relay: RelayPlan = {
    dir: relayDir,
    httpPort: port,
    udpPort: relayUdpPort,
    url: `http://${HOST}:${port}`,
    configPath: join(relayDir, "relay.toml"),
    logPath: join(relayDir, "relay.log"),
    toml: renderRelayToml(port, relayUdpPort, join(relayDir, "spool"), replicas),
  };

  const ascending = (ports: number[]): number[] => ports.sort((a, b) => a - b);
  return {
    host: HOST,
    runDir,
    lockPath: join(runDir, "local.lock"),
    clientUrl: relay.url,
    databases,
    udpDatabase,
    relay,
    replicas,
    tcpPorts: ascending([port, ...replicas.flatMap((r) => [r.httpPort, r.rpcPort])]),
    udpPorts: ascending([relayUdpPort, ...replicas.map((r) => r.udpPort)]),
  };
}

/** relay.toml: one [[http]] and one [[udp]] listener, each with one output per replica. */
export function renderRelayToml(httpPort: number, udpPort: number, spoolDir: string, replicas: readonly ReplicaPlan[]): string {
  const s = (v: string): string => JSON.stringify(v); // JSON strings are valid TOML basic strings
  const lines = [
    "# Written by influx-ha's local layout (npm start) on every start; edits are overwritten.",
    "",
    "[[http]]",
    'name = "local-http"',
    `bind-addr = ${s(`${HOST}:${httpPort}`)}`,
    `spool-dir = ${s(spoolDir)}`,
    "output = [",
    ...replicas.map((r) => `  { name = ${s(r.name)}, location = ${s(r.writeUrl)}, timeout = ${s(OUTPUT_TIMEOUT)} },`),
    "]",
    "",
    "[[udp]]",
    'name = "local-udp"',
    `bind-addr = ${s(`${HOST}:${udpPort}`)}`,
    "output = [",
    ...replicas.map((r) => `  { name = ${s(r.name)}, location = ${s(`${HOST}:${r.udpPort}`)} },`),
    "]",
  ];
  return lines.join("\n") + "\n";
}

function replicaPort(port: number, index: number, offset: number): number {
  return port + PORT_OFFSETS.replicaBase + PORT_OFFSETS.replicaStride * index + offset;
}
