// The relays: a StatefulSet, because each relay's durable queue needs a volume of its own that follows
// it. Each pod reads its own rendered config (<pod name>.toml, from a Secret, since it holds the admin
// token), is ready while it can take writes (/health), and never shares a host with another relay. With
// UDP on, a Service takes the clients' datagrams to the relays. With Prometheus and no operator, the pod
// template carries the prometheus.io/* annotations of their /metrics.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ServiceType } from "../config.js";
import { hardenedContainer, httpProbe } from "./pod.js";
import { componentLabels, K8S_PORTS, PATHS, podScrapeAnnotations, type KubernetesPlan } from "./plan.js";
import { statefulPods } from "./stateful-pods.js";

export interface RelayTierArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
  readonly image: pulumi.Input<string>;
  readonly storageClassName: pulumi.Input<string>;
  /** Of the clients' UDP Service, and its annotations (an internal Azure load balancer, for one). */
  readonly clientService: { readonly type: ServiceType; readonly annotations: Readonly<Record<string, string>> };
  readonly udpPort: number;
  /** The replicas' Services: each relay resolves them once, when it starts. */
  readonly replicaServices: readonly pulumi.Resource[];
}

const labels = componentLabels("relay");

export class RelayTier extends pulumi.ComponentResource {
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  readonly services: k8s.core.v1.Service[];
  /** The clients' UDP Service, when UDP is on. */
  readonly udpService: k8s.core.v1.Service | undefined;

  constructor(name: string, args: RelayTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:RelayTier", name, {}, opts);
    const { plan, namespace } = args;
    const relayUdpPort = plan.topology.relays[0]!.udpPort;

    // Each relay.toml holds the relays' admin token: a Secret, not a ConfigMap.
    const config = new k8s.core.v1.Secret(
      `${name}-config`,
      { metadata: { namespace, labels }, type: "Opaque", stringData: pulumi.secret({ ...plan.relayConfigs }) },
      { parent: this },
    );
    const pods = statefulPods(this, name, {
      plan,
      namespace,
      component: "relay",
      setName: plan.relayName,
      podNames: plan.topology.relays.map((r) => r.name),
      spreading: "apart",
      // Time to answer the writes in flight and close the queues cleanly.
      terminationGracePeriodSeconds: 60,
      servicePorts: [{ name: "http", port: K8S_PORTS.relayHttp, targetPort: "http", protocol: "TCP" }],
      container: hardenedContainer({
        name: "relay",
        image: args.image,
        // $(POD_NAME) is expanded by Kubernetes: relay-0 reads relay-0.toml.
        args: ["-config", `${PATHS.relayConfigDir}/$(POD_NAME).toml`],
        env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
        ports: [
          { name: "http", containerPort: K8S_PORTS.relayHttp, protocol: "TCP" },
          ...(relayUdpPort === undefined ? [] : [{ name: "udp", containerPort: relayUdpPort, protocol: "UDP" }]),
        ],
        resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "1Gi" } },
        // Ready while it can take writes: /health answers 503 when no replica takes them.
        readinessProbe: httpProbe("/health", K8S_PORTS.relayHttp, 5, 2),
        livenessProbe: httpProbe("/ping", K8S_PORTS.relayHttp, 10, 6),
      }),
      config: { source: { secret: config.metadata.name }, mountPath: PATHS.relayConfigDir },
      volume: { name: "queue", mountPath: PATHS.relaySpoolRoot, storageClassName: args.storageClassName, sizeGi: plan.relayQueueVolumeGi },
      podAnnotations: podScrapeAnnotations(plan, "relay"),
      startAfter: args.replicaServices,
    });

    this.udpService =
      relayUdpPort === undefined
        ? undefined
        : new k8s.core.v1.Service(
            `${name}-udp`,
            {
              metadata: { name: "influx-ha-udp", namespace, labels, annotations: { ...args.clientService.annotations } },
              spec: {
                type: args.clientService.type,
                selector: { ...labels },
                ports: [{ name: "udp", port: args.udpPort, targetPort: "udp", protocol: "UDP" }],
              },
            },
            { parent: this },
          );

    this.statefulSet = pods.statefulSet;
    this.services = pods.services;
    this.registerOutputs({ statefulSetName: this.statefulSet.metadata.name });
  }
}
