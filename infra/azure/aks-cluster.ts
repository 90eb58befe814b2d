// An AKS cluster with mixed node pools: a small system pool that runs only the cluster's add-ons
// (CriticalAddonsOnly), and a user pool of premium-storage VMs, labelled and tainted for influx-ha, across
// zones. Seed 000 needed acs-engine for this; AKS has it built in. The admin kubeconfig feeds a
// Kubernetes provider, and stays a secret.
import * as containerservice from "@pulumi/azure-native/containerservice/index.js";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { AksConfig } from "../config.js";
import { DEDICATED_POOL } from "../k8s/plan.js";

export interface AksClusterArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly aks: AksConfig;
  /** Nodes in the InfluxDB pool: enough for every replica, relay and HAProxy to have a host of its own. */
  readonly influxdbNodeCount: number;
}

export class AksCluster extends pulumi.ComponentResource {
  readonly clusterName: pulumi.Output<string>;
  readonly kubeconfig: pulumi.Output<string>;
  /** Object id of the kubelet identity: the one that pulls images. */
  readonly kubeletPrincipalId: pulumi.Output<string>;
  readonly provider: k8s.Provider;

  constructor(name: string, args: AksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:AksCluster", name, {}, opts);
    const { aks } = args;
    const zones = aks.zones.length === 0 ? {} : { availabilityZones: [...aks.zones] };

    const cluster = new containerservice.ManagedCluster(
      `${name}-cluster`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        dnsPrefix: name,
        ...(aks.kubernetesVersion === undefined ? {} : { kubernetesVersion: aks.kubernetesVersion }),
        identity: { type: "SystemAssigned" },
        enableRBAC: true,
        // The provider authenticates with the admin credentials.
        disableLocalAccounts: false,
        agentPoolProfiles: [
          {
            name: "system",
            mode: "System",
            type: "VirtualMachineScaleSets",
            osType: "Linux",
            vmSize: aks.systemVmSize,
            count: aks.systemNodeCount,
            ...zones,
            nodeTaints: ["CriticalAddonsOnly=true:NoSchedule"],
          },
        ],
        // Azure CNI powered by Cilium: it enforces the workload's NetworkPolicies.
        networkProfile: {
          networkPlugin: "azure",
          networkPluginMode: "overlay",
          networkDataplane: "cilium",
          networkPolicy: "cilium",
          loadBalancerSku: "standard",
        },
        storageProfile: { diskCSIDriver: { enabled: true } },
      },
      // Azure lists every pool in agentPoolProfiles, the InfluxDB pool too: without this, each refresh
      // would show it as a change. The system pool is changed in the Azure portal or CLI.
      { parent: this, ignoreChanges: ["agentPoolProfiles"] },
    );

    const pool = new containerservice.AgentPool(
      `${name}-influxdb-pool`,
      {
        resourceGroupName: args.resourceGroupName,
        resourceName: cluster.name,
        agentPoolName: "influxdb",
        mode: "User",
        type: "VirtualMachineScaleSets",
        osType: "Linux",
        vmSize: aks.influxdbVmSize,
        count: args.influxdbNodeCount,
        ...zones,
        nodeLabels: { [DEDICATED_POOL.key]: DEDICATED_POOL.value },
        nodeTaints: [`${DEDICATED_POOL.key}=${DEDICATED_POOL.value}:NoSchedule`],
      },
      { parent: this },
    );

    const credentials = containerservice.listManagedClusterAdminCredentialsOutput(
      { resourceGroupName: args.resourceGroupName, resourceName: cluster.name },
      { parent: this },
    );
    this.kubeconfig = pulumi.secret(
      credentials.kubeconfigs.apply((configs) => Buffer.from(configs[0]?.value ?? "", "base64").toString("utf8")),
    );
    this.provider = new k8s.Provider(`${name}-provider`, { kubeconfig: this.kubeconfig }, { parent: this, dependsOn: [pool] });
    this.clusterName = cluster.name;
    this.kubeletPrincipalId = cluster.identityProfile.apply((profile) => profile?.["kubeletidentity"]?.objectId ?? "");
    this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig });
  }
}
