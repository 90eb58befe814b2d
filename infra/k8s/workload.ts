// The whole HA layout on a Kubernetes cluster, from planKubernetesWorkload's plan: the namespace, the
// premium StorageClass (unless the stack names one), the admin Secret, the InfluxDB replicas, the
// relays, HAProxy, the network policies, the bootstrap Job, and with prometheusOperator the Prometheus
// Operator's objects. Targets aks and k8s both use it; only the provider (which cluster) and where the
// relay image comes from differ.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { clientScheme } from "../../haproxy/render.js";
import type { KubernetesConfig, StackConfig } from "../config.js";
import { createAdminStatement } from "../../influxdb/influxql.js";
import { DatabaseBootstrap } from "./bootstrap.js";
import { HaproxyTier } from "./haproxy.js";
import { InfluxDbReplicas } from "./influxdb.js";
import { Monitoring } from "./monitoring.js";
import { NetworkPolicies } from "./network-policies.js";
import { AZURE_INTERNAL_LB, planKubernetesWorkload, serviceAddress, type KubernetesPlan } from "./plan.js";
import { RelayTier } from "./relays.js";

export interface InfluxHaWorkloadArgs {
  readonly config: StackConfig;
  readonly kubernetes: KubernetesConfig;
  readonly relayImage: pulumi.Input<string>;
  /** AKS: the pods go to the InfluxDB pool, by its label. */
  readonly onDedicatedPool: boolean;
}

export class InfluxHaWorkload extends pulumi.ComponentResource {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Output<string>;
  /** http(s)://<address>:<port> of the clients' Service: writes, queries, /ping and /health. */
  readonly clientEndpoint: pulumi.Output<string>;
  /** <address>:<port> of the UDP Service, when UDP is on. */
  readonly udpEndpoint: pulumi.Output<string> | undefined;

  constructor(name: string, args: InfluxHaWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:InfluxHaWorkload", name, {}, opts);
    const { config, kubernetes } = args;
    const plan = planKubernetesWorkload(config, kubernetes, args.onDedicatedPool);

    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: plan.namespace } }, { parent: this });
    const namespace = ns.metadata.name;

    const storageClassName =
      kubernetes.storageClass ??
      new k8s.storage.v1.StorageClass(
        `${name}-premium`,
        {
          metadata: { name: `${plan.namespace}-premium` },
          provisioner: "disk.csi.azure.com",
          parameters: { skuName: "Premium_LRS", cachingMode: "None" },
          // A released volume keeps its data: a deleted claim or namespace never deletes a replica's disk.
          reclaimPolicy: "Retain",
          // The disk is made in the zone the pod is scheduled to, not the other way round.
          volumeBindingMode: "WaitForFirstConsumer",
          allowVolumeExpansion: true,
        },
        { parent: this },
      ).metadata.name;

    const admin = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: { namespace },
        type: "Opaque",
        stringData: pulumi.secret({
          username: config.influxAdminUser,
          password: config.influxAdminPassword,
          "create-admin.influxql": createAdminStatement(config.influxAdminUser, config.influxAdminPassword),
        }),
      },
      { parent: this },
    );

    const clientService = {
      type: kubernetes.serviceType,
      annotations: kubernetes.serviceType === "LoadBalancer" && !config.publicEndpoint ? AZURE_INTERNAL_LB : {},
    };
    const influxdb = new InfluxDbReplicas(
      `${name}-influxdb`,
      {
        plan,
        namespace,
        image: kubernetes.influxdbImage,
        storageClassName,
        volumeSizeGb: kubernetes.volumeSizeGb,
        adminSecretName: admin.metadata.name,
      },
      { parent: this },
    );
    const relays = new RelayTier(
      `${name}-relay`,
      {
        plan,
        namespace,
        image: args.relayImage,
        storageClassName,
        clientService,
        udpPort: config.udpPort,
        replicaServices: influxdb.services,
      },
      { parent: this },
    );
    const haproxy = new HaproxyTier(
      `${name}-haproxy`,
      {
        plan,
        namespace,
        replicas: kubernetes.haproxies,
        clientService,
        clientPort: config.clientPort,
        clientTls: config.clientTls,
      },
      { parent: this },
    );
    new NetworkPolicies(`${name}-netpol`, { plan, namespace }, { parent: this });
    if (plan.monitoring?.operator) {
      new Monitoring(
        `${name}-monitoring`,
        { monitoring: plan.monitoring, namespace, statsSecretName: haproxy.statsSecretName },
        { parent: this },
      );
    }
    new DatabaseBootstrap(
      `${name}-bootstrap`,
      {
        plan,
        namespace,
        image: kubernetes.influxdbImage,
        adminSecretName: admin.metadata.name,
        replicas: [influxdb.statefulSet, ...influxdb.services],
      },
      { parent: this },
    );

    this.plan = plan;
    this.namespace = namespace;
    this.clientEndpoint = pulumi.interpolate`${clientScheme(plan.topology)}://${serviceEndpoint(haproxy.clientService, kubernetes)}`;
    this.udpEndpoint = relays.udpService === undefined ? undefined : serviceEndpoint(relays.udpService, kubernetes);
    this.registerOutputs({ namespace: this.namespace, clientEndpoint: this.clientEndpoint, udpEndpoint: this.udpEndpoint });
  }
}

/**
 * Where a Service is reached: a LoadBalancer's address, any node's address for a NodePort, and the
 * Service's own name from inside the cluster for a ClusterIP.
 */
function serviceEndpoint(service: k8s.core.v1.Service, kubernetes: KubernetesConfig): pulumi.Output<string> {
  return pulumi.all([service.metadata, service.spec, service.status]).apply(([metadata, spec, status]) => {
    const port = spec.ports[0]!;
    switch (kubernetes.serviceType) {
      case "LoadBalancer": {
        const ingress = status?.loadBalancer?.ingress?.[0];
        return `${ingress?.ip ?? ingress?.hostname ?? "<pending>"}:${port.port}`;
      }
      case "NodePort":
        return `<node address>:${port.nodePort}`;
      case "ClusterIP":
        return `${serviceAddress(metadata.name, kubernetes)}:${port.port}`;
    }
  });
}
