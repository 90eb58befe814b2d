// The marks the program leaves on what it creates: Azure tags and Kubernetes annotations that say what a
// resource is for. Operators filter by them; the policy pack (infra/policy) judges a stack by them.
import type { ClientTls } from "./config.js";

/** Azure tag naming a resource's part in the layout. */
export const COMPONENT_TAG = "influx-ha-component";
/** COMPONENT_TAG's values. A node runs one InfluxDB replica, one relay and one HAProxy. */
export const COMPONENTS = { node: "node", dataDisk: "influxdb-data", clientLoadBalancer: "client-load-balancer" } as const;

/** Azure tag on the clients' load balancer, and annotation on the clients' Service: a ClientTls value. */
export const CLIENT_TLS_TAG = "influx-ha-client-tls";
export const CLIENT_TLS_ANNOTATION = "influx-ha/client-tls";
export const CLIENT_TLS_VALUES: readonly ClientTls[] = ["haproxy", "opt-out", "internal"];
