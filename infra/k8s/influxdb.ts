// The InfluxDB replicas: a StatefulSet whose pods each get their own premium volume (seed 000's one
// shared disk cannot work: each influxd keeps its own index and cache). Each replica has a Service of
// its own, which the relays write to and query (HAProxy never reaches it); a PodDisruptionBudget lets a
// drain take only one replica at a time.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hardenedContainer, httpProbe } from "./pod.js";
import { componentLabels, K8S_PORTS, PATHS, type KubernetesPlan } from "./plan.js";
import { statefulPods, type ServicePort } from "./stateful-pods.js";

export interface InfluxDbReplicasArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
  readonly image: string;
  readonly storageClassName: pulumi.Input<string>;
  readonly volumeSizeGb: number;
  /** Holds the admin user and password: the influx CLI in the pod reads them (kubectl exec ... influx). */
  readonly adminSecretName: pulumi.Input<string>;
}

const labels = componentLabels("influxdb");

export class InfluxDbReplicas extends pulumi.ComponentResource {
  readonly statefulSet: k8s.apps.v1.StatefulSet;
  /** The per-replica Services; the relays resolve them when they start. */
  readonly services: k8s.core.v1.Service[];

  constructor(name: string, args: InfluxDbReplicasArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:InfluxDbReplicas", name, {}, opts);
    const { plan, namespace } = args;
    const udpPort = plan.topology.replicas[0]!.udpPort;

    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { namespace, labels }, data: { "influxdb.conf": plan.influxdbConfig } },
      { parent: this },
    );
    const ports: ServicePort[] = [
      { name: "http", port: K8S_PORTS.influxdbHttp, targetPort: "http", protocol: "TCP" },
      ...(udpPort === undefined ? [] : [{ name: "udp", port: udpPort, targetPort: "udp", protocol: "UDP" } as const]),
    ];
    const credential = (key: string) => ({ valueFrom: { secretKeyRef: { name: args.adminSecretName, key } } });
    const pods = statefulPods(this, name, {
      plan,
      namespace,
      component: "influxdb",
      setName: plan.influxdbName,
      podNames: plan.topology.replicas.map((r) => r.name),
      spreading: "spread",
      // influxd flushes its cache on SIGTERM; a large one takes a while.
      terminationGracePeriodSeconds: 120,
      servicePorts: ports,
      container: hardenedContainer({
        name: "influxdb",
        image: args.image,
        // Straight to influxd: the image's entrypoint script would set up users itself.
        command: ["influxd", "-config", `${PATHS.influxdbConfigDir}/influxdb.conf`],
        ports: [
          { name: "http", containerPort: K8S_PORTS.influxdbHttp, protocol: "TCP" },
          ...(udpPort === undefined ? [] : [{ name: "udp", containerPort: udpPort, protocol: "UDP" }]),
        ],
        env: [
          { name: "INFLUX_USERNAME", ...credential("username") },
          { name: "INFLUX_PASSWORD", ...credential("password") },
        ],
        resources: { requests: { cpu: "1", memory: "4Gi" }, limits: { memory: "12Gi" } },
        // Opening a large data directory takes minutes; liveness waits for the first /ping.
        startupProbe: httpProbe("/ping", K8S_PORTS.influxdbHttp, 10, 90),
        readinessProbe: httpProbe("/ping", K8S_PORTS.influxdbHttp, 5, 2),
        livenessProbe: httpProbe("/ping", K8S_PORTS.influxdbHttp, 10, 6),
      }),
      config: { source: { configMap: config.metadata.name }, mountPath: PATHS.influxdbConfigDir },
      volume: { name: "data", mountPath: PATHS.influxdbData, storageClassName: args.storageClassName, sizeGi: args.volumeSizeGb },
    });

    this.statefulSet = pods.statefulSet;
    this.services = pods.services;
    this.registerOutputs({ statefulSetName: this.statefulSet.metadata.name });
  }
}
