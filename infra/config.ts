// The stack's config (Pulumi.<stack>.yaml, `influx-ha:` keys) → a checked StackConfig. Pure: it reads
// raw strings through a function, so tests need no Pulumi engine. Every problem is reported at once,
// each naming its key, and all before the program declares a single resource.
// Every key is documented in Pulumi.yaml's config block and in infra/README.md.
import { createHmac, createPrivateKey, X509Certificate } from "node:crypto";
import { MIN_REPLICAS, RELAY_ADMIN_TOKEN, RELAY_ADMIN_TOKEN_RULE, STATS_PASSWORD } from "../topology/build.js";
import { cidrContains, cidrProblem, subnetHostCount } from "./cidr.js";
import { FIRST_NODE_HOST, VM_PORTS } from "./vm/plan.js";

export const NAMESPACE = "influx-ha";
export const TARGETS = ["vm", "aks", "k8s"] as const;
export type Target = (typeof TARGETS)[number];
/** Keys whose values are set with `pulumi config set --secret`: stack files hold them only as `secure:` ciphertext. */
export const SECRET_KEYS = ["influxAdminPassword", "statsPassword", "relayAdminToken", "tlsCertificate", "kubeconfig"] as const;
export const DATA_DISK_SKUS = ["Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS"] as const;
export type DataDiskSku = (typeof DATA_DISK_SKUS)[number];
const AVAILABILITY_ZONES = ["1", "2", "3"] as const;

export interface DataDiskConfig {
  readonly sku: DataDiskSku;
  readonly sizeGb: number;
  /** Provisioned IOPS and MB/s: PremiumV2_LRS and UltraSSD_LRS only; Premium_LRS's follow from the size. */
  readonly iops: number | undefined;
  readonly mbps: number | undefined;
  /** Pulumi's `protect`: `pulumi destroy` refuses to delete the disks while it is true. */
  readonly protect: boolean;
}

export interface VmConfig {
  readonly vmSize: string;
  /** Availability zones the nodes are spread across, round robin; empty where the region has none. */
  readonly zones: readonly string[];
  readonly dataDisk: DataDiskConfig;
  /** Sources allowed to reach SSH; none by default. */
  readonly adminCidrs: readonly string[];
  readonly adminUsername: string;
  readonly sshPublicKey: string;
  readonly vnetCidr: string;
  readonly subnetCidr: string;
}

/**
 * How the clients' endpoint is protected. The program marks the load balancer (Azure) or the clients'
 * Service (Kubernetes) with it, and the policy pack (infra/policy) reads the mark:
 * - "haproxy": HAProxy terminates TLS with the stack's tlsCertificate;
 * - "opt-out": reachable from the internet in plain HTTP, as the stack's allowPlaintextPublicEndpoint says;
 * - "internal": plain HTTP, reachable only inside the VNet or cluster.
 */
export type ClientTls = "haproxy" | "opt-out" | "internal";

export const SERVICE_TYPES = ["LoadBalancer", "NodePort", "ClusterIP"] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/**
 * Prometheus scraping the workload (targets "aks" and "k8s"): the NetworkPolicies let the pods of its
 * namespace reach the relays' and HAProxy's /metrics; it finds them through the Prometheus Operator's
 * objects, or else through prometheus.io/* pod annotations.
 */
export interface PrometheusConfig {
  readonly namespace: string;
  /** true: a PrometheusRule and ServiceMonitors (the cluster has the operator's CRDs); false: pod annotations. */
  readonly operator: boolean;
  /** On the PrometheusRule and the ServiceMonitors, for the operator's selectors (e.g. release=kube-prometheus-stack). */
  readonly labels: Readonly<Record<string, string>>;
}

