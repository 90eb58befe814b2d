// The whole HA layout on Azure VMs: resource group, network, load balancer, the relay's artifact and one
// InfluxNode per replica, all from planVmLayout's plan and the shared renderers.
import * as resources from "@pulumi/azure-native/resources/index.js";
import * as pulumi from "@pulumi/pulumi";
import { clientScheme } from "../../haproxy/render.js";
import type { StackConfig, VmConfig } from "../config.js";
import { CLIENT_TLS_TAG, COMPONENT_TAG, COMPONENTS } from "../marks.js";
import type { RelayBundle } from "../relay-bundle.js";
import { renderCloudInit } from "../vm/cloud-init.js";
import { planVmLayout, VM_PORTS } from "../vm/plan.js";
import { ClientLoadBalancer } from "./load-balancer.js";
import { Network } from "./network.js";
import { InfluxNode } from "./node.js";
import { RelayArtifact } from "./relay-artifact.js";

export interface VmLayoutArgs {
  readonly config: StackConfig;
  readonly vm: VmConfig;
  readonly relayBundle: RelayBundle;
}

export class VmLayout extends pulumi.ComponentResource {
  readonly resourceGroupName: pulumi.Output<string>;
  /** http(s)://<load balancer>:<clientPort>: writes, queries and /ping. */
  readonly clientEndpoint: pulumi.Output<string>;
  /** <load balancer>:<udpPort>, when UDP is on. */
  readonly udpEndpoint: pulumi.Output<string> | undefined;
  /** One stats page per node's HAProxy, reachable from inside the VNet. */
  readonly statsUrls: string[];
  readonly statsUser: string;
  readonly statsPassword: pulumi.Output<string>;
  /** Every relay's admin-token, in each node's /etc/influx-relay/relay.toml. */
  readonly relayAdminToken: pulumi.Output<string>;
  readonly nodePrivateIps: string[];

  constructor(name: string, args: VmLayoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:VmLayout", name, {}, opts);
    const { config, vm } = args;
    const plan = planVmLayout(config, vm, config.statsPassword);

    const group = new resources.ResourceGroup(`${name}-rg`, { location: config.location }, { parent: this });
    const common = { resourceGroupName: group.name, location: group.location };

    const net = new Network(
      `${name}-network`,
      { ...common, vnetCidr: vm.vnetCidr, subnetCidr: vm.subnetCidr, securityRules: plan.securityRules },
      { parent: this },
    );
    const lb = new ClientLoadBalancer(
      `${name}-lb`,
      {
        ...common,
        subnetId: net.subnetId,
        plan: plan.loadBalancer,
        zones: vm.zones,
        tags: { [COMPONENT_TAG]: COMPONENTS.clientLoadBalancer, [CLIENT_TLS_TAG]: config.clientTls },
      },
      { parent: this },
    );
    const artifact = new RelayArtifact(`${name}-relay`, { ...common, bundle: args.relayBundle }, { parent: this });

    for (const node of plan.nodes) {
      const userData = pulumi.secret(
        pulumi.all([artifact.url, artifact.identityClientId]).apply(([url, identityClientId]) =>
          renderCloudInit({
            plan,
            node,
            influxAdminUser: config.influxAdminUser,
            influxAdminPassword: config.influxAdminPassword,
            tlsCertificate: config.tlsCertificate,
            relayBundle: { url, sha256: artifact.sha256, identityClientId },
          }),
        ),
      );
      new InfluxNode(
        `${name}-${node.name}`,
        {
          ...common,
          subnetId: net.subnetId,
          backendPoolId: lb.backendPoolId,
          node,
          vmSize: vm.vmSize,
          dataDisk: vm.dataDisk,
          adminUsername: vm.adminUsername,
          sshPublicKey: vm.sshPublicKey,
          identityId: artifact.identityId,
          userData,
        },
        // The identity's read access must exist before cloud-init fetches the bundle.
        { parent: this, dependsOn: [artifact] },
      );
    }

    this.resourceGroupName = group.name;
    const scheme = clientScheme(plan.topology);
    this.clientEndpoint = pulumi.interpolate`${scheme}://${lb.frontendAddress}:${config.clientPort}`;
    this.udpEndpoint = config.udpDatabase === undefined ? undefined : pulumi.interpolate`${lb.frontendAddress}:${config.udpPort}`;
    // HAProxy terminates TLS on the stats port too.
    this.statsUrls = plan.nodes.map((n) => `${scheme}://${n.privateIp}:${VM_PORTS.stats}/`);
    this.statsUser = plan.topology.stats.user;
    this.statsPassword = pulumi.secret(config.statsPassword);
    this.relayAdminToken = pulumi.secret(plan.topology.relayAdminToken);
    this.nodePrivateIps = plan.nodes.map((n) => n.privateIp);
    this.registerOutputs({
      resourceGroupName: this.resourceGroupName,
      clientEndpoint: this.clientEndpoint,
      udpEndpoint: this.udpEndpoint,
      statsUrls: this.statsUrls,
      statsUser: this.statsUser,
      statsPassword: this.statsPassword,
      relayAdminToken: this.relayAdminToken,
      nodePrivateIps: this.nodePrivateIps,
    });
  }
}
