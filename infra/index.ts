// The Pulumi program (Pulumi.yaml's main): reads and checks the stack config, then declares the target's
// layout. A bad config stops here, before any resource is declared, with every problem listed.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { StackConfigError, parseStackConfig, type StackConfig } from "./config.js";
import { AksLayout } from "./azure/aks-layout.js";
import { VmLayout } from "./azure/vm-layout.js";
import { InfluxHaWorkload } from "./k8s/workload.js";
import { buildRelayBundle } from "./relay-bundle.js";

function readStackConfig(): StackConfig {
  try {
    // The raw values, secrets included: they are wrapped as secrets again wherever they are used.
    return parseStackConfig((key) => pulumi.runtime.getConfig(key));
  } catch (err) {
    // A RunError is shown without a stack trace: the message is the whole story.
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

/** The stack's outputs: the endpoints, the stats credentials and the relays' admin token everywhere, the rest where it applies. */
interface StackOutputs {
  readonly clientEndpoint: pulumi.Output<string>;
  readonly udpEndpoint: pulumi.Output<string> | undefined;
  readonly statsUser: string;
  readonly statsPassword: pulumi.Output<string>;
  /** The Bearer token of every relay's POST /admin/flush and /admin/mark-in-sync: influx-ha repair's. */
  readonly relayAdminToken: pulumi.Output<string>;
  readonly resourceGroupName?: pulumi.Output<string>;
  /** vm: one stats page per node. aks, k8s: kubectl port-forward to the HAProxy Deployment (README). */
  readonly statsUrls?: string[];
  readonly nodePrivateIps?: string[];
  readonly clusterName?: pulumi.Output<string>;
  readonly kubeconfig?: pulumi.Output<string>;
  readonly relayImage?: pulumi.Output<string>;
  readonly namespace?: pulumi.Output<string>;
}

function declare(config: StackConfig): StackOutputs {
  if (config.vm !== undefined) {
    const layout = new VmLayout("influx-ha", { config, vm: config.vm, relayBundle: buildRelayBundle() });
    return {
      resourceGroupName: layout.resourceGroupName,
      clientEndpoint: layout.clientEndpoint,
      udpEndpoint: layout.udpEndpoint,
      statsUrls: layout.statsUrls,
      statsUser: layout.statsUser,
      statsPassword: layout.statsPassword,
      relayAdminToken: layout.relayAdminToken,
      nodePrivateIps: layout.nodePrivateIps,
    };
  }
  if (config.aks !== undefined && config.kubernetes !== undefined) {
    const relayBundle = config.kubernetes.relayImage === undefined ? buildRelayBundle() : undefined;
    const layout = new AksLayout("influx-ha", { config, kubernetes: config.kubernetes, aks: config.aks, relayBundle });
    return {
      resourceGroupName: layout.resourceGroupName,
      clusterName: layout.clusterName,
      kubeconfig: layout.kubeconfig,
      relayImage: layout.relayImage,
      ...workloadOutputs(layout.workload),
    };
  }
  // Target k8s: the cluster the stack's kubeconfig (or the ambient one) points at.
  const kubernetes = config.kubernetes!;
  const provider = new k8s.Provider(
    "influx-ha-cluster",
    kubernetes.kubeconfig === undefined ? {} : { kubeconfig: pulumi.secret(kubernetes.kubeconfig) },
  );
  const workload = new InfluxHaWorkload(
    "influx-ha",
    { config, kubernetes, relayImage: kubernetes.relayImage!, onDedicatedPool: false },
    { provider },
  );
  return workloadOutputs(workload);
}

function workloadOutputs(workload: InfluxHaWorkload): StackOutputs {
  return {
    namespace: workload.namespace,
    clientEndpoint: workload.clientEndpoint,
    udpEndpoint: workload.udpEndpoint,
    statsUser: workload.plan.topology.stats.user,
    statsPassword: pulumi.secret(workload.plan.topology.stats.password),
    relayAdminToken: pulumi.secret(workload.plan.topology.relayAdminToken),
  };
}

const outputs = declare(readStackConfig());

export const resourceGroupName = outputs.resourceGroupName;
export const clusterName = outputs.clusterName;
export const kubeconfig = outputs.kubeconfig;
export const relayImage = outputs.relayImage;
export const namespace = outputs.namespace;
export const clientEndpoint = outputs.clientEndpoint;
export const udpEndpoint = outputs.udpEndpoint;
export const statsUrls = outputs.statsUrls;
export const statsUser = outputs.statsUser;
export const statsPassword = outputs.statsPassword;
export const relayAdminToken = outputs.relayAdminToken;
export const nodePrivateIps = outputs.nodePrivateIps;