/** The workload on a Kubernetes cluster: targets "aks" and "k8s". */
export interface KubernetesConfig {
  readonly namespace: string;
  /** The cluster's DNS domain: the relays and HAProxy reach each replica by its Service's full name. */
  readonly clusterDomain: string;
  readonly relays: number;
  readonly haproxies: number;
  /** An existing StorageClass; undefined: the program creates a Premium_LRS class on disk.csi.azure.com. */
  readonly storageClass: string | undefined;
  /** Each replica's volume, in GiB. */
  readonly volumeSizeGb: number;
  /** Of the clients' Service (HTTP, and UDP with udpDatabase). */
  readonly serviceType: ServiceType;
  /** Labels of the nodes the workload runs on (target k8s; on aks, the InfluxDB pool's). */
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly influxdbImage: string;
  /** undefined: target aks builds it from relay/Dockerfile and pushes it to a registry it creates. */
  readonly relayImage: string | undefined;
  /** Target k8s: a kubeconfig's contents or path; undefined: the ambient one (KUBECONFIG, ~/.kube/config). */
  readonly kubeconfig: string | undefined;
  /** undefined: no Prometheus reaches the workload (prometheusNamespace unset). */
  readonly prometheus: PrometheusConfig | undefined;
}

/** The AKS cluster: target "aks". */
export interface AksConfig {
  /** undefined: AKS's default version. */
  readonly kubernetesVersion: string | undefined;
  readonly systemVmSize: string;
  readonly systemNodeCount: number;
  /** The InfluxDB pool's VM size; it must support premium storage. */
  readonly influxdbVmSize: string;
  readonly zones: readonly string[];
}

export interface StackConfig {
  readonly target: Target;
  readonly location: string;
  readonly replicas: number;
  readonly databases: readonly string[];
  /** Database of the UDP write port; undefined: no UDP (it bypasses InfluxDB's authentication). */
  readonly udpDatabase: string | undefined;
  /** Public load balancer (true) or one reachable only inside the VNet. */
  readonly publicEndpoint: boolean;
  /** The clients' port on the load balancer. */
  readonly clientPort: number;
  readonly udpPort: number;
  readonly influxAdminUser: string;
  readonly influxAdminPassword: string;
  /** PEM: the clients' certificate, its chain and its unencrypted private key; undefined: plain HTTP. */
  readonly tlsCertificate: string | undefined;
  readonly clientTls: ClientTls;
  /** The HAProxy stats page's; when not configured, derived from influxAdminPassword (see deriveStatsPassword). */
  readonly statsPassword: string;
  /** Every relay's admin-token (influx-ha repair's Bearer token); when not configured, derived from influxAdminPassword too. */
  readonly relayAdminToken: string;
  /** Present for target "vm". */
  readonly vm: VmConfig | undefined;
  /** Present for targets "aks" and "k8s". */
  readonly kubernetes: KubernetesConfig | undefined;
  /** Present for target "aks". */
  readonly aks: AksConfig | undefined;
}

