// The clients' entry: an Azure Standard Load Balancer, public or internal, in front of every node.
// TCP goes to each node's HAProxy, UDP straight to each node's relay, each rule with its own probe.
import * as authorization from "@pulumi/azure-native/authorization/index.js";
import * as network from "@pulumi/azure-native/network/index.js";
import * as pulumi from "@pulumi/pulumi";
import type { LoadBalancerPlan } from "../vm/plan.js";

export interface ClientLoadBalancerArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly subnetId: pulumi.Input<string>;
  readonly plan: LoadBalancerPlan;
  /** The frontend is zone-redundant across these; empty where the region has no zones. */
  readonly zones: readonly string[];
  /** On the load balancer and its public IP. */
  readonly tags: Readonly<Record<string, string>>;
}

const FRONTEND = "client";
const POOL = "nodes";
const PROBE_INTERVAL_S = 5;
const PROBE_FAILURES = 2;

export class ClientLoadBalancer extends pulumi.ComponentResource {
  readonly backendPoolId: pulumi.Output<string>;
  /** The address clients use: the public IP, or the internal frontend's private IP. */
  readonly frontendAddress: pulumi.Output<string>;

  constructor(name: string, args: ClientLoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:ClientLoadBalancer", name, {}, opts);
    const { plan } = args;
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };
    const zones = args.zones.length > 0 ? [...args.zones] : undefined;

    const publicIp = plan.public
      ? new network.PublicIPAddress(
          `${name}-ip`,
          {
            ...common,
            sku: { name: "Standard", tier: "Regional" },
            publicIPAllocationMethod: "Static",
            publicIPAddressVersion: "IPv4",
            zones,
            tags: { ...args.tags },
          },
          { parent: this },
        )
      : undefined;

    // Rules refer to the frontend, pool and probes of the same resource by id, so its name is fixed.
    const loadBalancerName = `${name}-lb`;
    const subscriptionId = authorization.getClientConfigOutput({ parent: this }).subscriptionId;
    const id = (kind: string, child: string): pulumi.Output<string> =>
      pulumi.interpolate`/subscriptions/${subscriptionId}/resourceGroups/${args.resourceGroupName}/providers/Microsoft.Network/loadBalancers/${loadBalancerName}/${kind}/${child}`;

    const lb = new network.LoadBalancer(
      `${name}-lb`,
      {
        ...common,
        loadBalancerName,
        tags: { ...args.tags },
        sku: { name: "Standard", tier: "Regional" },
        frontendIPConfigurations: [
          publicIp
            ? { name: FRONTEND, publicIPAddress: { id: publicIp.id } }
            : {
                name: FRONTEND,
                subnet: { id: args.subnetId },
                privateIPAllocationMethod: "Static",
                privateIPAddress: plan.privateFrontendIp,
                privateIPAddressVersion: "IPv4",
                zones,
              },
        ],
        backendAddressPools: [{ name: POOL }],
        probes: plan.probes.map((probe) => ({
          name: probe.name,
          protocol: probe.protocol,
          port: probe.port,
          requestPath: probe.path,
          intervalInSeconds: PROBE_INTERVAL_S,
          probeThreshold: PROBE_FAILURES,
        })),
        loadBalancingRules: plan.rules.map((rule) => ({
          name: rule.name,
          protocol: rule.protocol,
          frontendPort: rule.frontendPort,
          backendPort: rule.backendPort,
          frontendIPConfiguration: { id: id("frontendIPConfigurations", FRONTEND) },
          backendAddressPool: { id: id("backendAddressPools", POOL) },
          probe: { id: id("probes", rule.probe) },
          idleTimeoutInMinutes: rule.protocol === "Tcp" ? plan.idleTimeoutMinutes : undefined,
          enableTcpReset: rule.protocol === "Tcp" ? true : undefined,
          // The nodes go out through the subnet's NAT gateway.
          disableOutboundSnat: true,
        })),
      },
      { parent: this },
    );

    // Through lb.id, so the NICs join the pool only once the load balancer exists.
    this.backendPoolId = pulumi.all([lb.id, id("backendAddressPools", POOL)]).apply(([, poolId]) => poolId);
    this.frontendAddress = publicIp ? publicIp.ipAddress.apply((ip) => ip ?? "") : pulumi.output(plan.privateFrontendIp ?? "");
    this.registerOutputs({ backendPoolId: this.backendPoolId, frontendAddress: this.frontendAddress });
  }
}
