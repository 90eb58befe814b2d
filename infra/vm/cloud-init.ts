// A node's cloud-init user data (#cloud-config): every config file, rendered from the one topology by
// the shared renderers, plus influx-ha-setup, which cloud-init runs once. Pure: the same plan and
// inputs always give the same text. It holds the InfluxDB admin password, the stats password and the
// relays' admin token: the program passes it to Azure as a secret, and each lands in a file root keeps.
import { readFileSync } from "node:fs";
import { stringify } from "yaml";
import { renderHaproxyConfig } from "../../haproxy/render.js";
import { createAdminStatement, createDatabasesStatement } from "../../influxdb/influxql.js";
import { renderReplicaConfig } from "../../influxdb/render-config.js";
import { renderRelayConfig } from "../../relay/render-config.js";
import { DATA_DISK_LUN, INFLUXDB_DATA_DIR, type VmNode, type VmPlan } from "./plan.js";
import { RELAY_CONFIG_PATH, renderInfluxdbDropIn, renderRelayUnit } from "./systemd.js";

/** InfluxDB 1.8 from InfluxData's repository, which also carries later 1.x releases. */
export const INFLUXDB_VERSION = "1.8.*";
/** Azure's limit on customData, which is the base64 of this text. */
export const CUSTOM_DATA_MAX_BYTES = 65_535;

const SETUP_SCRIPT = readFileSync(new URL("influx-ha-setup.sh", import.meta.url), "utf8");
const BOOTSTRAP_SCRIPT = readFileSync(new URL("../../influxdb/bootstrap-replicas.sh", import.meta.url), "utf8");
const SETUP = {
  script: "/usr/local/sbin/influx-ha-setup",
  bootstrap: "/usr/local/sbin/influx-ha-bootstrap-replicas",
  env: "/etc/influx-ha/setup.env",
  adminPassword: "/etc/influx-ha/influx-admin-password",
  createAdmin: "/etc/influx-ha/create-admin.influxql",
  createDatabases: "/etc/influx-ha/create-databases.influxql",
} as const;

/** The relay bundle in blob storage, and the identity the node reads it with. */
export interface RelayBundleSource {
  readonly url: string;
  readonly sha256: string;
  /** Client id of the user-assigned managed identity that may read the blob. */
  readonly identityClientId: string;
}

export interface NodeCloudInitArgs {
  readonly plan: VmPlan;
  readonly node: VmNode;
  readonly influxAdminUser: string;
  readonly influxAdminPassword: string;
  /** HAProxy's PEM bundle; with the plan's TLS only. */
  readonly tlsCertificate: string | undefined;
  readonly relayBundle: RelayBundleSource;
}

interface WriteFile {
  readonly path: string;
  readonly permissions: string;
  readonly content: string;
}

export function renderCloudInit(args: NodeCloudInitArgs): string {
  const { plan, node } = args;
  const { topology } = plan;
  const env = {
    DATA_DISK: `/dev/disk/azure/scsi1/lun${DATA_DISK_LUN}`,
    DATA_DIR: INFLUXDB_DATA_DIR,
    INFLUXDB_URL: `http://127.0.0.1:${node.replica.httpPort}`,
    INFLUX_ADMIN_USER: args.influxAdminUser,
    INFLUX_ADMIN_PASSWORD_FILE: SETUP.adminPassword,
    CREATE_ADMIN_FILE: SETUP.createAdmin,
    CREATE_DATABASES_FILE: SETUP.createDatabases,
    BOOTSTRAP_SCRIPT: SETUP.bootstrap,
    RELAY_BUNDLE_URL: args.relayBundle.url,
    RELAY_BUNDLE_SHA256: args.relayBundle.sha256,
    IDENTITY_CLIENT_ID: args.relayBundle.identityClientId,
    RELAY_CONFIG: RELAY_CONFIG_PATH,
  };
  const files: WriteFile[] = [
    {
      path: SETUP.env,
      permissions: "0600",
      content: Object.entries(env)
        .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
        .join(""),
    },
    { path: SETUP.adminPassword, permissions: "0600", content: args.influxAdminPassword },
    {
      path: SETUP.createAdmin,
      permissions: "0600",
      content: createAdminStatement(args.influxAdminUser, args.influxAdminPassword),
    },
    {
      path: SETUP.createDatabases,
      permissions: "0644",
      content: createDatabasesStatement(topology.databases),
    },
    { path: SETUP.script, permissions: "0755", content: SETUP_SCRIPT },
    { path: SETUP.bootstrap, permissions: "0755", content: BOOTSTRAP_SCRIPT },
    {
      path: "/etc/apt/preferences.d/influxdb",
      permissions: "0644",
      content: `Package: influxdb\nPin: version ${INFLUXDB_VERSION}\nPin-Priority: 1001\n`,
    },
    {
      path: "/etc/influxdb/influxdb.conf",
      permissions: "0644",
      // INFLUXDB_VERSION has Flux.
      content: renderReplicaConfig(topology, node.replica, { dir: INFLUXDB_DATA_DIR, authEnabled: true, fluxEnabled: true }),
    },
    // It holds the relays' admin token: root's alone until influx-ha-setup has made the relay's user, then
    // readable by that user's group too.
    { path: RELAY_CONFIG_PATH, permissions: "0640", content: renderRelayConfig(topology, node.relay) },
    // It holds the stats password; HAProxy's master reads it as root, its workers run as Debian's haproxy user.
    {
      path: "/etc/haproxy/haproxy.cfg",
      permissions: "0600",
      content: renderHaproxyConfig(topology, node.loadBalancer, { runAs: "haproxy" }),
    },
    // HAProxy's master loads it as root before its workers drop to the haproxy user.
    ...(topology.tls === undefined ? [] : [{ path: topology.tls.certificatePath, permissions: "0600", content: tlsCertificate(args) }]),
    { path: "/etc/systemd/system/influx-relay.service", permissions: "0644", content: renderRelayUnit() },
    { path: "/etc/systemd/system/influxdb.service.d/influx-ha.conf", permissions: "0644", content: renderInfluxdbDropIn() },
  ];
  const config = {
    write_files: files.map((f) => ({ path: f.path, owner: "root:root", permissions: f.permissions, content: f.content })),
    runcmd: [[SETUP.script]],
  };
  const header = `#cloud-config\n# influx-ha ${node.name} (${node.privateIp}), rendered by infra/vm/cloud-init.ts\n`;
  // YAML 1.1 rules, as cloud-init reads it with PyYAML: a value such as "on" or "1:30" stays a string.
  return header + stringify(config, { lineWidth: 0, version: "1.1" });
}

function tlsCertificate(args: NodeCloudInitArgs): string {
  if (args.tlsCertificate === undefined) throw new Error("the plan terminates TLS, but no tlsCertificate was given");
  return args.tlsCertificate;
}

/** A POSIX shell word: single quotes, with each ' written as '\''. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
