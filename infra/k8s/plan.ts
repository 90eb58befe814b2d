// The Kubernetes workload, planned as plain data: the topology every renderer reads, the names the pods
// reach each other by, where the pods may run, and the rendered files their ConfigMaps and Secrets hold.
// Pure: the components in this folder only turn it into objects.
//
// Each replica and each relay gets its own ClusterIP Service. Its address never changes when the pod is
// rescheduled, so the relays' UDP sockets (connected once, at start) keep working; and it routes only to
// a ready pod, which HAProxy's checks then see. HAProxy follows the Services' DNS names at run time.
//
// With prometheusNamespace, the plan also says how Prometheus scrapes the relays and HAProxy: the
// contents of the Prometheus Operator's objects, or the prometheus.io/* pod annotations.
import { createHash, X509Certificate } from "node:crypto";
import type { KubernetesConfig, PrometheusConfig, StackConfig } from "../config.js";
import { clientScheme, renderHaproxyConfig } from "../../haproxy/render.js";
import { createDatabasesStatement } from "../../influxdb/influxql.js";
import { renderReplicaConfig } from "../../influxdb/render-config.js";
import { renderRelayConfig } from "../../relay/render-config.js";
import { DEFAULTS as RELAY_DEFAULTS } from "../../relay/defaults.js";
import { buildTopology } from "../../topology/build.js";
import type { Topology } from "../../topology/model.js";

/** Container ports. Every pod has its own network namespace, so HAProxy keeps InfluxDB's 8086. */
export const K8S_PORTS = {
  influxdbHttp: 8086,
  influxdbRpc: 8088,
  influxdbUdp: 8089,
  relayHttp: 9096,
  haproxy: 8086,
  stats: 8404,
} as const;

export type Component = "influxdb" | "relay" | "haproxy" | "bootstrap";

/** The InfluxDB pool's node label and taint on AKS; the pods tolerate the taint on any cluster. */
export const DEDICATED_POOL = { key: "influx-ha/pool", value: "influxdb" } as const;

/** Where things sit inside the containers. */
export const PATHS = {
  influxdbData: "/var/lib/influxdb",
  influxdbConfigDir: "/etc/influxdb",
  relayConfigDir: "/etc/influx-relay",
  relaySpoolRoot: RELAY_DEFAULTS.spoolRoot,
  // The haproxy image's default command reads this file.
  haproxyConfigDir: "/usr/local/etc/haproxy",
  bootstrapDir: "/opt/influx-ha",
  bootstrapSecretDir: "/etc/influx-ha/secret",
  haproxyTlsDir: "/etc/influx-ha/tls",
} as const;

/** The key of HAProxy's PEM bundle in its TLS Secret, and so its file name under PATHS.haproxyTlsDir. */
export const TLS_PEM_KEY = "influx-ha.pem";

/** HAProxy 2.6 LTS: the version the tests run haproxy -c and the end-to-end layout with. */
export const HAPROXY_IMAGE = "haproxy:2.6";
/** The environment variable HAProxy reads the stats password from. */
export const STATS_PASSWORD_ENV = "STATS_PASSWORD";
// The uid and gid the non-root pods run as; fsGroup makes the volumes theirs.
export const POD_USER = 10_001;

export interface KubernetesPlan {
  readonly namespace: string;
  readonly topology: Topology;
  /** The StatefulSets' names; their pods are <name>-0, <name>-1, ... and each has a Service of that name. */
  readonly influxdbName: string;
  readonly relayName: string;
  readonly haproxyName: string;
  readonly influxdbConfig: string;
  /** File name (<relay pod name>.toml) → that relay's config: each pod reads its own. They hold the admin token. */
  readonly relayConfigs: Readonly<Record<string, string>>;
  readonly haproxyConfig: string;
  /** SHA-256 of haproxy.cfg, as a pod-template annotation: a new config rolls the HAProxy pods. */
  readonly haproxyConfigChecksum: string;
  /** With the stack's tlsCertificate: the PEM, and its certificate's SHA-256 fingerprint, which rolls the pods on renewal. */
  readonly tls: { readonly pem: string; readonly fingerprint: string } | undefined;
  /** Each relay's queue volume: room for every output's full queue, and a quarter more. */
  readonly relayQueueVolumeGi: number;
  /** The replicas' URLs, for the bootstrap Job. */
  readonly replicaUrls: readonly string[];
  readonly createDatabases: string;
  /** Node labels every pod must match. */
  readonly nodeSelector: Readonly<Record<string, string>>;
  /** undefined: no Prometheus is configured to reach the workload. */
  readonly monitoring: MonitoringPlan | undefined;
}