export class StackConfigError extends Error {
  override readonly name = "StackConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Reads one config value by its full key ("influx-ha:replicas", "azure-native:location"); undefined when unset. */
export type ConfigReader = (fullKey: string) => string | undefined;

const DEFAULTS = {
  replicas: 2,
  vmSize: "Standard_D4s_v5",
  dataDiskSku: "Premium_LRS",
  dataDiskSizeGb: 256,
  // PremiumV2_LRS's free baseline.
  dataDiskIops: 3000,
  dataDiskMbps: 125,
  adminUsername: "influxha",
  vnetCidr: "10.42.0.0/16",
  subnetCidr: "10.42.1.0/24",
  clientPort: 8086,
  udpPort: 8089,
  influxAdminUser: "admin",
  namespace: "influx-ha",
  clusterDomain: "cluster.local",
  relays: 2,
  haproxies: 2,
  serviceType: "LoadBalancer",
  // The last 1.x image with the 1.8 data format the VMs run; Debian-based, so it has bash and curl for the Job.
  influxdbImage: "influxdb:1.8.10",
  systemVmSize: "Standard_D2s_v5",
  systemNodeCount: 2,
} as const;

const MIN_PASSWORD = 12;
const MAX_REPLICAS = 16;
// Relays and HAProxies: one is a single point of failure.
const MIN_INSTANCES = 2;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
// A label key (optional DNS prefix, then a name) and value, as Kubernetes accepts them.
const LABEL_KEY = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const IMAGE_REFERENCE = /^[a-z0-9][a-z0-9._\/:-]*[A-Za-z0-9_.-](@sha256:[a-f0-9]{64})?$/;
const KUBERNETES_VERSION = /^\d+\.\d+(\.\d+)?$/;
// Disk size limits in GiB, per SKU.
const DISK_SIZE_GB: Record<DataDiskSku, readonly [number, number]> = {
  Premium_LRS: [4, 32_767],
  PremiumV2_LRS: [1, 65_536],
  UltraSSD_LRS: [4, 65_536],
};
// Azure refuses these as a Linux VM's admin user.
const RESERVED_USERNAMES = new Set(["admin", "administrator", "root", "user", "guest", "test", "support", "sys", "adm", "backup"]);
const LINUX_USERNAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const INFLUX_USERNAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// Azure accepts RSA and Ed25519 keys for Linux VMs.
const SSH_PUBLIC_KEY = /^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;
const VM_SIZE = /^Standard_([A-Z]+)(\d+)([a-z]*)(_[A-Za-z0-9]+)*$/;

export function parseStackConfig(read: ConfigReader): StackConfig {
  const problems: string[] = [];
  const c = new Keys(read, problems);

  const target = c.oneOf("target", TARGETS, undefined);
  const location = read("azure-native:location") ?? "";
  if (location === "" && target !== "k8s")
    problems.push('azure-native:location is not set: pulumi config set azure-native:location <region>, e.g. "westeurope"');

  const replicas = c.integer("replicas", DEFAULTS.replicas, MIN_REPLICAS, MAX_REPLICAS);
  const databases = c.stringList("databases", undefined);
  if (databases.length === 0) problems.push(`${NAMESPACE}:databases must list at least one database to create, e.g. ["telegraf"]`);
  databases.forEach((db, i) => {
    if (db === "" || /[\x00-\x1f\x7f]/.test(db))
      problems.push(`${NAMESPACE}:databases[${i}] ${JSON.stringify(db)} is not a usable database name`);
  });
  const udpDatabase = c.string("udpDatabase", null);
  if (udpDatabase !== undefined && !databases.includes(udpDatabase)) {
    problems.push(`${NAMESPACE}:udpDatabase "${udpDatabase}" must be one of ${NAMESPACE}:databases`);
  }
  const clientPort = c.integer("clientPort", DEFAULTS.clientPort, 1, 65_535);
  const udpPort = c.integer("udpPort", DEFAULTS.udpPort, 1, 65_535);

  const influxAdminUser = c.string("influxAdminUser", DEFAULTS.influxAdminUser) ?? DEFAULTS.influxAdminUser;
  if (!INFLUX_USERNAME.test(influxAdminUser)) {
    problems.push(`${NAMESPACE}:influxAdminUser "${influxAdminUser}" must be letters, digits and "_", not starting with a digit`);
  }
  const influxAdminPassword = c.string("influxAdminPassword", undefined) ?? "";
  c.password("influxAdminPassword", influxAdminPassword);
  const statsPassword = c.string("statsPassword", null);
  if (statsPassword !== undefined) {
    c.password("statsPassword", statsPassword);
    if (!STATS_PASSWORD.test(statsPassword)) {
      problems.push(`${NAMESPACE}:statsPassword must be printable ASCII without spaces or single quotes (HAProxy's config holds it)`);
    }
  }
  const relayAdminToken = c.string("relayAdminToken", null);
  if (relayAdminToken !== undefined && !RELAY_ADMIN_TOKEN.test(relayAdminToken)) {
    problems.push(`${NAMESPACE}:relayAdminToken must be ${RELAY_ADMIN_TOKEN_RULE} (every relay.toml holds it)`);
  }

  const publicEndpoint = c.boolean("publicEndpoint", true);
  const vm = target === "vm" ? parseVmConfig(c, replicas, { database: udpDatabase, port: udpPort }, problems) : undefined;
  if (target === "vm") refusePrometheusKeys(c, problems);
  const kubernetes = target === "aks" || target === "k8s" ? parseKubernetesConfig(c, target, problems) : undefined;
  const aks = target === "aks" ? parseAksConfig(c, problems) : undefined;

  // A Kubernetes Service other than a LoadBalancer gets no address outside the cluster's network.
  const exposed = publicEndpoint && (kubernetes === undefined || kubernetes.serviceType === "LoadBalancer");
  if (exposed && udpDatabase !== undefined) {
    problems.push(
      `${NAMESPACE}:udpDatabase: UDP writes carry no credentials, so with ${NAMESPACE}:publicEndpoint true anyone on the internet could write to "${udpDatabase}"; set publicEndpoint to false or leave udpDatabase unset`,
    );
  }
  const tlsCertificate = c.string("tlsCertificate", null);
  if (tlsCertificate !== undefined) problems.push(...certificateProblems(tlsCertificate).map((p) => `${NAMESPACE}:tlsCertificate ${p}`));
  const allowPlaintext = c.boolean("allowPlaintextPublicEndpoint", false);
  if (allowPlaintext && tlsCertificate !== undefined) {
    problems.push(`${NAMESPACE}:allowPlaintextPublicEndpoint is true while ${NAMESPACE}:tlsCertificate is set; unset one of them`);
  } else if (exposed && tlsCertificate === undefined && !allowPlaintext) {
    problems.push(
      `${NAMESPACE}:publicEndpoint is true without TLS: set ${NAMESPACE}:tlsCertificate (--secret, a PEM with the certificate chain and its key), or set publicEndpoint to false, or opt out with ${NAMESPACE}:allowPlaintextPublicEndpoint true (passwords then cross the internet in clear text)`,
    );
  }
  const clientTls: ClientTls = tlsCertificate !== undefined ? "haproxy" : exposed ? "opt-out" : "internal";

  if (problems.length > 0) throw new StackConfigError(problems);
  return {
    target: target!,
    location,
    replicas,
    databases,
    udpDatabase,
    publicEndpoint,
    clientPort,
    udpPort,
    influxAdminUser,
    influxAdminPassword,
    tlsCertificate,
    clientTls,
    statsPassword: statsPassword ?? deriveStatsPassword(influxAdminPassword),
    relayAdminToken: relayAdminToken ?? deriveRelayAdminToken(influxAdminPassword),
    vm,
    kubernetes,
    aks,
  };
}

/**
 * A stats password that needs no extra secret to keep: an HMAC of the InfluxDB admin password. It is stable
 * across runs, changes when that password is rotated, and does not reveal it. Base64url fits haproxy.cfg.
 */
export function deriveStatsPassword(influxAdminPassword: string): string {
  return createHmac("sha256", influxAdminPassword).update("influx-ha haproxy stats").digest("base64url").slice(0, 24);
}

/** The relays' admin token, made the same way under another label: neither secret reveals the other. */
export function deriveRelayAdminToken(influxAdminPassword: string): string {
  return createHmac("sha256", influxAdminPassword).update("influx-ha relay admin token").digest("base64url").slice(0, 32);
}

/**
 * What keeps HAProxy from loading a PEM bundle (its `crt` file): a missing certificate or key, a key
 * that needs a passphrase or does not match the first certificate, or an expired certificate.
 */
export function certificateProblems(pem: string, now: Date = new Date()): string[] {
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const key = /-----BEGIN (RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/.exec(pem)?.[0];
  if (pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
    return ["holds an encrypted private key; HAProxy cannot ask for its passphrase"];
  if (certificates.length === 0 || key === undefined) {
    return ["must be PEM holding the certificate (then its chain) and its private key, e.g. cat cert.pem chain.pem key.pem"];
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificates[0]!);
    if (!leaf.checkPrivateKey(createPrivateKey(key))) return ["has a private key that does not belong to its first certificate"];
  } catch (err) {
    return [`cannot be read: ${(err as Error).message}`];
  }
  return new Date(leaf.validTo) <= now ? [`has a certificate that expired on ${new Date(leaf.validTo).toISOString()}`] : [];
}

function parseVmConfig(
  c: Keys,
  replicas: number,
  udp: { readonly database: string | undefined; readonly port: number },
  problems: string[],
): VmConfig {
  const vmSize = premiumVmSize(c, "vmSize", DEFAULTS.vmSize, problems);
  const zones = availabilityZones(c, problems);

  const sku = c.oneOf("dataDiskSku", DATA_DISK_SKUS, DEFAULTS.dataDiskSku) ?? DEFAULTS.dataDiskSku;
  const [minGb, maxGb] = DISK_SIZE_GB[sku] ?? DISK_SIZE_GB.Premium_LRS;
  const sizeGb = c.integer("dataDiskSizeGb", DEFAULTS.dataDiskSizeGb, minGb, maxGb);
  const provisioned = sku !== "Premium_LRS";
  if (provisioned && zones.length === 0) {
    problems.push(`${NAMESPACE}:dataDiskSku ${sku} needs zonal VMs: set ${NAMESPACE}:zones, or use Premium_LRS`);
  }
  const performance = { iops: c.performance("dataDiskIops", 100, 400_000), mbps: c.performance("dataDiskMbps", 1, 10_000) };
  for (const [key, value] of [
    ["dataDiskIops", performance.iops],
    ["dataDiskMbps", performance.mbps],
  ] as const) {
    if (!provisioned && value !== undefined) {
      problems.push(`${NAMESPACE}:${key} applies to PremiumV2_LRS and UltraSSD_LRS only; Premium_LRS's performance follows from its size`);
    }
  }
  const iops = provisioned ? (performance.iops ?? DEFAULTS.dataDiskIops) : undefined;
  const mbps = provisioned ? (performance.mbps ?? DEFAULTS.dataDiskMbps) : undefined;

  if (udp.database !== undefined && udp.port === VM_PORTS.influxdbUdp) {
    problems.push(
      `${NAMESPACE}:udpPort ${VM_PORTS.influxdbUdp} is InfluxDB's own UDP listener on the nodes; pick another, such as ${DEFAULTS.udpPort}`,
    );
  }

  const adminCidrs = c.stringList("adminCidrs", []);
  adminCidrs.forEach((cidr, i) => {
    const problem = cidrProblem(cidr, "any");
    if (problem) problems.push(`${NAMESPACE}:adminCidrs[${i}] "${cidr}" ${problem}`);
    else if (/\/0$/.test(cidr))
      problems.push(`${NAMESPACE}:adminCidrs[${i}] "${cidr}" opens SSH to the whole internet; list your own ranges`);
  });

  const adminUsername = c.string("adminUsername", DEFAULTS.adminUsername) ?? DEFAULTS.adminUsername;
  if (!LINUX_USERNAME.test(adminUsername) || RESERVED_USERNAMES.has(adminUsername)) {
    problems.push(
      `${NAMESPACE}:adminUsername "${adminUsername}" must be a lower-case Linux user name that Azure allows (not admin, root, ...)`,
    );
  }
  const sshPublicKey = (c.string("sshPublicKey", undefined) ?? "").trim();
  if (sshPublicKey !== "" && !SSH_PUBLIC_KEY.test(sshPublicKey)) {
    problems.push(`${NAMESPACE}:sshPublicKey must be one OpenSSH public key line ("ssh-ed25519 AAAA..." or "ssh-rsa AAAA...")`);
  }

  const vnetCidr = c.string("vnetCidr", DEFAULTS.vnetCidr) ?? DEFAULTS.vnetCidr;
  const subnetCidr = c.string("subnetCidr", DEFAULTS.subnetCidr) ?? DEFAULTS.subnetCidr;
  const vnetProblem = cidrProblem(vnetCidr, 4);
  const subnetProblem = cidrProblem(subnetCidr, 4);
  if (vnetProblem) problems.push(`${NAMESPACE}:vnetCidr "${vnetCidr}" ${vnetProblem}`);
  if (subnetProblem) problems.push(`${NAMESPACE}:subnetCidr "${subnetCidr}" ${subnetProblem}`);
  if (!vnetProblem && !subnetProblem) {
    if (!cidrContains(vnetCidr, subnetCidr))
      problems.push(`${NAMESPACE}:subnetCidr ${subnetCidr} must lie inside ${NAMESPACE}:vnetCidr ${vnetCidr}`);
    const capacity = subnetHostCount(subnetCidr) - FIRST_NODE_HOST - 1;
    if (capacity < replicas) {
      problems.push(
        `${NAMESPACE}:subnetCidr ${subnetCidr} has room for ${Math.max(capacity, 0)} nodes, not ${replicas}; use a /27 or larger`,
      );
    }
  }

  return {
    vmSize,
    zones,
    dataDisk: { sku, sizeGb, iops, mbps, protect: c.boolean("protectDataDisks", true) },
    adminCidrs,
    adminUsername,
    sshPublicKey,
    vnetCidr,
    subnetCidr,
  };
}

function parseKubernetesConfig(c: Keys, target: "aks" | "k8s", problems: string[]): KubernetesConfig {
  const namespace = c.string("namespace", DEFAULTS.namespace) ?? DEFAULTS.namespace;
  if (!DNS_LABEL.test(namespace))
    problems.push(`${NAMESPACE}:namespace "${namespace}" must be a DNS label (lower-case letters, digits, "-")`);
  const clusterDomain = c.string("clusterDomain", DEFAULTS.clusterDomain) ?? DEFAULTS.clusterDomain;
  if (!DNS_NAME.test(clusterDomain)) problems.push(`${NAMESPACE}:clusterDomain "${clusterDomain}" is not a DNS name such as cluster.local`);

  const storageClass = c.string("storageClass", null);
  if (storageClass !== undefined && !DNS_NAME.test(storageClass)) {
    problems.push(`${NAMESPACE}:storageClass "${storageClass}" is not a StorageClass name`);
  }
  // The class the program creates is Premium_LRS; an existing class brings its own SKU.
  const sku = c.oneOf("dataDiskSku", DATA_DISK_SKUS, DEFAULTS.dataDiskSku);
  if (sku !== undefined && sku !== "Premium_LRS" && storageClass === undefined) {
    problems.push(
      `${NAMESPACE}:dataDiskSku ${sku}: on Kubernetes the created StorageClass is Premium_LRS; name your own class in ${NAMESPACE}:storageClass`,
    );
  }

  const nodeSelector = c.labels("nodeSelector", "node label");
  if (target === "aks" && Object.keys(nodeSelector).length > 0) {
    problems.push(`${NAMESPACE}:nodeSelector applies to target k8s; on aks the workload runs on the InfluxDB pool`);
  }

  const image = (key: string, fallback: string | null): string | undefined => {
    const value = c.string(key, fallback);
    if (value !== undefined && !IMAGE_REFERENCE.test(value)) problems.push(`${NAMESPACE}:${key} "${value}" is not an image reference`);
    return value;
  };
  const influxdbImage = image("influxdbImage", DEFAULTS.influxdbImage) ?? DEFAULTS.influxdbImage;
  const relayImage = image("relayImage", null);
  if (target === "k8s" && relayImage === undefined) {
    problems.push(
      `${NAMESPACE}:relayImage is required for target k8s: build relay/Dockerfile (README), push it where the cluster can pull, and set the reference`,
    );
  }

  const kubeconfig = c.string("kubeconfig", null);
  if (target === "aks" && kubeconfig !== undefined) {
    problems.push(`${NAMESPACE}:kubeconfig applies to target k8s; on aks the program reads the cluster's own`);
  }

  return {
    namespace,
    clusterDomain,
    relays: c.integer("relays", DEFAULTS.relays, MIN_INSTANCES, MAX_REPLICAS),
    haproxies: c.integer("haproxies", DEFAULTS.haproxies, MIN_INSTANCES, MAX_REPLICAS),
    storageClass,
    volumeSizeGb: c.integer("dataDiskSizeGb", DEFAULTS.dataDiskSizeGb, ...DISK_SIZE_GB.Premium_LRS),
    serviceType: c.oneOf("serviceType", SERVICE_TYPES, DEFAULTS.serviceType) ?? DEFAULTS.serviceType,
    nodeSelector,
    influxdbImage,
    relayImage,
    kubeconfig,
    prometheus: parsePrometheusConfig(c, problems),
  };
}

function parsePrometheusConfig(c: Keys, problems: string[]): PrometheusConfig | undefined {
  const namespace = c.string("prometheusNamespace", null);
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) {
    problems.push(`${NAMESPACE}:prometheusNamespace "${namespace}" must be a DNS label (lower-case letters, digits, "-")`);
  }
  const operator = c.boolean("prometheusOperator", false);
  const labels = c.labels("prometheusLabels", "label");
  // No default namespace: a wrong guess would leave Prometheus behind the NetworkPolicies, scraping nothing.
  if (operator && namespace === undefined) {
    problems.push(
      `${NAMESPACE}:prometheusOperator needs ${NAMESPACE}:prometheusNamespace, the namespace Prometheus runs in: the NetworkPolicies let its pods scrape the relays and HAProxy`,
    );
  }
  if (!operator && Object.keys(labels).length > 0) {
    problems.push(`${NAMESPACE}:prometheusLabels label the PrometheusRule and ServiceMonitors, which only prometheusOperator true creates`);
  }
  return namespace === undefined ? undefined : { namespace, operator, labels };
}

/** Target vm has no pods to annotate and no operator: Prometheus scrapes its nodes by address (README, Monitoring). */
function refusePrometheusKeys(c: Keys, problems: string[]): void {
  const set: string[] = [];
  if (c.string("prometheusNamespace", null) !== undefined) set.push("prometheusNamespace");
  if (c.boolean("prometheusOperator", false)) set.push("prometheusOperator");
  if (c.stringList("prometheusLabels", []).length > 0) set.push("prometheusLabels");
  for (const key of set) {
    problems.push(
      `${NAMESPACE}:${key} applies to targets aks and k8s; on vm, Prometheus scrapes the nodes by address (README, Monitoring)`,
    );
  }
}

function parseAksConfig(c: Keys, problems: string[]): AksConfig {
  const kubernetesVersion = c.string("kubernetesVersion", null);
  if (kubernetesVersion !== undefined && !KUBERNETES_VERSION.test(kubernetesVersion)) {
    problems.push(`${NAMESPACE}:kubernetesVersion "${kubernetesVersion}" must be a version such as 1.33`);
  }
  return {
    kubernetesVersion,
    systemVmSize: c.string("systemVmSize", DEFAULTS.systemVmSize) ?? DEFAULTS.systemVmSize,
    systemNodeCount: c.integer("systemNodeCount", DEFAULTS.systemNodeCount, 1, 100),
    influxdbVmSize: premiumVmSize(c, "vmSize", DEFAULTS.vmSize, problems),
    zones: availabilityZones(c, problems),
  };
}

/** A VM size that can attach premium disks. */
function premiumVmSize(c: Keys, key: string, fallback: string, problems: string[]): string {
  const vmSize = c.string(key, fallback) ?? fallback;
  const size = VM_SIZE.exec(vmSize);
  if (size === null) {
    problems.push(`${NAMESPACE}:${key} "${vmSize}" is not an Azure VM size such as "${fallback}"`);
  } else if (!supportsPremiumStorage(size[1]!, size[3]!)) {
    problems.push(`${NAMESPACE}:${key} ${vmSize} cannot attach premium disks; pick a size with an "s", such as ${fallback}`);
  }
  return vmSize;
}

function availabilityZones(c: Keys, problems: string[]): readonly string[] {
  const zones = c.stringList("zones", AVAILABILITY_ZONES);
  for (const zone of zones) {
    if (!(AVAILABILITY_ZONES as readonly string[]).includes(zone))
      problems.push(`${NAMESPACE}:zones: "${zone}" is not a zone; use "1", "2" and "3"`);
  }
  if (new Set(zones).size !== zones.length) problems.push(`${NAMESPACE}:zones lists a zone twice`);
  return zones;
}

/** Sizes with premium storage have an S in the family (DS, GS) or an "s" among the features (D4s, E8ads). */
function supportsPremiumStorage(family: string, features: string): boolean {
  return family.slice(1).includes("S") || features.includes("s");
}

/** Typed access to the `influx-ha:` keys; every bad value adds a problem naming its key. */
class Keys {
  constructor(
    private readonly read: ConfigReader,
    private readonly problems: string[],
  ) {}

