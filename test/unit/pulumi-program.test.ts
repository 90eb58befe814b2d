// infra/index.ts as `pulumi up` runs it, under mocks: a bad stack config stops it before any resource
// is declared; a good one declares the layout and exports the endpoints and the credentials, the secret ones as secrets.
import * as pulumi from "@pulumi/pulumi";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { MOCK_PUBLIC_IP, setAzureMocks, value } from "../helpers/azure-mocks.js";
import { waitFor } from "../helpers/ports.js";
import { AKS_STACK, K8S_STACK, VM_STACK } from "../helpers/stack-config.js";

let declaredTypes: string[] = [];

await setAzureMocks((args) => declaredTypes.push(args.type));

async function runProgram(config: Record<string, string | undefined>): Promise<typeof import("../../infra/index.js")> {
  const values = Object.fromEntries(Object.entries({ ...VM_STACK, ...config }).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  pulumi.runtime.setAllConfig(values, ["influx-ha:influxAdminPassword"]);
  return import("../../infra/index.js");
}

beforeEach(() => {
  declaredTypes = [];
  vi.resetModules();
});

describe("the Pulumi program", () => {
  it("stops on a bad stack config before declaring anything, listing every problem", async () => {
    const run = runProgram({
      "influx-ha:replicas": "1",
      "influx-ha:adminCidrs": '["10.0.0.0/33"]',
      "influx-ha:dataDiskSku": "Premium_ZRS",
    });
    await expect(run).rejects.toThrow(
      [
        "invalid stack config:",
        '  - influx-ha:replicas must be a whole number from 2 to 16, not "1"',
        '  - influx-ha:dataDiskSku must be one of "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS", not "Premium_ZRS"',
        '  - influx-ha:adminCidrs[0] "10.0.0.0/33" has a prefix length that is not 0 to 32',
      ].join("\n"),
    );
    await expect(run).rejects.toBeInstanceOf(pulumi.RunError);
    expect(declaredTypes).toEqual([]);
  });

  it("refuses the Prometheus keys on target vm before declaring anything", async () => {
    const run = runProgram({ "influx-ha:prometheusNamespace": "monitoring", "influx-ha:prometheusOperator": "true" });
    const onVm = "applies to targets aks and k8s; on vm, Prometheus scrapes the nodes by address (README, Monitoring)";
    await expect(run).rejects.toThrow(
      ["invalid stack config:", `  - influx-ha:prometheusNamespace ${onVm}`, `  - influx-ha:prometheusOperator ${onVm}`].join("\n"),
    );
    expect(declaredTypes).toEqual([]);
  });

  it("declares the Prometheus Operator's objects on an existing cluster when the stack asks for them", async () => {
    await runProgram({ ...K8S_STACK, "influx-ha:prometheusNamespace": "monitoring", "influx-ha:prometheusOperator": "true" });
    const operatorKinds = (): string[] => declaredTypes.filter((t) => t.startsWith("kubernetes:monitoring.coreos.com/v1:")).sort();
    await waitFor(async () => operatorKinds().length >= 3, {
      timeoutMs: 2_000,
      intervalMs: 10,
      what: "the operator's objects to register",
    });
    expect(operatorKinds()).toEqual([
      "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
      "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
      "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    ]);
  });

  it("declares an AKS cluster and the workload on it for target aks, with no VMs", async () => {
    const program = await runProgram({ ...AKS_STACK, "influx-ha:relayImage": "registry.example.com/influx-relay:0.1.0" });
    expect(await value(program.clientEndpoint)).toBe(`http://${MOCK_PUBLIC_IP}:8086`);
    expect(program.udpEndpoint).toBeUndefined();
    expect(await pulumi.isSecret(program.kubeconfig!)).toBe(true);
    expect(await pulumi.isSecret(program.relayAdminToken)).toBe(true);
    expect(await value(program.namespace!)).toBe("influx-ha");
    const workload = (): number => declaredTypes.filter((t) => t === "kubernetes:apps/v1:StatefulSet").length;
    await waitFor(async () => workload() >= 2, { timeoutMs: 2_000, intervalMs: 10, what: "the StatefulSets to register" });
    expect(declaredTypes).toContain("azure-native:containerservice:ManagedCluster");
    expect(declaredTypes).not.toContain("azure-native:compute:VirtualMachine");
  });

  it("declares only the workload for target k8s, through a provider for the stack's kubeconfig", async () => {
    const program = await runProgram({
      ...K8S_STACK,
      "influx-ha:serviceType": "ClusterIP",
      "influx-ha:kubeconfig": "/etc/influx-ha/kubeconfig",
    });
    expect(await value(program.clientEndpoint)).toBe("http://influx-ha.influx-ha.svc.cluster.local:8086");
    expect(program.resourceGroupName).toBeUndefined();
    expect(await pulumi.isSecret(program.relayAdminToken)).toBe(true);
    const workload = (): number => declaredTypes.filter((t) => t.startsWith("kubernetes:")).length;
    await waitFor(async () => workload() >= 20, { timeoutMs: 2_000, intervalMs: 10, what: "the workload to register" });
    expect(declaredTypes).toContain("pulumi:providers:kubernetes");
    expect(declaredTypes.filter((t) => t.startsWith("azure-native:"))).toEqual([]);
  });

  it("declares the VM layout for target vm and exports its endpoints", async () => {
    const program = await runProgram({ "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false" });
    // UDP needs an internal endpoint: the load balancer's private frontend.
    expect(await value(program.clientEndpoint)).toBe("http://10.42.1.5:8086");
    expect(await value(program.udpEndpoint!)).toBe("10.42.1.5:8089");
    expect(program.nodePrivateIps).toEqual(["10.42.1.10", "10.42.1.11"]);
    expect(await pulumi.isSecret(program.statsPassword)).toBe(true);
    expect(await pulumi.isSecret(program.relayAdminToken)).toBe(true);
    // The VMs register once the relay blob's URL is known: wait for them, bounded.
    const vms = (): number => declaredTypes.filter((t) => t === "azure-native:compute:VirtualMachine").length;
    await waitFor(async () => vms() >= 2, { timeoutMs: 2_000, intervalMs: 10, what: "the VMs to register" });
    expect(vms()).toBe(2);
  });
});
