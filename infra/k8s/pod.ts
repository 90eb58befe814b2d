// What every influx-ha pod shares: it runs as a non-root user with nothing to escalate to, on the nodes
// the plan allows, tolerating the InfluxDB pool's taint, and spread across zones and hosts; a volume of
// its own where it keeps state, and a disruption budget that lets a drain take one pod at a time.
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { componentLabels, DEDICATED_POOL, POD_USER, type Component, type KubernetesPlan } from "./plan.js";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;

export const POD_SECURITY: k8s.types.input.core.v1.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: POD_USER,
  runAsGroup: POD_USER,
  // The volumes become writable by the pod's group; OnRootMismatch skips the walk over a large data dir.
  fsGroup: POD_USER,
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
};

export const CONTAINER_SECURITY: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/**
 * How a component's pods spread across zones (where it can) and hosts: "spread" never puts two on one
 * host; "apart" adds required anti-affinity, for the relays, whose queues must not share a host's fate;
 * "prefer-spread" lets them share a host when no other is free (HAProxy, the Job).
 */
export type Spreading = "spread" | "apart" | "prefer-spread";

export function placement(plan: KubernetesPlan, component: Component, spreading: Spreading): Partial<PodSpec> {
  const labelSelector = { matchLabels: componentLabels(component) };
  const zone = { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector };
  const host = {
    maxSkew: 1,
    topologyKey: "kubernetes.io/hostname",
    whenUnsatisfiable: spreading === "prefer-spread" ? "ScheduleAnyway" : "DoNotSchedule",
    labelSelector,
  };
  return {
    ...(Object.keys(plan.nodeSelector).length > 0 ? { nodeSelector: { ...plan.nodeSelector } } : {}),
    tolerations: [{ key: DEDICATED_POOL.key, operator: "Equal", value: DEDICATED_POOL.value, effect: "NoSchedule" }],
    topologySpreadConstraints: [zone, host],
    ...(spreading === "apart"
      ? {
          affinity: {
            podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector }] },
          },
        }
      : {}),
  };
}

/** A container with the shared hardening: read-only root filesystem, no capabilities, no privilege escalation. */
export function hardenedContainer(container: Container): Container {
  return { imagePullPolicy: "IfNotPresent", ...container, securityContext: CONTAINER_SECURITY };
}

/** A GET probe; Kubernetes counts any 2xx or 3xx, so InfluxDB's 204 to /ping passes. */
export function httpProbe(
  path: string,
  port: number,
  periodSeconds: number,
  failureThreshold: number,
  scheme: "HTTP" | "HTTPS" = "HTTP",
): k8s.types.input.core.v1.Probe {
  // The kubelet does not verify the certificate of an HTTPS probe.
  return { httpGet: { path, port, ...(scheme === "HTTPS" ? { scheme } : {}) }, periodSeconds, failureThreshold, timeoutSeconds: 3 };
}

/** A StatefulSet's volume claim template: one ReadWriteOnce volume per pod. */
export function volumeClaim(
  name: string,
  labels: Readonly<Record<string, string>>,
  storageClassName: pulumi.Input<string>,
  sizeGi: number,
): k8s.types.input.core.v1.PersistentVolumeClaim {
  return {
    metadata: { name, labels: { ...labels } },
    spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage: `${sizeGi}Gi` } } },
  };
}

/** maxUnavailable 1: a node drain or an upgrade takes one of the component's pods at a time. */
export function onePodAtATime(
  parent: pulumi.Resource,
  name: string,
  namespace: pulumi.Input<string>,
  labels: Readonly<Record<string, string>>,
): k8s.policy.v1.PodDisruptionBudget {
  return new k8s.policy.v1.PodDisruptionBudget(
    name,
    { metadata: { namespace, labels: { ...labels } }, spec: { maxUnavailable: 1, selector: { matchLabels: { ...labels } } } },
    { parent },
  );
}
