// The VM layout's resource graph, under Pulumi's mocks: what `pulumi up` would declare, checked by type,
// count, zone, SKU, rule and option. No cloud and no Pulumi CLI are involved.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { deriveRelayAdminToken, parseStackConfig } from "../../infra/config.js";
import type { VmLayout } from "../../infra/azure/vm-layout.js";
import { buildRelayBundle, type RelayBundle } from "../../infra/relay-bundle.js";
import { MOCK_PUBLIC_IP, MOCK_SUBSCRIPTION as SUBSCRIPTION, setAzureMocks, value } from "../helpers/azure-mocks.js";
import { ResourceGraph, type Declared } from "../helpers/resource-graph.js";
import { stackReader } from "../helpers/stack-config.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

const graph = new ResourceGraph();
await setAzureMocks(graph.onResource);

let bundle: RelayBundle;
beforeAll(async () => {
  bundle = buildRelayBundle(await tempDir("bundle-"));
});

/** Declares a VmLayout for the stack values given and waits until every resource is registered. */
async function declare(overrides: Record<string, string | undefined> = {}): Promise<{ layout: VmLayout; all: Declared[] }> {
  const config = parseStackConfig(stackReader(overrides));
  const { VmLayout } = await import("../../infra/azure/vm-layout.js");
  // The transformation sees every descendant with its options (protect, replaceOnChanges, ...).
  const { result, all } = await graph.declare(
    (opts) => new VmLayout("influx-ha", { config, vm: config.vm!, relayBundle: bundle }, opts),
    2_000,
  );
  return { layout: result, all };
}

const ofType = (all: Declared[], type: string): Declared[] => all.filter((d) => d.type === `azure-native:${type}`);

