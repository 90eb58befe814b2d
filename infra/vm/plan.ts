// The VM layout, planned as plain data: which node runs what on which address and zone, the topology
// every renderer reads, the NSG rules and the Azure load balancer's rules and probes. Pure: the Pulumi
// components (infra/azure/) only turn this into resources.
//
// Every node runs an InfluxDB replica, a relay and an HAProxy (seed 001's layout), so losing any one
// VM loses no function. The Azure load balancer spreads clients over the HAProxies.
import type { StackConfig, VmConfig } from "../config.js";
import { hostAddress } from "../cidr.js";
import { buildTopology } from "../../topology/build.js";
import type { LoadBalancerNode, RelayNode, ReplicaNode, Topology } from "../../topology/model.js";

/** Ports on every node. InfluxDB keeps its usual 8086; HAProxy, the clients' way in, sits beside it. */
export const VM_PORTS = {
  influxdbHttp: 8086,
  influxdbRpc: 8088,
  /** InfluxDB's UDP listener, fed by the relays' UDP outputs. */
  influxdbUdp: 8189,
  relayHttp: 9096,
  haproxy: 8180,
  stats: 8404,
  ssh: 22,
} as const;

/** HAProxy's PEM bundle (certificate, chain and key) when the stack sets tlsCertificate. */
export const TLS_CERTIFICATE_PATH = "/etc/haproxy/influx-ha.pem";
/** Node i gets the subnet's host number FIRST_NODE_HOST + i: Azure keeps .0 to .3, and .4 to .9 stay free. */
export const FIRST_NODE_HOST = 10;
/** Where the data disk is mounted: the Debian package's data directory. */
export const INFLUXDB_DATA_DIR = "/var/lib/influxdb";
/** The data disk's LUN: fixed, so cloud-init finds it at /dev/disk/azure/scsi1/lun0. */
export const DATA_DISK_LUN = 0;
/** The load balancer's private frontend, when it is internal: host 5 of the subnet (nodes start at 10). */
const INTERNAL_FRONTEND_HOST = 5;
// Azure's limits on a load-balancing rule's idle timeout.
const LB_IDLE_MINUTES = { min: 4, max: 100 } as const;

export interface VmNode {
  readonly index: number;
  /** The VM's name and host name. */
  readonly name: string;
  /** Availability zone, or undefined where the stack uses none. */
  readonly zone: string | undefined;
  readonly privateIp: string;
  readonly replica: ReplicaNode;
  readonly relay: RelayNode;
  readonly loadBalancer: LoadBalancerNode;
}

export type RuleProtocol = "Tcp" | "Udp";

/** One inbound Allow rule of the nodes' NSG. Everything not allowed falls to Azure's DenyAllInBound. */
export interface SecurityRulePlan {
  readonly name: string;
  readonly priority: number;
  readonly protocol: RuleProtocol;
  /** CIDRs or service tags ("Internet", "VirtualNetwork"). */
  readonly sources: readonly string[];
  readonly destinationPorts: readonly number[];
  readonly description: string;
}

export interface ProbePlan {
  readonly name: string;
  /** Https when HAProxy terminates TLS on the port; Azure does not check the certificate. */
  readonly protocol: "Http" | "Https";
  readonly port: number;
  /** HTTP GET path; Azure counts only a 200 as healthy. */
  readonly path: string;
}

export interface LoadBalancingRulePlan {
  readonly name: string;
  readonly protocol: RuleProtocol;
  readonly frontendPort: number;
  readonly backendPort: number;
  readonly probe: string;
}

export interface LoadBalancerPlan {
  readonly public: boolean;
  /** The internal frontend's static address; undefined when public. */
  readonly privateFrontendIp: string | undefined;
  readonly probes: readonly ProbePlan[];
  readonly rules: readonly LoadBalancingRulePlan[];
  /** Long enough for the slowest query HAProxy allows, so Azure never cuts a quiet connection first. */
  readonly idleTimeoutMinutes: number;
}

export interface VmPlan {
  readonly topology: Topology;
  readonly nodes: readonly VmNode[];
  readonly securityRules: readonly SecurityRulePlan[];
  readonly loadBalancer: LoadBalancerPlan;
}

