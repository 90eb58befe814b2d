// The policy pack (infra/policy): each rule on resources that pass and resources that fail, the layouts
// the program declares (under Pulumi's mocks) passing all four, and the pack served by Pulumi's own
// policy runner, answering the analyzer protocol as it does during `pulumi preview --policy-pack`.
import { readFileSync } from "node:fs";
import type { ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs } from "@pulumi/policy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../../infra/config.js";
import {
  atLeastTwoOfEach,
  INFLUX_HA_POLICIES,
  noDatabaseOrRelayPortFromInternet,
  premiumProtectedDataDisks,
  tlsOnPublicEndpoints,
} from "../../infra/policy/rules.js";
import { buildRelayBundle, type RelayBundle } from "../../infra/relay-bundle.js";
import { setAzureMocks, unwrapSecrets } from "../helpers/azure-mocks.js";
import { startPolicyPack, type RunningPolicyPack } from "../helpers/policy-pack.js";
import { ResourceGraph, type Declared } from "../helpers/resource-graph.js";
import { setAsTheHeaderSays, stackFileReader, stackFiles } from "../helpers/stack-files.js";
import { AKS_STACK, stackReader } from "../helpers/stack-config.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

const graph = new ResourceGraph();
await setAzureMocks(graph.onResource);

interface Subject {
  readonly type: string;
  readonly props: Record<string, any>;
  readonly protect?: boolean;
}

function violations(policy: ResourceValidationPolicy, { type, props, protect = false }: Subject): string[] {
  const found: string[] = [];
  const args = { type, props, name: "subject", urn: `urn:pulumi:test::influx-ha::${type}::subject`, opts: { protect } };
  (policy.validateResource as ResourceValidation)(args as unknown as ResourceValidationArgs, (message) => found.push(message));
  return found;
}

function stackViolations(resources: readonly Subject[]): string[] {
  const found: string[] = [];
  const args = { resources: resources.map((r, i) => ({ ...r, name: `r${i}`, urn: `urn:r${i}`, opts: { protect: r.protect ?? false } })) };
  atLeastTwoOfEach.validateStack(args as unknown as StackValidationArgs, (message) => found.push(message));
  return found;
}

/** Every rule over a declared graph, as the engine would run them: each resource, then the stack. */
function allViolations(all: readonly Declared[]): string[] {
  const subjects = all
    .filter((d) => !d.type.startsWith("influx-ha:"))
    .map((d) => ({ type: d.type, props: unwrapSecrets(d.inputs) as Record<string, any>, protect: d.opts.protect === true }));
  const resourcePolicies = INFLUX_HA_POLICIES.filter((p): p is ResourceValidationPolicy => "validateResource" in p);
  return [
    ...subjects.flatMap((s) => resourcePolicies.flatMap((p) => violations(p, s).map((v) => `${p.name}: ${v}`))),
    ...stackViolations(subjects),
  ];
}

