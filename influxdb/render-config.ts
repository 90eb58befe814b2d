// influxd.conf (InfluxDB 1.x) for one replica: the local layout's influxd processes and the VMs'
// and Kubernetes' InfluxDB all get theirs from here. Pure. Every replica runs its continuous queries
// (created on all of them through the relays) on its own copy of the data; Flux is on where the
// version has it (1.8 on the VMs and in Kubernetes), which the callers say.
import { join } from "node:path";
import { formatHostPort } from "../relay/config.js";
import type { ReplicaNode, Topology } from "../topology/model.js";

const LOOPBACK = "127.0.0.1";

export interface InfluxdUdpOptions {
  readonly port: number;
  /** Database the [[udp]] listener writes into; start() creates it. */
  readonly database: string;
  /** "n" (influxd's default), "u", "ms", "s", "m" or "h". */
  readonly precision?: string;
}

export interface InfluxdConfigOptions {
  /** Holds meta/, data/ and wal/; the rendered config refers to them by absolute path. */
  readonly dir: string;
  /** Address of the HTTP and UDP listeners: 127.0.0.1 locally, 0.0.0.0 on a VM. */
  readonly bindAddress: string;
  readonly httpPort: number;
  /** influxd's top-level bind-address, the RPC port of backup/restore: always on 127.0.0.1, as it has no auth. */
  readonly rpcPort: number;
  /** [http] auth-enabled: every request but /ping needs a user (the VMs and Kubernetes turn it on). */
  readonly authEnabled: boolean;
  /**
   * [http] flux-enabled: /api/v2/query answers Flux (a preview in InfluxDB 1.7, supported from 1.8; the VMs
   * and Kubernetes turn it on). Not rendered unless true: 1.6 (the local layout's) has no Flux and passes
   * over the key without a word, so writing it there would only mislead.
   */
  readonly fluxEnabled?: boolean;
  readonly udp?: InfluxdUdpOptions;
}

/** influxd.conf for a server that keeps everything under `dir`. */
export function renderInfluxdConfig(opts: InfluxdConfigOptions): string {
  const s = (v: string): string => JSON.stringify(v); // JSON strings are valid TOML basic strings
  const lines = [
    "reporting-disabled = true",
    // Backup/restore has no authentication: it is run on the machine itself.
    `bind-address = ${s(`${LOOPBACK}:${opts.rpcPort}`)}`,
    "",
    "[meta]",
    `  dir = ${s(join(opts.dir, "meta"))}`,
    "",
    "[data]",
    `  dir = ${s(join(opts.dir, "data"))}`,
    `  wal-dir = ${s(join(opts.dir, "wal"))}`,
    "  query-log-enabled = false",
    "",
    "[http]",
    "  enabled = true",
    `  bind-address = ${s(formatHostPort({ host: opts.bindAddress, port: opts.httpPort }))}`,
    `  auth-enabled = ${opts.authEnabled}`,
    ...(opts.fluxEnabled === true ? ["  flux-enabled = true"] : []),
    "  log-enabled = false",
    "",
    "[monitor]",
    "  store-enabled = false",
    "",
    // The relays create a continuous query on every replica; each runs it over its own copy of the data.
    "[continuous_queries]",
    "  enabled = true",
  ];
  if (opts.udp !== undefined) {
    lines.push(
      "",
      "[[udp]]",
      "  enabled = true",
      `  bind-address = ${s(formatHostPort({ host: opts.bindAddress, port: opts.udp.port }))}`,
      `  database = ${s(opts.udp.database)}`,
      // Flush every datagram at once: UDP points are visible without delay.
      "  batch-size = 1",
      '  batch-timeout = "10ms"',
    );
    if (opts.udp.precision !== undefined) lines.push(`  precision = ${s(opts.udp.precision)}`);
  }
  return lines.join("\n") + "\n";
}

/** influxd.conf of one replica of a topology, its UDP listener writing into the topology's UDP database. */
export function renderReplicaConfig(
  topology: Topology,
  replica: ReplicaNode,
  opts: { readonly dir: string; readonly authEnabled: boolean; readonly fluxEnabled: boolean },
): string {
  return renderInfluxdConfig({
    dir: opts.dir,
    bindAddress: replica.bindAddress,
    httpPort: replica.httpPort,
    rpcPort: replica.rpcPort,
    authEnabled: opts.authEnabled,
    fluxEnabled: opts.fluxEnabled,
    ...(replica.udpPort !== undefined && topology.udpDatabase !== undefined
      ? { udp: { port: replica.udpPort, database: topology.udpDatabase } }
      : {}),
  });
}
