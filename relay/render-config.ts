// relay.toml for one relay of a topology: influxdb-relay's format plus our keys, with every queue
// setting written out, so the file says exactly how the relay behaves; every other relay of the
// topology as a peer: their /status says which replica is behind, and they fence one when asked; and the
// topology's admin token, so the admin endpoints are on wherever a relay runs. Pure.
import type { RelayNode, Topology } from "../topology/model.js";
import { formatHostPort } from "./config.js";
import { DEFAULTS } from "./defaults.js";
import { formatDuration } from "./duration.js";

export function renderRelayConfig(topology: Topology, relay: RelayNode): string {
  const { queue, replicas } = topology;
  const s = (v: string): string => JSON.stringify(v); // JSON strings are valid TOML basic strings
  const at = (host: string, port: number): string => s(formatHostPort({ host, port }));
  const peers = topology.relays.filter((r) => r.name !== relay.name);
  const lines = [
    `# Rendered by influx-ha from its topology for ${relay.name} (relay/render-config.ts); edits are overwritten.`,
    "",
    "[[http]]",
    'name = "http"',
    `bind-addr = ${at(relay.bindAddress, relay.httpPort)}`,
    `spool-dir = ${s(relay.spoolDir)}`,
    // The Bearer token of POST /admin/flush and /admin/mark-in-sync: this file is a secret on every target.
    `admin-token = ${s(topology.relayAdminToken)}`,
    `ack = ${s(queue.ack)}`,
    `fsync = ${s(queue.fsync)}`,
    `fsync-interval = ${s(formatDuration(queue.fsyncIntervalMs))}`,
    // The other relays in front of the same replicas, by their HTTP listeners.
    `peers = [${peers.map((r) => s(`http://${formatHostPort({ host: r.address, port: r.httpPort })}`)).join(", ")}]`,
    `peer-poll-interval = ${s(DEFAULTS.peerPollInterval)}`,
    `peer-timeout = ${s(DEFAULTS.peerTimeout)}`,
    // The load balancer waits as long for a query's answer.
    `query-timeout = ${s(formatDuration(topology.loadBalancer.queryTimeoutMs))}`,
    // The relay's own limits, at their defaults: HAProxy's maxconn bounds how many requests reach it at once.
    `max-inflight-mb = ${DEFAULTS.maxInflightMb}`,
    `request-timeout = ${s(DEFAULTS.requestTimeout)}`,
    `idle-timeout = ${s(DEFAULTS.idleTimeout)}`,
    "output = [",
    ...replicas.map((r) =>
      [
        `  { name = ${s(r.name)}`,
        `location = ${s(`http://${formatHostPort({ host: r.address, port: r.httpPort })}/write`)}`,
        `timeout = ${s(formatDuration(queue.outputTimeoutMs))}`,
        `buffer-size-mb = ${queue.bufferSizeMb}`,
        `max-queue-age = ${s(formatDuration(queue.maxQueueAgeMs))}`,
        `max-batch-kb = ${queue.maxBatchKb}`,
        `max-delay-interval = ${s(formatDuration(queue.maxDelayIntervalMs))} },`,
      ].join(", "),
    ),
    "]",
  ];
  if (relay.udpPort !== undefined) {
    lines.push(
      "",
      "[[udp]]",
      'name = "udp"',
      `bind-addr = ${at(relay.bindAddress, relay.udpPort)}`,
      "output = [",
      ...replicas.flatMap((r) => (r.udpPort === undefined ? [] : [`  { name = ${s(r.name)}, location = ${at(r.address, r.udpPort)} },`])),
      "]",
    );
  }
  return lines.join("\n") + "\n";
}
