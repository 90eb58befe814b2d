// A StatefulSet of independent pods (the InfluxDB replicas, the relays): each pod has a volume of its own
// and a ClusterIP Service of its own, named as the pod, which keeps its address when the pod moves and
// routes only while the pod is ready. Plus the headless Service that governs the set, and a disruption
// budget of one pod at a time.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { onePodAtATime, placement, POD_SECURITY, volumeClaim, type Spreading } from "./pod.js";
import { componentLabels, type Component, type KubernetesPlan } from "./plan.js";

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly targetPort: string;
  readonly protocol: "TCP" | "UDP";
}

/** Where a pod's config files come from: a ConfigMap, or a Secret when they hold a secret. */
export type ConfigSource = { readonly configMap: pulumi.Input<string> } | { readonly secret: pulumi.Input<string> };

export interface StatefulPodsArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
  readonly component: Component;
  /** The StatefulSet's name; its pods are <setName>-0, <setName>-1, ... */
  readonly setName: string;
  readonly podNames: readonly string[];
  readonly spreading: Spreading;
  readonly terminationGracePeriodSeconds: number;
  readonly servicePorts: readonly ServicePort[];
  /** The one container; the volume and the config are mounted into it here. */
  readonly container: k8s.types.input.core.v1.Container;
  /** The config files, mounted read-only at `mountPath`. */
  readonly config: { readonly source: ConfigSource; readonly mountPath: string };
  readonly volume: {
    readonly name: string;
    readonly mountPath: string;
    readonly storageClassName: pulumi.Input<string>;
    readonly sizeGi: number;
  };
  /** On the pod template; none when empty. */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** What the pods need to exist before they start, besides the headless Service. */
  readonly startAfter?: readonly pulumi.Resource[];
}

export function statefulPods(
  parent: pulumi.Resource,
  name: string,
  args: StatefulPodsArgs,
): { statefulSet: k8s.apps.v1.StatefulSet; services: k8s.core.v1.Service[] } {
  const { namespace, volume } = args;
  const labels = componentLabels(args.component);
  const ports = (): ServicePort[] => args.servicePorts.map((p) => ({ ...p }));

  const headless = new k8s.core.v1.Service(
    `${name}-headless`,
    { metadata: { name: `${args.setName}-pods`, namespace, labels }, spec: { clusterIP: "None", selector: { ...labels }, ports: ports() } },
    { parent },
  );
  const services = args.podNames.map(
    (podName) =>
      new k8s.core.v1.Service(
        `${name}-${podName}`,
        {
          metadata: { name: podName, namespace, labels },
          spec: { type: "ClusterIP", selector: { ...labels, "statefulset.kubernetes.io/pod-name": podName }, ports: ports() },
        },
        { parent },
      ),
  );

  const statefulSet = new k8s.apps.v1.StatefulSet(
    `${name}-statefulset`,
    {
      metadata: { name: args.setName, namespace, labels },
      spec: {
        serviceName: headless.metadata.name,
        replicas: args.podNames.length,
        // The pods are independent: none waits for another to start or update.
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        template: {
          metadata: {
            labels,
            ...(Object.keys(args.podAnnotations ?? {}).length === 0 ? {} : { annotations: { ...args.podAnnotations } }),
          },
          spec: {
            securityContext: POD_SECURITY,
            ...placement(args.plan, args.component, args.spreading),
            terminationGracePeriodSeconds: args.terminationGracePeriodSeconds,
            containers: [
              {
                ...args.container,
                volumeMounts: [
                  { name: volume.name, mountPath: volume.mountPath },
                  { name: "config", mountPath: args.config.mountPath, readOnly: true },
                ],
              },
            ],
            volumes: [configVolume(args.config.source)],
          },
        },
        volumeClaimTemplates: [volumeClaim(volume.name, labels, volume.storageClassName, volume.sizeGi)],
      },
    },
    { parent, dependsOn: [headless, ...(args.startAfter ?? [])] },
  );

  onePodAtATime(parent, `${name}-pdb`, namespace, labels);
  return { statefulSet, services };
}

function configVolume(source: ConfigSource): k8s.types.input.core.v1.Volume {
  if ("configMap" in source) return { name: "config", configMap: { name: source.configMap } };
  // Readable by the pod's group (fsGroup) only.
  return { name: "config", secret: { secretName: source.secret, defaultMode: 0o440 } };
}
