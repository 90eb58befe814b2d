// The stack's config (Pulumi.<stack>.yaml, `influx-ha:` keys) → a checked StackConfig. Pure: it reads
// raw strings through a function, so tests need no Pulumi engine. Every problem is reported at once,
// each naming its key, and all before the program declares a single resource.
// Every key is documented in Pulumi.yaml's config block and in infra/README.md.
import { createHmac } from "node:crypto";
import { MIN_REPLICAS, STATS_PASSWORD } from "../topology/build.js";
import { cidrContains, cidrProblem, subnetHostCount } from "./cidr.js";
import { FIRST_NODE_HOST, VM_PORTS } from "./vm/plan.js";

export const NAMESPACE = "influx-ha";
export const TARGETS = ["vm", "aks", "k8s"] as const;
export type Target = (typeof TARGETS)[number];
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
  /** The HAProxy stats page's; when not configured, derived from influxAdminPassword (see deriveStatsPassword). */
  readonly statsPassword: string;
  /** Present for target "vm". */
  readonly vm: VmConfig | undefined;
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
} as const;

const MIN_PASSWORD = 12;
const MAX_REPLICAS = 16;
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

  const publicEndpoint = c.boolean("publicEndpoint", true);
  const vm = target === "vm" ? parseVmConfig(c, replicas, { database: udpDatabase, port: udpPort }, problems) : undefined;

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
    statsPassword: statsPassword ?? deriveStatsPassword(influxAdminPassword),
    vm,
  };
}

/**
 * A stats password that needs no extra secret to keep: an HMAC of the InfluxDB admin password. It is stable
 * across runs, changes when that password is rotated, and does not reveal it. Base64url fits haproxy.cfg.
 */
export function deriveStatsPassword(influxAdminPassword: string): string {
  return createHmac("sha256", influxAdminPassword).update("influx-ha haproxy stats").digest("base64url").slice(0, 24);
}

function parseVmConfig(
  c: Keys,
  replicas: number,
  udp: { readonly database: string | undefined; readonly port: number },
  problems: string[],
): VmConfig {
  const vmSize = c.string("vmSize", DEFAULTS.vmSize) ?? DEFAULTS.vmSize;
  const size = VM_SIZE.exec(vmSize);
  if (size === null) {
    problems.push(`${NAMESPACE}:vmSize "${vmSize}" is not an Azure VM size such as "${DEFAULTS.vmSize}"`);
  } else if (!supportsPremiumStorage(size[1]!, size[3]!)) {
    problems.push(`${NAMESPACE}:vmSize ${vmSize} cannot attach premium disks; pick a size with an "s", such as ${DEFAULTS.vmSize}`);
  }

  const zones = c.stringList("zones", AVAILABILITY_ZONES);
  for (const zone of zones) {
    if (!(AVAILABILITY_ZONES as readonly string[]).includes(zone))
      problems.push(`${NAMESPACE}:zones: "${zone}" is not a zone; use "1", "2" and "3"`);
  }
  if (new Set(zones).size !== zones.length) problems.push(`${NAMESPACE}:zones lists a zone twice`);

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
  return /Password$/.test(key) ? "--secret " : "";
}