/** The job names observability/prometheus/influx-ha.rules.yml selects on (its header names them). */
export const PROMETHEUS_JOBS = { relay: "influx-relay", haproxy: "influx-haproxy" } as const;
/** The label of the monitoring Services whose value becomes their series' job (a ServiceMonitor's jobLabel). */
const PROMETHEUS_JOB_LABEL = "influx-ha/prometheus-job";
const SCRAPE_INTERVAL = "30s";
/** The keys of HAProxy's stats Secret: the stats user's credentials, also the ServiceMonitor's basic auth. */
export const STATS_SECRET_KEYS = { username: "username", password: "password" } as const;

/** Where and how Prometheus scrapes one component's pods. */
export interface ScrapeTarget {
  readonly component: "relay" | "haproxy";
  readonly job: string;
  /** The Service the operator finds the pods through; its one port is named as the pods' container port. */
  readonly serviceName: string;
  readonly portName: string;
  readonly port: number;
  readonly path: string;
  /** HAProxy's stats port speaks HTTPS when it terminates TLS (tlsCertificate). */
  readonly scheme: "http" | "https";
  /** HAProxy's exporter sits behind the stats page's basic auth; the relays' /metrics is open. */
  readonly basicAuth: boolean;
}

export interface MonitoringPlan {
  /** The workload's namespace, where the monitoring objects go. */
  readonly namespace: string;
  /** The namespace Prometheus runs in: the NetworkPolicies let its pods reach the targets' ports. */
  readonly prometheusNamespace: string;
  /** true: a PrometheusRule and ServiceMonitors; false: prometheus.io/* annotations on the pod templates. */
  readonly operator: boolean;
  /** Of the PrometheusRule and the ServiceMonitors: the workload's name, then the stack's prometheusLabels. */
  readonly labels: Readonly<Record<string, string>>;
  readonly relay: ScrapeTarget;
  readonly haproxy: ScrapeTarget;
}

export function planKubernetesWorkload(config: StackConfig, k8s: KubernetesConfig, onDedicatedPool: boolean): KubernetesPlan {
  const udp = config.udpDatabase !== undefined;
  const serviceHost = (name: string): string => serviceAddress(name, k8s);
  const names = { influxdb: "influxdb", relay: "relay", haproxy: "haproxy" } as const;
  const podNames = (base: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${base}-${i}`);

  const topology = buildTopology({
    databases: config.databases,
    ...(udp ? { udpDatabase: config.udpDatabase } : {}),
    replicas: podNames(names.influxdb, config.replicas).map((name) => ({
      name,
      address: serviceHost(name),
      httpPort: K8S_PORTS.influxdbHttp,
      rpcPort: K8S_PORTS.influxdbRpc,
      ...(udp ? { udpPort: K8S_PORTS.influxdbUdp } : {}),
    })),
    relays: podNames(names.relay, k8s.relays).map((name) => ({
      name,
      address: serviceHost(name),
      httpPort: K8S_PORTS.relayHttp,
      ...(udp ? { udpPort: config.udpPort } : {}),
    })),
    // The HAProxy pods are alike: one load balancer of the topology stands for all of them.
    loadBalancers: [{ name: names.haproxy, address: serviceHost(names.haproxy), port: K8S_PORTS.haproxy, statsPort: K8S_PORTS.stats }],
    stats: { password: config.statsPassword },
    relayAdminToken: config.relayAdminToken,
    ...(config.tlsCertificate === undefined ? {} : { tls: { certificatePath: `${PATHS.haproxyTlsDir}/${TLS_PEM_KEY}` } }),
  });

  // The replicas differ only in name and address, which influxdb.conf does not hold: one file serves all.
  // Flux on: the default image is 1.8 (an image older than 1.7 ignores the key, and answers no Flux).
  const influxdbConfig = renderReplicaConfig(topology, topology.replicas[0]!, {
    dir: PATHS.influxdbData,
    authEnabled: true,
    fluxEnabled: true,
  });
  const haproxyConfig = renderHaproxyConfig(topology, topology.loadBalancers[0]!, {
    statsPasswordEnv: STATS_PASSWORD_ENV,
    resolveAtRuntime: true,
  });
  const queueMb = topology.replicas.length * topology.queue.bufferSizeMb;

  return {
    namespace: k8s.namespace,
    topology,
    influxdbName: names.influxdb,
    relayName: names.relay,
    haproxyName: names.haproxy,
    influxdbConfig,
    relayConfigs: Object.fromEntries(topology.relays.map((relay) => [`${relay.name}.toml`, renderRelayConfig(topology, relay)])),
    haproxyConfig,
    haproxyConfigChecksum: createHash("sha256").update(haproxyConfig).digest("hex"),
    tls:
      config.tlsCertificate === undefined
        ? undefined
        : { pem: config.tlsCertificate, fingerprint: new X509Certificate(config.tlsCertificate).fingerprint256 },
    relayQueueVolumeGi: Math.max(1, Math.ceil((queueMb * 1.25) / 1024)),
    replicaUrls: topology.replicas.map((r) => `http://${r.address}:${r.httpPort}`),
    createDatabases: createDatabasesStatement(topology.databases),
    nodeSelector: onDedicatedPool ? { [DEDICATED_POOL.key]: DEDICATED_POOL.value } : k8s.nodeSelector,
    monitoring: k8s.prometheus === undefined ? undefined : planMonitoring(k8s.prometheus, k8s.namespace, topology),
  };
}

