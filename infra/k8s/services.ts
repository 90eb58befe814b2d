// The Services of a StatefulSet: the headless one that governs it, and one ClusterIP Service per pod,
// named as the pod. A pod's Service keeps its address when the pod moves, and routes only while the
// pod is ready.
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort: string;
  readonly protocol: "TCP" | "UDP";
}

export interface ReplicaServicesArgs {
  readonly namespace: pulumi.Input<string>;
  readonly labels: Readonly<Record<string, string>>;
  readonly statefulSetName: string;
  readonly podNames: readonly string[];
  readonly ports: readonly ServicePort[];
}

export function replicaServices(
  parent: pulumi.Resource,
  name: string,
  args: ReplicaServicesArgs,
): { headless: k8s.core.v1.Service; perPod: k8s.core.v1.Service[] } {
  const { namespace, labels } = args;
  const headless = new k8s.core.v1.Service(
    `${name}-headless`,
    {
      metadata: { name: `${args.statefulSetName}-pods`, namespace, labels },
      spec: { clusterIP: "None", selector: { ...labels }, ports: args.ports.map((p) => ({ ...p })) },
    },
    { parent },
  );
  const perPod = args.podNames.map(
    (podName) =>
      new k8s.core.v1.Service(
        `${name}-${podName}`,
        {
          metadata: { name: podName, namespace, labels },
          spec: {
            type: "ClusterIP",
            selector: { ...labels, "statefulset.kubernetes.io/pod-name": podName },
            ports: args.ports.map((p) => ({ ...p })),
          },
        },
        { parent },
      ),
  );
  return { headless, perPod };
}
