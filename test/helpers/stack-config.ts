// Stack configs for tests: the raw `influx-ha:` values of a small VM stack, as Pulumi would hand them over.
// Its endpoint is public and plain HTTP, by the explicit opt-out; tests of TLS set tlsCertificate instead.
import type { ConfigReader } from "../../infra/config.js";

export const VM_STACK: Readonly<Record<string, string>> = {
  "azure-native:location": "westeurope",
  "influx-ha:target": "vm",
  "influx-ha:databases": JSON.stringify(["telegraf", "app"]),
  "influx-ha:influxAdminPassword": "correct-horse-battery",
  "influx-ha:sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnAZrjC1xvbQdPZVZ9ohV3oD8W9Ko5q9H2Y1i1oN1vX ops@example",
  "influx-ha:allowPlaintextPublicEndpoint": "true",
};

/** A reader over VM_STACK with some keys changed; an undefined value removes the key. */
export function stackReader(overrides: Readonly<Record<string, string | undefined>> = {}): ConfigReader {
  const values: Record<string, string | undefined> = { ...VM_STACK, ...overrides };
  return (key) => values[key];
}

/** An AKS stack: the VM-only keys dropped, the rest as in VM_STACK. */
export const AKS_STACK: Readonly<Record<string, string | undefined>> = {
  "influx-ha:target": "aks",
  "influx-ha:sshPublicKey": undefined,
};

/** An existing cluster: no Azure location, a relay image from the operator's registry. */
export const K8S_STACK: Readonly<Record<string, string | undefined>> = {
  "azure-native:location": undefined,
  "influx-ha:target": "k8s",
  "influx-ha:sshPublicKey": undefined,
  "influx-ha:relayImage": "registry.example.com/influx-relay:0.1.0",
};
