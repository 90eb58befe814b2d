// Seed 003's layout as a topology spec: two VMs with InfluxDB and a relay each, one HAProxy VM.
import type { TopologySpec } from "../../topology/build.js";

export const VM_SPEC: TopologySpec = {
  databases: ["telegraf"],
  replicas: [
    { name: "influxdb-0", address: "10.0.1.4" },
    { name: "influxdb-1", address: "10.0.1.5" },
  ],
  relays: [
    { name: "relay-0", address: "10.0.1.4" },
    { name: "relay-1", address: "10.0.1.5" },
  ],
  loadBalancers: [{ name: "haproxy-0", address: "10.0.1.10" }],
  stats: { password: "correct-horse" },
  relayAdminToken: "relay-admin-token-1234",
};