const nsgRule = (rule: Record<string, unknown>): Subject => ({
  type: "azure-native:network:NetworkSecurityGroup",
  props: { securityRules: [{ name: "r", access: "Allow", direction: "Inbound", protocol: "Tcp", ...rule }] },
});
const publicService = (extra: Record<string, any>): Subject => ({
  type: "kubernetes:core/v1:Service",
  props: {
    metadata: { name: "svc", annotations: extra.annotations ?? {} },
    spec: { type: "LoadBalancer", selector: extra.selector ?? {}, ports: extra.ports ?? [{ port: 8086, protocol: "TCP" }] },
  },
});
const INTERNAL_LB = { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" };
const publicLb = (tags: Record<string, string>, rules: Array<Record<string, unknown>>): Subject => ({
  type: "azure-native:network:LoadBalancer",
  props: { tags, frontendIPConfigurations: [{ name: "client", publicIPAddress: { id: "ip" } }], loadBalancingRules: rules },
});
const internalLb = (rules: Array<Record<string, unknown>>): Subject => ({
  type: "azure-native:network:LoadBalancer",
  props: {
    frontendIPConfigurations: [{ name: "client", subnet: { id: "subnet" }, privateIPAddress: "10.42.1.5" }],
    loadBalancingRules: rules,
  },
});

describe("the policy pack's rules", () => {
  let bundle: RelayBundle;
  beforeAll(async () => {
    bundle = buildRelayBundle(await tempDir("bundle-"));
  });

  it("pass every layout the program declares: VM and AKS, plain HTTP by the opt-out, with TLS, internal with UDP", async () => {
    const { VmLayout } = await import("../../infra/azure/vm-layout.js");
    const { AksLayout } = await import("../../infra/azure/aks-layout.js");
    const tls = {
      "influx-ha:allowPlaintextPublicEndpoint": undefined,
      "influx-ha:tlsCertificate": selfSignedPem().pem,
    };
    const internalUdp = { "influx-ha:publicEndpoint": "false", "influx-ha:udpDatabase": "telegraf" };
    const relayImage = { "influx-ha:relayImage": "registry.example.com/influx-relay:0.1.0" };
    for (const overrides of [{}, tls, internalUdp, { "influx-ha:replicas": "3" }]) {
      const vm = parseStackConfig(stackReader(overrides));
      const { all } = await graph.declare(
        (opts) => new VmLayout("influx-ha", { config: vm, vm: vm.vm!, relayBundle: bundle }, opts),
        5_000,
      );
      expect(allViolations(all)).toEqual([]);
      const aks = parseStackConfig(stackReader({ ...AKS_STACK, ...relayImage, ...overrides }));
      const cluster = await graph.declare(
        (opts) => new AksLayout("influx-ha", { config: aks, kubernetes: aks.kubernetes!, aks: aks.aks!, relayBundle: undefined }, opts),
        5_000,
      );
      expect(allViolations(cluster.all)).toEqual([]);
    }

    // The same check fails once the graph is changed the way the rules forbid.
    const vm = parseStackConfig(stackReader());
    const { all } = await graph.declare((opts) => new VmLayout("influx-ha", { config: vm, vm: vm.vm!, relayBundle: bundle }, opts), 5_000);
    const broken = all.map((d) => {
      if (d.type === "azure-native:compute:Disk") return { ...d, opts: { ...d.opts, protect: false } };
      if (d.type === "azure-native:network:LoadBalancer") return { ...d, inputs: { ...d.inputs, tags: {} } };
      return d;
    });
    expect(
      allViolations(broken)
        .map((v) => v.slice(0, v.indexOf(":")))
        .sort(),
    ).toEqual(["premium-protected-data-disks", "premium-protected-data-disks", "tls-on-public-endpoints"]);
  });

  it("pass the layout of every stack file in stacks/", async () => {
    const { VmLayout } = await import("../../infra/azure/vm-layout.js");
    const { AksLayout } = await import("../../infra/azure/aks-layout.js");
    for (const stack of stackFiles()) {
      const config = parseStackConfig(stackFileReader(stack, setAsTheHeaderSays(stack)));
      const { all } = await graph.declare(
        (opts) =>
          config.vm !== undefined
            ? new VmLayout("influx-ha", { config, vm: config.vm, relayBundle: bundle }, opts)
            : new AksLayout("influx-ha", { config, kubernetes: config.kubernetes!, aks: config.aks!, relayBundle: bundle }, opts),
        10_000,
      );
      expect(allViolations(all), stack.name).toEqual([]);
    }
  });

  it("no-database-or-relay-port-from-internet: refuses InfluxDB and relay ports and UDP from anywhere, allows HAProxy's", () => {
    const fails = (s: Subject): number => violations(noDatabaseOrRelayPortFromInternet, s).length;
    expect(fails(nsgRule({ sourceAddressPrefixes: ["Internet"], destinationPortRanges: ["8086"] }))).toBe(1);
    expect(fails(nsgRule({ sourceAddressPrefix: "*", destinationPortRange: "*", protocol: "*" }))).toBe(1);
    expect(fails(nsgRule({ sourceAddressPrefix: "0.0.0.0/0", destinationPortRange: "9000-9100" }))).toBe(1);
    expect(fails(nsgRule({ sourceAddressPrefixes: ["Internet"], destinationPortRanges: ["8089"], protocol: "Udp" }))).toBe(1);
    const standalone = {
      type: "azure-native:network:SecurityRule",
      props: nsgRule({ sourceAddressPrefix: "::/0", destinationPortRange: "8088" }).props.securityRules[0],
    };
    expect(fails(standalone)).toBe(1);
    expect(fails(publicLb({}, [{ name: "db", protocol: "Tcp", frontendPort: 8086, backendPort: 8086 }]))).toBe(1);
    expect(fails(publicService({ selector: { "app.kubernetes.io/component": "influxdb" } }))).toBe(1);
    expect(fails(publicService({ selector: { "app.kubernetes.io/component": "relay" }, ports: [{ port: 8089, protocol: "UDP" }] }))).toBe(
      1,
    );

    expect(fails(nsgRule({ sourceAddressPrefixes: ["Internet"], destinationPortRanges: ["8180"] }))).toBe(0);
    expect(fails(nsgRule({ sourceAddressPrefixes: ["VirtualNetwork"], destinationPortRanges: ["8086", "9096"] }))).toBe(0);
    expect(fails(nsgRule({ sourceAddressPrefixes: ["198.51.100.0/24"], destinationPortRanges: ["22"] }))).toBe(0);
    expect(fails(nsgRule({ access: "Deny", sourceAddressPrefix: "*", destinationPortRange: "*" }))).toBe(0);
    expect(fails(publicLb({}, [{ name: "client", protocol: "Tcp", frontendPort: 8086, backendPort: 8180 }]))).toBe(0);
    expect(fails(internalLb([{ name: "udp", protocol: "Udp", frontendPort: 8089, backendPort: 8089 }]))).toBe(0);
    expect(fails(publicService({ selector: { "app.kubernetes.io/component": "haproxy" } }))).toBe(0);
    expect(fails(publicService({ selector: { "app.kubernetes.io/component": "relay" }, annotations: INTERNAL_LB }))).toBe(0);
  });

  it("premium-protected-data-disks: wants premium SKUs, protected Azure disks and retained volumes", () => {
    const disk = (sku: string, protect: boolean): Subject => ({
      type: "azure-native:compute:Disk",
      props: { sku: { name: sku } },
      protect,
    });
    expect(violations(premiumProtectedDataDisks, disk("Standard_LRS", false))).toEqual([
      "data disk SKU Standard_LRS is not premium SSD",
      "data disk is not protected: pulumi destroy would delete it and its data",
    ]);
    expect(violations(premiumProtectedDataDisks, disk("Premium_LRS", false))).toHaveLength(1);
    for (const sku of ["Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS", "Premium_ZRS"]) {
      expect(violations(premiumProtectedDataDisks, disk(sku, true))).toEqual([]);
    }

    const storageClass = (parameters: Record<string, string>, reclaimPolicy?: string): Subject => ({
      type: "kubernetes:storage.k8s.io/v1:StorageClass",
      props: { metadata: { name: "sc" }, provisioner: "disk.csi.azure.com", parameters, reclaimPolicy },
    });
    expect(violations(premiumProtectedDataDisks, storageClass({ skuName: "StandardSSD_LRS" }))).toEqual([
      'StorageClass "sc" makes StandardSSD_LRS disks, not premium SSD',
      'StorageClass "sc" deletes a released volume (reclaimPolicy Delete); use Retain',
    ]);
    expect(violations(premiumProtectedDataDisks, storageClass({ skuName: "Premium_LRS" }, "Retain"))).toEqual([]);

    const influxdb = (spec: Record<string, unknown>): Subject => ({
      type: "kubernetes:apps/v1:StatefulSet",
      props: { metadata: { labels: { "app.kubernetes.io/component": "influxdb" } }, spec },
    });
    expect(violations(premiumProtectedDataDisks, influxdb({ persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete" } }))).toEqual([
      "the InfluxDB StatefulSet keeps its data without a volume claim",
      "the InfluxDB StatefulSet deletes its volumes when it is deleted",
    ]);
    expect(violations(premiumProtectedDataDisks, influxdb({ volumeClaimTemplates: [{}] }))).toEqual([]);
  });

  it("at-least-two-replicas: counts the node VMs and each tier's pods", () => {
    const node = { type: "azure-native:compute:VirtualMachine", props: { tags: { "influx-ha-component": "node" } } };
    const workload = (kind: string, component: string, replicas?: number): Subject => ({
      type: `kubernetes:apps/v1:${kind}`,
      props: { metadata: { name: component, labels: { "app.kubernetes.io/component": component } }, spec: { replicas } },
    });
    expect(stackViolations([node])).toEqual(["1 node VM runs InfluxDB, a relay and HAProxy; at least 2 are needed"]);
    expect(stackViolations([node, node])).toEqual([]);
    expect(
      stackViolations([workload("StatefulSet", "influxdb", 1), workload("StatefulSet", "relay", 2), workload("Deployment", "haproxy")]),
    ).toEqual(["influxdb runs 1 influxdb pod; at least 2 are needed", "haproxy runs 1 haproxy pod; at least 2 are needed"]);
    expect(
      stackViolations([workload("StatefulSet", "influxdb", 3), workload("StatefulSet", "relay", 2), workload("Deployment", "haproxy", 2)]),
    ).toEqual([]);
  });

  it("tls-on-public-endpoints: wants TLS or the opt-out on a public HTTP endpoint, and nothing of an internal one", () => {
    const client = [{ name: "client", protocol: "Tcp", frontendPort: 8086, backendPort: 8180 }];
    const message =
      "a public client endpoint without TLS (marked %s): set tlsCertificate, make it internal (publicEndpoint false), or opt out with allowPlaintextPublicEndpoint";
    expect(violations(tlsOnPublicEndpoints, publicLb({}, client))).toEqual([message.replace("%s", "null")]);
    expect(violations(tlsOnPublicEndpoints, publicLb({ "influx-ha-client-tls": "internal" }, client))).toEqual([
      message.replace("%s", '"internal"'),
    ]);
    expect(violations(tlsOnPublicEndpoints, publicLb({ "influx-ha-client-tls": "haproxy" }, client))).toEqual([]);
    expect(violations(tlsOnPublicEndpoints, publicLb({ "influx-ha-client-tls": "opt-out" }, client))).toEqual([]);
    expect(violations(tlsOnPublicEndpoints, internalLb(client))).toEqual([]);

    expect(violations(tlsOnPublicEndpoints, publicService({}))).toHaveLength(1);
    expect(violations(tlsOnPublicEndpoints, publicService({ annotations: { "influx-ha/client-tls": "haproxy" } }))).toEqual([]);
    expect(violations(tlsOnPublicEndpoints, publicService({ annotations: INTERNAL_LB }))).toEqual([]);
    // UDP has no TLS; whether it may face the internet at all is the port rule's call.
    expect(violations(tlsOnPublicEndpoints, publicService({ ports: [{ port: 8089, protocol: "UDP" }] }))).toEqual([]);
  });
});

describe("the policy pack under Pulumi's policy runner", () => {
  let pack: RunningPolicyPack;
  beforeAll(async () => {
    pack = await startPolicyPack();
  }, 40_000);
  afterAll(async () => {
    await pack?.stop();
  });

  it("loads from infra/policy and serves its four mandatory rules over the analyzer protocol", async () => {
    expect(pack.name).toBe("influx-ha");
    expect(pack.version).toBe(JSON.parse(readFileSync(new URL("../../infra/policy/package.json", import.meta.url), "utf8")).version);
    expect(pack.policies).toEqual(INFLUX_HA_POLICIES.map((p) => p.name));

    const open = nsgRule({ sourceAddressPrefixes: ["Internet"], destinationPortRanges: ["8086"] });
    expect(await pack.analyze(open.type, open.props)).toEqual([
      {
        policy: "no-database-or-relay-port-from-internet",
        message: expect.stringContaining('security rule "r" lets the internet reach Tcp 8086'),
        enforcementLevel: 1, // MANDATORY: the preview fails
      },
    ]);
    const disk = { sku: { name: "Premium_LRS" } };
    expect(await pack.analyze("azure-native:compute:Disk", disk, true)).toEqual([]);
    expect((await pack.analyze("azure-native:compute:Disk", disk, false)).map((d) => d.policy)).toEqual(["premium-protected-data-disks"]);
  });
});