  /** Pulumi.yaml declares every optional key with a default; its "" (and 0 for provisioned performance) mean "not set". */
  private raw(key: string): string | undefined {
    const value = this.read(`${NAMESPACE}:${key}`);
    return value === "" ? undefined : value;
  }

  /** `fallback` undefined: required; null: optional without a default. */
  string(key: string, fallback: string | undefined | null): string | undefined {
    const value = this.raw(key);
    if (value !== undefined) return value;
    if (fallback === undefined) this.problems.push(`${NAMESPACE}:${key} is required: pulumi config set ${secretFlag(key)}${key} <value>`);
    return fallback ?? undefined;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T | undefined): T | undefined {
    const value = this.string(key, fallback);
    if (value === undefined) return undefined;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${NAMESPACE}:${key} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, not "${value}"`);
    return undefined;
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || n < min || n > max) {
      this.problems.push(`${NAMESPACE}:${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
      return fallback;
    }
    return n;
  }

  /** Provisioned disk performance: undefined when unset or 0 (the SKU's baseline). */
  performance(key: string, min: number, max: number): number | undefined {
    const value = this.raw(key);
    if (value === undefined || value.trim() === "0") return undefined;
    return this.integer(key, 0, min, max);
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (value === "true" || value === "false") return value === "true";
    this.problems.push(`${NAMESPACE}:${key} must be true or false, not ${JSON.stringify(value)}`);
    return fallback;
  }

