// The nodes' network: a VNet with one subnet, its NSG (from the plan's rules; Azure's defaults deny the
// rest of the internet), and a NAT gateway for the nodes' outbound traffic (apt repositories, blob storage),
// since the nodes have no public IPs and new subnets get no default outbound access.
import * as network from "@pulumi/azure-native/network/index.js";
import * as pulumi from "@pulumi/pulumi";
import type { SecurityRulePlan } from "../vm/plan.js";

export interface NetworkArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly vnetCidr: string;
  readonly subnetCidr: string;
  readonly securityRules: readonly SecurityRulePlan[];
}

export class Network extends pulumi.ComponentResource {
  readonly subnetId: pulumi.Output<string>;
  readonly vnetName: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:Network", name, {}, opts);
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };

    const nsg = new network.NetworkSecurityGroup(
      `${name}-nsg`,
      {
        ...common,
        securityRules: args.securityRules.map((rule) => ({
          name: rule.name,
          description: rule.description,
          priority: rule.priority,
          direction: "Inbound",
          access: "Allow",
          protocol: rule.protocol,
          sourceAddressPrefixes: [...rule.sources],
          sourcePortRange: "*",
          destinationAddressPrefix: "VirtualNetwork",
          destinationPortRanges: rule.destinationPorts.map(String),
        })),
      },
      { parent: this },
    );

    const natIp = new network.PublicIPAddress(
      `${name}-nat-ip`,
      { ...common, sku: { name: "Standard", tier: "Regional" }, publicIPAllocationMethod: "Static", publicIPAddressVersion: "IPv4" },
      { parent: this },
    );
    const nat = new network.NatGateway(
      `${name}-nat`,
      { ...common, sku: { name: "Standard" }, publicIpAddresses: [{ id: natIp.id }], idleTimeoutInMinutes: 10 },
      { parent: this },
    );

    const vnet = new network.VirtualNetwork(
      `${name}-vnet`,
      { ...common, addressSpace: { addressPrefixes: [args.vnetCidr] } },
      { parent: this },
    );
    const subnet = new network.Subnet(
      `${name}-subnet`,
      {
        resourceGroupName: args.resourceGroupName,
        virtualNetworkName: vnet.name,
        addressPrefix: args.subnetCidr,
        networkSecurityGroup: { id: nsg.id },
        natGateway: { id: nat.id },
        defaultOutboundAccess: false,
      },
      { parent: this },
    );

    this.subnetId = subnet.id;
    this.vnetName = vnet.name;
    this.registerOutputs({ subnetId: this.subnetId, vnetName: this.vnetName });
  }
}
