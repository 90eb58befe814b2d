// The whole HA layout on a new AKS cluster: resource group, the cluster with its two pools, the relay
// image (unless the stack names one) and the Kubernetes workload on the InfluxDB pool.
import * as resources from "@pulumi/azure-native/resources/index.js";
import * as pulumi from "@pulumi/pulumi";
import type { AksConfig, KubernetesConfig, StackConfig } from "../config.js";
import { InfluxHaWorkload } from "../k8s/workload.js";
import type { RelayBundle } from "../relay-bundle.js";
import { AksCluster } from "./aks-cluster.js";
import { RelayImage } from "./relay-image.js";

export interface AksLayoutArgs {
  readonly config: StackConfig;
  readonly kubernetes: KubernetesConfig;
  readonly aks: AksConfig;
  /** Built into the relay image; needed unless the stack names an image (relayImage). */
  readonly relayBundle: RelayBundle | undefined;
}

export class AksLayout extends pulumi.ComponentResource {
  readonly resourceGroupName: pulumi.Output<string>;
  readonly clusterName: pulumi.Output<string>;
  readonly kubeconfig: pulumi.Output<string>;
  readonly relayImage: pulumi.Output<string>;
  readonly workload: InfluxHaWorkload;

  constructor(name: string, args: AksLayoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:AksLayout", name, {}, opts);
    const { config, kubernetes, aks } = args;

    const group = new resources.ResourceGroup(`${name}-rg`, { location: config.location }, { parent: this });
    const common = { resourceGroupName: group.name, location: group.location };
    const cluster = new AksCluster(
      `${name}-aks`,
      { ...common, aks, influxdbNodeCount: Math.max(config.replicas, kubernetes.relays, kubernetes.haproxies) },
      { parent: this },
    );
    let built: RelayImage | undefined;
    if (kubernetes.relayImage === undefined) {
      if (args.relayBundle === undefined) throw new Error("AksLayout: relayBundle is needed when the stack names no relayImage");
      built = new RelayImage(
        `${name}-relay`,
        { ...common, bundle: args.relayBundle, pullerPrincipalId: cluster.kubeletPrincipalId },
        { parent: this },
      );
    }
    const relayImage = built?.ref ?? pulumi.output(kubernetes.relayImage!);

    this.workload = new InfluxHaWorkload(
      `${name}-workload`,
      { config, kubernetes, relayImage, onDedicatedPool: true },
      // The kubelet may pull the image once its AcrPull grant exists.
      { parent: this, provider: cluster.provider, dependsOn: built === undefined ? [] : [built] },
    );
    this.resourceGroupName = group.name;
    this.clusterName = cluster.clusterName;
    this.kubeconfig = cluster.kubeconfig;
    this.relayImage = relayImage;
    this.registerOutputs({
      resourceGroupName: this.resourceGroupName,
      clusterName: this.clusterName,
      kubeconfig: this.kubeconfig,
      relayImage: this.relayImage,
    });
  }
}