  /** Labels as a list of key=value, each a label key and value Kubernetes accepts. */
  labels(key: string, what: string): Readonly<Record<string, string>> {
    const labels: Record<string, string> = {};
    this.stringList(key, []).forEach((entry, i) => {
      const [name = "", value, ...rest] = entry.split("=");
      if (value === undefined || rest.length > 0 || !LABEL_KEY.test(name) || !LABEL_VALUE.test(value)) {
        this.problems.push(`${NAMESPACE}:${key}[${i}] "${entry}" must be a ${what} as key=value`);
      } else labels[name] = value;
    });
    return labels;
  }

  /** A list is set as JSON (pulumi config set --path 'key[0]' value, or --json). */
  stringList(key: string, fallback: readonly string[] | undefined): readonly string[] {
    const value = this.raw(key);
    if (value === undefined) {
      if (fallback === undefined) this.problems.push(`${NAMESPACE}:${key} is required: pulumi config set --path '${key}[0]' <value>`);
      return fallback ?? [];
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
      this.problems.push(`${NAMESPACE}:${key} must be a list of strings, e.g. ["a", "b"], not ${JSON.stringify(value)}`);
      return fallback ?? [];
    }
    return parsed;
  }

  password(key: string, value: string): void {
    if (value === "") return; // reported as missing
    if (value.length < MIN_PASSWORD) this.problems.push(`${NAMESPACE}:${key} must be at least ${MIN_PASSWORD} characters`);
    if (/[\x00-\x1f\x7f]/.test(value)) this.problems.push(`${NAMESPACE}:${key} must not contain control characters or line breaks`);
  }
}

function secretFlag(key: string): string {
  return (SECRET_KEYS as readonly string[]).includes(key) ? "--secret " : "";
}