describe("the VM layout on Azure", () => {
  it("declares one resource group, network, NAT, load balancer and artifact, and per replica a NIC, a data disk and a VM", async () => {
    const { all } = await declare({ "influx-ha:replicas": "3" });
    const count = (type: string): number => ofType(all, type).length;
    expect(count("resources:ResourceGroup")).toBe(1);
    expect(count("network:VirtualNetwork")).toBe(1);
    expect(count("network:Subnet")).toBe(1);
    expect(count("network:NetworkSecurityGroup")).toBe(1);
    expect(count("network:NatGateway")).toBe(1);
    expect(count("network:LoadBalancer")).toBe(1);
    expect(count("network:PublicIPAddress")).toBe(2); // the NAT gateway's and the load balancer's
    expect(count("storage:Blob")).toBe(1);
    expect(count("network:NetworkInterface")).toBe(3);
    expect(count("compute:Disk")).toBe(3);
    expect(count("compute:VirtualMachine")).toBe(3);
    // Every child is named after its component and parented to it.
    const components = all.filter((d) => d.type.startsWith("influx-ha:"));
    expect(components.map((d) => d.type).sort()).toEqual([
      "influx-ha:azure:ClientLoadBalancer",
      "influx-ha:azure:InfluxNode",
      "influx-ha:azure:InfluxNode",
      "influx-ha:azure:InfluxNode",
      "influx-ha:azure:Network",
      "influx-ha:azure:RelayArtifact",
      "influx-ha:azure:VmLayout",
    ]);
    for (const d of all) expect(d.name).toMatch(/^influx-ha(-|$)/);
  });

  it("spreads the nodes across zones, each data disk in its VM's zone, at LUN 0, premium, sized from config and protected", async () => {
    const { all } = await declare({ "influx-ha:replicas": "4", "influx-ha:dataDiskSizeGb": "512" });
    const vms = ofType(all, "compute:VirtualMachine");
    const disks = ofType(all, "compute:Disk");
    expect(vms.map((vm) => vm.inputs.zones)).toEqual([["1"], ["2"], ["3"], ["1"]]);
    expect(disks.map((d) => d.inputs.zones)).toEqual([["1"], ["2"], ["3"], ["1"]]);
    for (const [i, disk] of disks.entries()) {
      expect(disk.inputs.sku).toEqual({ name: "Premium_LRS" });
      expect(disk.inputs.diskSizeGB).toBe(512);
      expect(disk.inputs.creationData).toEqual({ createOption: "Empty" });
      expect(disk.inputs.diskIOPSReadWrite).toBeUndefined();
      expect(disk.opts.protect).toBe(true);
      const { dataDisks } = vms[i]!.inputs.storageProfile;
      expect(dataDisks).toEqual([
        { lun: 0, createOption: "Attach", managedDisk: { id: `${disk.name}-id` }, caching: "None", deleteOption: "Detach" },
      ]);
    }
    for (const vm of vms) {
      expect(vm.inputs.hardwareProfile).toEqual({ vmSize: "Standard_D4s_v5" });
      // customData cannot change in place: the VM is replaced, the old one deleted first to free the disk.
      expect(vm.opts.replaceOnChanges).toEqual(["osProfile.customData"]);
      expect((vm.opts as pulumi.CustomResourceOptions).deleteBeforeReplace).toBe(true);
      expect(vm.opts.protect).toBeFalsy();
    }
  });

  it("gives PremiumV2 disks their IOPS and throughput, and unprotects them only when told", async () => {
    const { all } = await declare({
      "influx-ha:dataDiskSku": "PremiumV2_LRS",
      "influx-ha:dataDiskIops": "6000",
      "influx-ha:dataDiskMbps": "250",
      "influx-ha:protectDataDisks": "false",
    });
    for (const disk of ofType(all, "compute:Disk")) {
      expect(disk.inputs).toMatchObject({ sku: { name: "PremiumV2_LRS" }, diskIOPSReadWrite: 6000, diskMBpsReadWrite: 250 });
      expect(disk.opts.protect).toBe(false);
    }
  });

  it("lets nothing from the internet reach InfluxDB, the relays, the stats page or SSH", async () => {
    const { all } = await declare({});
    const [nsg] = ofType(all, "network:NetworkSecurityGroup");
    const rules = nsg!.inputs.securityRules as Array<Record<string, any>>;
    const fromInternet = rules.filter((r) => r.access === "Allow" && r.direction === "Inbound" && r.sourceAddressPrefixes.some(isInternet));
    const reachable = fromInternet.flatMap((r) => r.destinationPortRanges.map((p: string) => `${p}/${r.protocol}`));
    // HAProxy only, behind the load balancer; the relays' UDP port needs an internal endpoint (config checks).
    expect(reachable).toEqual(["8180/Tcp"]);
    for (const port of ["8086", "8088", "9096", "8404", "22"]) expect(reachable.some((r) => r.startsWith(`${port}/`))).toBe(false);
    expect(rules.find((r) => r.destinationPortRanges.includes("22"))).toBeUndefined(); // no adminCidrs, no SSH rule
  });

  it("opens InfluxDB, the relays and the stats page inside the VNet: every relay reaches every InfluxDB and the other relays", async () => {
    const { all } = await declare({});
    const rules = ofType(all, "network:NetworkSecurityGroup")[0]!.inputs.securityRules as Array<Record<string, any>>;
    const fromVnet = rules.filter(
      (r) => r.access === "Allow" && r.sourceAddressPrefixes.includes("VirtualNetwork") && r.protocol === "Tcp",
    );
    expect(fromVnet.map((r) => [r.name, r.destinationPortRanges])).toEqual([["allow-vnet-services", ["8086", "9096", "8404"]]]);
  });

  it("opens SSH to the adminCidrs only, and keeps clients inside the VNet when the endpoint is internal", async () => {
    const { all, layout } = await declare({
      "influx-ha:adminCidrs": JSON.stringify(["198.51.100.0/24"]),
      "influx-ha:publicEndpoint": "false",
    });
    const rules = ofType(all, "network:NetworkSecurityGroup")[0]!.inputs.securityRules as Array<Record<string, any>>;
    expect(rules.find((r) => r.name === "allow-ssh-from-admins")).toMatchObject({
      sourceAddressPrefixes: ["198.51.100.0/24"],
      destinationPortRanges: ["22"],
      protocol: "Tcp",
    });
    expect(rules.filter((r) => r.sourceAddressPrefixes.some(isInternet))).toEqual([]);
    expect(ofType(all, "network:PublicIPAddress")).toHaveLength(1); // only the NAT gateway's
    const [lb] = ofType(all, "network:LoadBalancer");
    expect(lb!.inputs.frontendIPConfigurations[0]).toMatchObject({ privateIPAllocationMethod: "Static", privateIPAddress: "10.42.1.5" });
    expect(await value(layout.clientEndpoint)).toBe("http://10.42.1.5:8086");
  });

  it("balances the client port over every HAProxy and UDP over every relay, each with an HTTP probe", async () => {
    const { all } = await declare({
      "influx-ha:udpDatabase": "telegraf",
      "influx-ha:publicEndpoint": "false",
      "influx-ha:clientPort": "8086",
    });
    const [lb] = ofType(all, "network:LoadBalancer");
    const lbId = `/subscriptions/${SUBSCRIPTION}/resourceGroups/influx-ha-rg/providers/Microsoft.Network/loadBalancers/influx-ha-lb-lb`;
    expect(lb!.inputs.sku).toEqual({ name: "Standard", tier: "Regional" });
    expect(lb!.inputs.probes).toEqual([
      { name: "haproxy", protocol: "Http", port: 8180, requestPath: "/health", intervalInSeconds: 5, probeThreshold: 2 },
      { name: "relay", protocol: "Http", port: 9096, requestPath: "/health", intervalInSeconds: 5, probeThreshold: 2 },
    ]);
    const rules = lb!.inputs.loadBalancingRules as Array<Record<string, any>>;
    expect(rules.map((r) => [r.name, r.protocol, r.frontendPort, r.backendPort, r.probe.id])).toEqual([
      ["client", "Tcp", 8086, 8180, `${lbId}/probes/haproxy`],
      ["udp-writes", "Udp", 8089, 8089, `${lbId}/probes/relay`],
    ]);
    // Azure's 4-minute default would cut a 5-minute query short.
    expect(rules[0]!.idleTimeoutInMinutes).toBe(6);
    for (const nic of ofType(all, "network:NetworkInterface")) {
      const [ipConfig] = nic.inputs.ipConfigurations as Array<Record<string, any>>;
      expect(ipConfig!.loadBalancerBackendAddressPools).toEqual([{ id: `${lbId}/backendAddressPools/nodes` }]);
    }
    expect(ofType(all, "network:Subnet")[0]!.inputs).toMatchObject({
      defaultOutboundAccess: false,
      natGateway: { id: "influx-ha-network-nat-id" },
    });
  });

  it("marks the plain-HTTP public endpoint as opted out, and the nodes and disks by their part", async () => {
    const { all, layout } = await declare();
    for (const type of ["network:LoadBalancer", "network:PublicIPAddress"]) {
      const ours = ofType(all, type).filter((d) => d.inputs.tags?.["influx-ha-component"] === "client-load-balancer");
      expect(ours.map((d) => d.inputs.tags["influx-ha-client-tls"])).toEqual(["opt-out"]);
    }
    expect(ofType(all, "compute:VirtualMachine").map((d) => d.inputs.tags)).toEqual(Array(2).fill({ "influx-ha-component": "node" }));
    expect(ofType(all, "compute:Disk").map((d) => d.inputs.tags)).toEqual(Array(2).fill({ "influx-ha-component": "influxdb-data" }));
    expect(await value(layout.clientEndpoint)).toBe(`http://${MOCK_PUBLIC_IP}:8086`);
  });

  it("with tlsCertificate, probes HAProxy over HTTPS, marks the endpoint and gives an https:// endpoint", async () => {
    const { all, layout } = await declare({
      "influx-ha:allowPlaintextPublicEndpoint": undefined,
      "influx-ha:tlsCertificate": selfSignedPem().pem,
    });
    const [lb] = ofType(all, "network:LoadBalancer");
    expect(lb!.inputs.tags["influx-ha-client-tls"]).toBe("haproxy");
    expect(lb!.inputs.probes).toEqual([
      { name: "haproxy", protocol: "Https", port: 8180, requestPath: "/health", intervalInSeconds: 5, probeThreshold: 2 },
    ]);
    expect(await value(layout.clientEndpoint)).toBe(`https://${MOCK_PUBLIC_IP}:8086`);
    expect(layout.statsUrls).toEqual(["https://10.42.1.10:8404/", "https://10.42.1.11:8404/"]);
  });

  it("lets the nodes' identity read the relay blob, and gives each VM that identity and its own cloud-init", async () => {
    const { all } = await declare();
    const [role] = ofType(all, "authorization:RoleAssignment");
    expect(role!.inputs).toMatchObject({
      principalId: "principal-1",
      principalType: "ServicePrincipal",
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1`,
      scope: "influx-ha-relay-container-id",
    });
    expect(ofType(all, "storage:BlobContainer")[0]!.inputs.publicAccess).toBe("None");
    expect(ofType(all, "storage:StorageAccount")[0]!.inputs.allowBlobPublicAccess).toBe(false);
    const userData = ofType(all, "compute:VirtualMachine").map((vm) => {
      expect(vm.inputs.identity).toEqual({ type: "UserAssigned", userAssignedIdentities: ["influx-ha-relay-identity-id"] });
      const osProfile = unwrapSecret(vm.inputs.osProfile);
      expect(osProfile.linuxConfiguration.disablePasswordAuthentication).toBe(true);
      return Buffer.from(osProfile.customData, "base64").toString("utf8");
    });
    expect(userData[0]).toContain("# influx-ha node-0 (10.42.1.10)");
    expect(userData[1]).toContain("# influx-ha node-1 (10.42.1.11)");
    expect(userData[0]).toContain(`RELAY_BUNDLE_SHA256='${bundle.sha256}'`);
    expect(userData[0]).toContain("IDENTITY_CLIENT_ID='client-1'");
  });

  it("keeps the passwords secret: customData, the stats password and the relays' admin token are secret outputs", async () => {
    const { all, layout } = await declare();
    // What the engine receives: osProfile, which holds customData, arrives as a secret.
    for (const vm of ofType(all, "compute:VirtualMachine")) expect(vm.inputs.osProfile[SECRET_SIGNATURE]).toBe(SECRET_VALUE);
    expect(await pulumi.isSecret(layout.statsPassword)).toBe(true);
    expect(await pulumi.isSecret(layout.relayAdminToken)).toBe(true);
    // The token the stack's outputs give is the one every node's relay.toml holds, and the VMs' only place for it.
    const token = await value(layout.relayAdminToken);
    expect(token).toBe(deriveRelayAdminToken("correct-horse-battery"));
    for (const vm of ofType(all, "compute:VirtualMachine")) {
      const customData = Buffer.from(unwrapSecret(vm.inputs.osProfile).customData, "base64").toString("utf8");
      expect(customData).toContain(`admin-token = "${token}"`);
      expect(JSON.stringify({ ...vm.inputs, osProfile: undefined })).not.toContain(token);
    }
    expect(await pulumi.isSecret(layout.clientEndpoint)).toBe(false);
    expect(await value(layout.clientEndpoint)).toBe(`http://${MOCK_PUBLIC_IP}:8086`);
    expect(layout.udpEndpoint).toBeUndefined();
    expect(layout.nodePrivateIps).toEqual(["10.42.1.10", "10.42.1.11"]);
    expect(layout.statsUrls).toEqual(["http://10.42.1.10:8404/", "http://10.42.1.11:8404/"]);
  });
});

// How Pulumi marks a secret value on the wire (sdk/nodejs/runtime/rpc.ts: specialSigKey, specialSecretSig).
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function unwrapSecret(input: any): any {
  return input?.[SECRET_SIGNATURE] === SECRET_VALUE ? input.value : input;
}

function isInternet(prefix: string): boolean {
  return prefix === "Internet" || prefix === "*" || prefix === "0.0.0.0/0" || prefix === "::/0";
}
