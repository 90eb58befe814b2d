// The HA layout as one typed, immutable value: every renderer (relay.toml, haproxy.cfg, and later
// cloud-init and the Kubernetes objects) and every target (local, VMs, AKS) reads it and nothing else.
// buildTopology (build.ts) is the only way to make one, so a Topology is always valid.
import type { AckLevel } from "../relay/ack.js";
import type { FsyncPolicy } from "../relay/defaults.js";

/** Where a process runs and listens. Nodes with the same address share one port space. */
export interface NodeAddress {
  /** Unique among all nodes; a DNS label (used as server, output and object name). */
  readonly name: string;
  /** How the other nodes reach it: an IP, a DNS name, or 127.0.0.1 on one machine. */
  readonly address: string;
  /** The address it binds: 0.0.0.0 on its own machine, 127.0.0.1 when everything shares one. */
  readonly bindAddress: string;
}

/** One InfluxDB 1.x server holding a full copy of the data. */
export interface ReplicaNode extends NodeAddress {
  readonly httpPort: number;
  /** influxd's top-level bind-address: backup/restore. */
  readonly rpcPort: number;
  /** influxd's [[udp]] listener, fed by the relays' UDP outputs; present on every replica or none. */
  readonly udpPort: number | undefined;
}

/**
 * One of our relays: it writes every point to every replica and queues what a replica missed, answers
 * queries from one replica that is in sync, and learns from the other relays (its peers) which one is behind.
 */
export interface RelayNode extends NodeAddress {
  readonly httpPort: number;
  readonly udpPort: number | undefined;
  /** Absolute path of the relay's durable queues on its machine. */
  readonly spoolDir: string;
}

/** One HAProxy: every client request to the relays (never to a replica), a stats page on its own port. */
export interface LoadBalancerNode extends NodeAddress {
  /** The client port (HTTP, or HTTPS with tls). */
  readonly port: number;
  /** Stats page and the Prometheus exporter (/metrics), behind the stats credentials. */
  readonly statsPort: number;
}

/** How each relay answers and keeps what a replica missed (the relay config's keys, README "Relay config"). */
export interface QueueSettings {
  readonly ack: AckLevel;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** Per output, MiB on disk; 0 keeps no queue. */
  readonly bufferSizeMb: number;
  readonly maxQueueAgeMs: number;
  readonly maxBatchKb: number;
  readonly maxDelayIntervalMs: number;
  /** Timeout of each write to a replica. */
  readonly outputTimeoutMs: number;
}

export interface StatsAuth {
  readonly user: string;
  readonly password: string;
}

export interface TlsSettings {
  /** PEM holding the certificate chain and its private key, on each load balancer's machine. */
  readonly certificatePath: string;
}

export interface LoadBalancerSettings {
  /** Concurrent client connections per load balancer. */
  readonly maxConnections: number;
  /**
   * Requests each load balancer has open at once on one relay. More wait in HAProxy's queue for up to
   * connectTimeoutMs (its `timeout queue`), then get 503; the relay's own limits are the relay config's.
   */
  readonly relayMaxConnections: number;
  readonly connectTimeoutMs: number;
  /** Idle time allowed on the client side, mid-request or mid-response. */
  readonly clientTimeoutMs: number;
  /** Time the relays get to answer a write (they wait for every replica, each up to outputTimeoutMs). */
  readonly writeTimeoutMs: number;
  /**
   * Time the relays get to answer a query (from a replica, which may take minutes). HAProxy's relays
   * backend allows the longer of this and writeTimeoutMs.
   */
  readonly queryTimeoutMs: number;
  /** Health checks: every checkIntervalMs; down after checkFall failures, up after checkRise successes. */
  readonly checkIntervalMs: number;
  readonly checkFall: number;
  readonly checkRise: number;
}

export interface Topology {
  /** Created on every replica. */
  readonly databases: readonly string[];
  /** Database of the replicas' UDP listeners; set exactly when the nodes have UDP ports. */
  readonly udpDatabase: string | undefined;
  readonly replicas: readonly ReplicaNode[];
  readonly relays: readonly RelayNode[];
  readonly loadBalancers: readonly LoadBalancerNode[];
  readonly queue: QueueSettings;
  readonly loadBalancer: LoadBalancerSettings;
  readonly stats: StatsAuth;
  /**
   * Every relay's admin-token, one for all: the Bearer token of their POST /admin/flush and /admin/mark-in-sync
   * (influx-ha repair calls the latter on every relay). A secret, kept wherever the stats password is.
   */
  readonly relayAdminToken: string;
  /** TLS termination on the load balancers' client port; undefined: plain HTTP. */
  readonly tls: TlsSettings | undefined;
}