export function planVmLayout(config: StackConfig, vm: VmConfig, statsPassword: string): VmPlan {
  const udp = config.udpDatabase !== undefined;
  const addresses = Array.from({ length: config.replicas }, (_, i) => hostAddress(vm.subnetCidr, FIRST_NODE_HOST + i));
  const topology = buildTopology({
    databases: config.databases,
    ...(udp ? { udpDatabase: config.udpDatabase } : {}),
    replicas: addresses.map((address, i) => ({
      name: `influxdb-${i}`,
      address,
      httpPort: VM_PORTS.influxdbHttp,
      rpcPort: VM_PORTS.influxdbRpc,
      ...(udp ? { udpPort: VM_PORTS.influxdbUdp } : {}),
    })),
    relays: addresses.map((address, i) => ({
      name: `relay-${i}`,
      address,
      httpPort: VM_PORTS.relayHttp,
      ...(udp ? { udpPort: config.udpPort } : {}),
    })),
    loadBalancers: addresses.map((address, i) => ({ name: `haproxy-${i}`, address, port: VM_PORTS.haproxy, statsPort: VM_PORTS.stats })),
    stats: { password: statsPassword },
    relayAdminToken: config.relayAdminToken,
    ...(config.tlsCertificate === undefined ? {} : { tls: { certificatePath: TLS_CERTIFICATE_PATH } }),
  });

  const nodes = addresses.map((privateIp, i): VmNode => ({
    index: i,
    name: `node-${i}`,
    zone: vm.zones.length === 0 ? undefined : vm.zones[i % vm.zones.length],
    privateIp,
    replica: topology.replicas[i]!,
    relay: topology.relays[i]!,
    loadBalancer: topology.loadBalancers[i]!,
  }));

  const clients = config.publicEndpoint ? "Internet" : "VirtualNetwork";
  const securityRules: SecurityRulePlan[] = [
    {
      name: "allow-clients",
      priority: 100,
      protocol: "Tcp",
      sources: [clients],
      destinationPorts: [VM_PORTS.haproxy],
      description: `Clients, through the load balancer's port ${config.clientPort}, to HAProxy`,
    },
  ];
  if (udp) {
    securityRules.push({
      name: "allow-udp-writes",
      priority: 110,
      protocol: "Udp",
      sources: [clients],
      destinationPorts: [config.udpPort],
      description: "UDP line protocol, through the load balancer, to the relays",
    });
  }
  if (vm.adminCidrs.length > 0) {
    securityRules.push({
      name: "allow-ssh-from-admins",
      priority: 120,
      protocol: "Tcp",
      sources: vm.adminCidrs,
      destinationPorts: [VM_PORTS.ssh],
      description: "SSH from the stack's adminCidrs only",
    });
  }
  // InfluxDB (from every node's relay: HAProxy never reaches it), the relays (from every HAProxy, and
  // from the other relays, their peers) and the stats page are reached only from inside the VNet, which
  // Azure's AllowVnetInBound already permits; naming them here keeps the intent visible in the portal.
  securityRules.push({
    name: "allow-vnet-services",
    priority: 200,
    protocol: "Tcp",
    sources: ["VirtualNetwork"],
    destinationPorts: [VM_PORTS.influxdbHttp, VM_PORTS.relayHttp, VM_PORTS.stats],
    description: "InfluxDB, the relays and the HAProxy stats page, from inside the VNet only",
  });

  const { loadBalancer: lb } = topology;
  const probes: ProbePlan[] = [
    { name: "haproxy", protocol: topology.tls === undefined ? "Http" : "Https", port: VM_PORTS.haproxy, path: "/health" },
  ];
  const rules: LoadBalancingRulePlan[] = [
    { name: "client", protocol: "Tcp", frontendPort: config.clientPort, backendPort: VM_PORTS.haproxy, probe: "haproxy" },
  ];
  if (udp) {
    // UDP cannot be proxied by HAProxy: it goes straight to a relay that is up.
    probes.push({ name: "relay", protocol: "Http", port: VM_PORTS.relayHttp, path: "/health" });
    rules.push({ name: "udp-writes", protocol: "Udp", frontendPort: config.udpPort, backendPort: config.udpPort, probe: "relay" });
  }
  const slowestMs = Math.max(lb.queryTimeoutMs, lb.writeTimeoutMs, lb.clientTimeoutMs);
  const idleTimeoutMinutes = Math.min(LB_IDLE_MINUTES.max, Math.max(LB_IDLE_MINUTES.min, Math.ceil(slowestMs / 60_000) + 1));

  return {
    topology,
    nodes,
    securityRules,
    loadBalancer: {
      public: config.publicEndpoint,
      privateFrontendIp: config.publicEndpoint ? undefined : hostAddress(vm.subnetCidr, INTERNAL_FRONTEND_HOST),
      probes,
      rules,
      idleTimeoutMinutes,
    },
  };
}
