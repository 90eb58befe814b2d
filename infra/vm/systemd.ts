// systemd units a node's cloud-init writes: the relay's service, and a drop-in that keeps InfluxDB off
// the OS disk. Pure.
import { DEFAULTS as RELAY_DEFAULTS } from "../../relay/defaults.js";
import { parseGoDuration } from "../../relay/duration.js";
import { INFLUXDB_DATA_DIR } from "./plan.js";

export const RELAY_USER = "influx-relay";
export const RELAY_BUNDLE_PATH = "/opt/influx-relay/influx-relay.mjs";
export const RELAY_CONFIG_PATH = "/etc/influx-relay/relay.toml";
/** NodeSource's nodejs package puts node here. */
const NODE = "/usr/bin/node";
// The relay finishes the writes in flight for up to its shutdown-timeout, then flushes its queues.
const RELAY_STOP_MARGIN_S = 20;

/** The relay as a hardened service of its own user (seed 003's dedicated account), restarted whatever happens. */
export function renderRelayUnit(): string {
  const stopSeconds = Math.ceil(parseGoDuration(RELAY_DEFAULTS.shutdownTimeout)! / 1000) + RELAY_STOP_MARGIN_S;
  return `# Rendered by influx-ha (infra/vm/systemd.ts).
[Unit]
Description=influx-ha relay: every write to every InfluxDB replica, with a durable queue per replica
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=${RELAY_USER}
Group=${RELAY_USER}
ExecStart=${NODE} ${RELAY_BUNDLE_PATH} -config ${RELAY_CONFIG_PATH}
Restart=always
RestartSec=2s
TimeoutStopSec=${stopSeconds}s
LimitNOFILE=65536
# The queues: ${RELAY_DEFAULTS.spoolRoot}, owned by the relay's user and no one else.
StateDirectory=influx-relay
StateDirectoryMode=0700
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
`;
}

/** Drop-in for the influxdb package's unit: no start without the data disk mounted (it is nofail in fstab). */
export function renderInfluxdbDropIn(): string {
  return `# Rendered by influx-ha (infra/vm/systemd.ts).
[Unit]
RequiresMountsFor=${INFLUXDB_DATA_DIR}

[Service]
LimitNOFILE=65536
`;
}