function planMonitoring(prometheus: PrometheusConfig, namespace: string, topology: Topology): MonitoringPlan {
  return {
    namespace,
    prometheusNamespace: prometheus.namespace,
    operator: prometheus.operator,
    labels: { ...prometheus.labels, "app.kubernetes.io/name": "influx-ha" },
    relay: {
      component: "relay",
      job: PROMETHEUS_JOBS.relay,
      serviceName: "relay-metrics",
      portName: "http",
      port: K8S_PORTS.relayHttp,
      path: "/metrics",
      scheme: "http",
      basicAuth: false,
    },
    haproxy: {
      component: "haproxy",
      job: PROMETHEUS_JOBS.haproxy,
      serviceName: "haproxy-stats",
      portName: "stats",
      port: K8S_PORTS.stats,
      path: "/metrics",
      scheme: clientScheme(topology),
      basicAuth: true,
    },
  };
}

/**
 * The prometheus.io/* annotations of a component's pod template: only without the operator, whose
 * ServiceMonitors would otherwise scrape the pods a second time. An annotation-following job sends no
 * credentials, so HAProxy's say where its /metrics is but not to scrape it; a job of its own does (README).
 */
export function podScrapeAnnotations(plan: KubernetesPlan, component: ScrapeTarget["component"]): Record<string, string> {
  if (plan.monitoring === undefined || plan.monitoring.operator) return {};
  const target = plan.monitoring[component];
  return {
    "prometheus.io/scrape": String(!target.basicAuth),
    "prometheus.io/port": String(target.port),
    "prometheus.io/path": target.path,
    "prometheus.io/scheme": target.scheme,
  };
}

/**
 * The Service a ServiceMonitor finds a component's pods through: headless (Prometheus reads its
 * endpoints, ready pods or not, and needs no virtual IP), labelled with the job its series get.
 */
export function metricsService(target: ScrapeTarget) {
  return {
    name: target.serviceName,
    labels: { ...componentLabels(target.component), [PROMETHEUS_JOB_LABEL]: target.job },
    spec: {
      clusterIP: "None",
      selector: componentLabels(target.component),
      ports: [{ name: target.portName, port: target.port, targetPort: target.portName, protocol: "TCP" }],
    },
  };
}

/**
 * A ServiceMonitor's spec (monitoring.coreos.com/v1) for a target: its metrics Service, that Service's
 * label as the job, the pod's name as the instance (what the alerts name). A target behind basic auth
 * reads the credentials from the stats Secret (STATS_SECRET_KEYS), named by `statsSecret`.
 */
export function serviceMonitorSpec<Name>(monitoring: MonitoringPlan, target: ScrapeTarget, statsSecret: Name) {
  const credential = (key: string) => ({ name: statsSecret, key });
  return {
    jobLabel: PROMETHEUS_JOB_LABEL,
    selector: { matchLabels: metricsService(target).labels },
    namespaceSelector: { matchNames: [monitoring.namespace] },
    endpoints: [
      {
        port: target.portName,
        path: target.path,
        scheme: target.scheme,
        interval: SCRAPE_INTERVAL,
        relabelings: [{ sourceLabels: ["__meta_kubernetes_pod_name"], targetLabel: "instance" }],
        // HAProxy's certificate names the clients' endpoint, not the pod's address Prometheus dials.
        ...(target.scheme === "https" ? { tlsConfig: { insecureSkipVerify: true } } : {}),
        ...(target.basicAuth
          ? { basicAuth: { username: credential(STATS_SECRET_KEYS.username), password: credential(STATS_SECRET_KEYS.password) } }
          : {}),
      },
    ],
  };
}

/** Azure's annotation for a load balancer inside the VNet; other clouds ignore it. */
export const AZURE_INTERNAL_LB = { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" } as const;

/** The label naming a pod's part in the layout; the policy pack reads it too. */
export const COMPONENT_LABEL = "app.kubernetes.io/component";

/** The labels that select a component's pods. */
export function componentLabels(component: Component): Record<string, string> {
  return { "app.kubernetes.io/name": "influx-ha", [COMPONENT_LABEL]: component };
}

/** A Service's full DNS name, as pods and HAProxy's resolvers look it up. */
export function serviceAddress(name: string, k8s: Pick<KubernetesConfig, "namespace" | "clusterDomain">): string {
  return `${name}.${k8s.namespace}.svc.${k8s.clusterDomain}`;
}
