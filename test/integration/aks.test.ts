// The AKS layout's resource graph under Pulumi's mocks: the cluster and its pools, the relay image and
// its pull grant, and every Kubernetes object of the workload, each also validated against the
// Kubernetes OpenAPI schema (kubernetes-models), and what Prometheus gets: NetworkPolicy rules, pod
// annotations or the Prometheus Operator's objects, whose shape is checked against the operator's API by
// hand (kubernetes-models has no schema for them). No cloud, no cluster and no Pulumi CLI are involved.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseStackConfig } from "../../infra/config.js";
import type { AksLayout } from "../../infra/azure/aks-layout.js";
import { buildRelayBundle, type RelayBundle } from "../../infra/relay-bundle.js";
import { parseConfig } from "../../relay/config.js";
import {
  MOCK_IMAGE_DIGEST,
  MOCK_KUBECONFIG,
  MOCK_KUBELET_OBJECT_ID,
  MOCK_PUBLIC_IP,
  setAzureMocks,
  unwrapSecrets,
  value,
} from "../helpers/azure-mocks.js";
import { validateKubernetesObject } from "../helpers/kubernetes-schema.js";
import { ResourceGraph, type Declared } from "../helpers/resource-graph.js";
import { AKS_STACK, stackReader } from "../helpers/stack-config.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

const graph = new ResourceGraph();
await setAzureMocks(graph.onResource);

let bundle: RelayBundle;
beforeAll(async () => {
  bundle = buildRelayBundle(await tempDir("bundle-"));
});

/**
 * Declares an AksLayout for the stack values given and waits until every resource is registered: `all` with the
 * secrets unwrapped, `raw` as the engine received them.
 */
async function declare(
  overrides: Record<string, string | undefined> = {},
): Promise<{ layout: AksLayout; all: Declared[]; raw: Declared[] }> {
  const config = parseStackConfig(stackReader({ ...AKS_STACK, ...overrides }));
  const { AksLayout } = await import("../../infra/azure/aks-layout.js");
  const { result, all } = await graph.declare(
    (opts) => new AksLayout("influx-ha", { config, kubernetes: config.kubernetes!, aks: config.aks!, relayBundle: bundle }, opts),
    5_000,
  );
  return { layout: result, all: all.map((d) => ({ ...d, inputs: unwrapSecrets(d.inputs) as Record<string, any> })), raw: all };
}

const ofType = (all: Declared[], type: string): Declared[] => all.filter((d) => d.type === type);
const one = (all: Declared[], type: string, name?: string): Declared => {
  const found = ofType(all, type).filter((d) => name === undefined || d.inputs.metadata?.name === name);
  expect(found, `${type} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};
const podSpec = (d: Declared): Record<string, any> => d.inputs.spec.template.spec;

describe("the AKS layout", () => {
  it("declares a cluster with a tainted system pool and a premium InfluxDB pool across zones", async () => {
    const { all, layout } = await declare({ "influx-ha:replicas": "3" });
    const cluster = one(all, "azure-native:containerservice:ManagedCluster");
    expect(cluster.inputs.agentPoolProfiles).toEqual([
      expect.objectContaining({
        name: "system",
        mode: "System",
        vmSize: "Standard_D2s_v5",
        count: 2,
        availabilityZones: ["1", "2", "3"],
        nodeTaints: ["CriticalAddonsOnly=true:NoSchedule"],
      }),
    ]);
    expect(cluster.inputs.networkProfile).toMatchObject({ networkPlugin: "azure", networkPolicy: "cilium" });
    expect(cluster.opts.ignoreChanges).toEqual(["agentPoolProfiles"]);

    const pool = one(all, "azure-native:containerservice:AgentPool");
    expect(pool.inputs).toMatchObject({
      agentPoolName: "influxdb",
      mode: "User",
      vmSize: "Standard_D4s_v5",
      count: 3,
      availabilityZones: ["1", "2", "3"],
      nodeLabels: { "influx-ha/pool": "influxdb" },
      nodeTaints: ["influx-ha/pool=influxdb:NoSchedule"],
    });

    const provider = one(all, "pulumi:providers:kubernetes");
    expect(provider.inputs.kubeconfig).toBe(MOCK_KUBECONFIG);
    expect(await pulumi.isSecret(layout.kubeconfig)).toBe(true);
    // Every Kubernetes object goes to the new cluster, through that provider.
    const k8sObjects = all.filter((d) => d.type.startsWith("kubernetes:"));
    expect(k8sObjects.length).toBeGreaterThan(20);
    for (const object of k8sObjects) expect(object.provider, object.name).toMatch(/::influx-ha-aks-provider::/);
  });

  it("builds the relay image into its own registry and lets the kubelet pull it", async () => {
    const { all, layout } = await declare();
    const registry = one(all, "azure-native:containerregistry:Registry");
    expect(registry.inputs).toMatchObject({ adminUserEnabled: true, sku: { name: "Standard" } });
    const image = one(all, "docker-build:index:Image");
    expect(image.inputs).toMatchObject({
      push: true,
      platforms: ["linux/amd64"],
      tags: ["influxharelayregistry.azurecr.io/influx-relay:0.1.0"],
    });
    expect(image.inputs.dockerfile.location).toMatch(/\/relay\/Dockerfile$/);
    expect(image.inputs.context.location).toBe(bundle.path.replace(/\/influx-relay\.mjs$/, ""));
    expect(image.inputs.registries).toEqual([
      { address: "influxharelayregistry.azurecr.io", username: "registry-admin", password: "registry-password" },
    ]);

    const pull = one(all, "azure-native:authorization:RoleAssignment");
    expect(pull.inputs).toMatchObject({
      principalId: MOCK_KUBELET_OBJECT_ID,
      principalType: "ServicePrincipal",
      scope: "influx-ha-relay-registry-id",
    });
    expect(pull.inputs.roleDefinitionId).toMatch(/\/roleDefinitions\/7f951dda-4ed3-4680-a7ca-43fe172d538d$/);

    const relays = one(all, "kubernetes:apps/v1:StatefulSet", "relay");
    const ref = `influxharelayregistry.azurecr.io/influx-relay:0.1.0@${MOCK_IMAGE_DIGEST}`;
    expect(podSpec(relays).containers[0].image).toBe(ref);
    expect(await value(layout.relayImage)).toBe(ref);
  });

  it("uses a configured relay image and then builds none", async () => {
    const { all } = await declare({ "influx-ha:relayImage": "registry.example.com/influx-relay:0.1.0" });
    expect(ofType(all, "azure-native:containerregistry:Registry")).toEqual([]);
    expect(ofType(all, "docker-build:index:Image")).toEqual([]);
    expect(podSpec(one(all, "kubernetes:apps/v1:StatefulSet", "relay")).containers[0].image).toBe(
      "registry.example.com/influx-relay:0.1.0",
    );
  });

  it("creates a retained, zone-following Premium_LRS class and gives every replica and relay its own volume of it", async () => {
    const { all } = await declare({ "influx-ha:replicas": "3", "influx-ha:dataDiskSizeGb": "512" });
    const storageClass = one(all, "kubernetes:storage.k8s.io/v1:StorageClass");
    expect(storageClass.inputs).toMatchObject({
      metadata: { name: "influx-ha-premium" },
      provisioner: "disk.csi.azure.com",
      parameters: { skuName: "Premium_LRS" },
      reclaimPolicy: "Retain",
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
    });
    const influxdb = one(all, "kubernetes:apps/v1:StatefulSet", "influxdb");
    expect(influxdb.inputs.spec.replicas).toBe(3);
    expect(influxdb.inputs.spec.volumeClaimTemplates).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ name: "data" }),
        spec: { accessModes: ["ReadWriteOnce"], storageClassName: "influx-ha-premium", resources: { requests: { storage: "512Gi" } } },
      }),
    ]);
    const relays = one(all, "kubernetes:apps/v1:StatefulSet", "relay");
    expect(relays.inputs.spec.volumeClaimTemplates[0].spec).toMatchObject({
      storageClassName: "influx-ha-premium",
      resources: { requests: { storage: "4Gi" } },
    });
  });

  it("uses an existing storage class when the stack names one, and creates none", async () => {
    const { all } = await declare({ "influx-ha:storageClass": "managed-csi-premium" });
    expect(ofType(all, "kubernetes:storage.k8s.io/v1:StorageClass")).toEqual([]);
    const influxdb = one(all, "kubernetes:apps/v1:StatefulSet", "influxdb");
    expect(influxdb.inputs.spec.volumeClaimTemplates[0].spec.storageClassName).toBe("managed-csi-premium");
  });

  it("schedules InfluxDB on the premium pool, spread across zones and hosts, as a non-root user with /ping probes", async () => {
    const { all } = await declare();
    const spec = podSpec(one(all, "kubernetes:apps/v1:StatefulSet", "influxdb"));
    expect(spec.nodeSelector).toEqual({ "influx-ha/pool": "influxdb" });
    expect(spec.tolerations).toEqual([{ key: "influx-ha/pool", operator: "Equal", value: "influxdb", effect: "NoSchedule" }]);
    expect(spec.topologySpreadConstraints.map((c: any) => [c.topologyKey, c.whenUnsatisfiable])).toEqual([
      ["topology.kubernetes.io/zone", "ScheduleAnyway"],
      ["kubernetes.io/hostname", "DoNotSchedule"],
    ]);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 });
    const container = spec.containers[0];
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"])
      expect(container[probe].httpGet).toEqual({ path: "/ping", port: 8086 });
    expect(container.resources.requests).toEqual({ cpu: "1", memory: "4Gi" });

    // Its config comes from a ConfigMap, its credentials from the admin Secret.
    const configMap = spec.volumes.find((v: any) => v.name === "config").configMap.name;
    const config = all.find((d) => d.type === "kubernetes:core/v1:ConfigMap" && d.name === "influx-ha-workload-influxdb-config")!;
    expect(configMap).toBe(`${config.name}-0a1b2c3d`);
    expect(config.inputs.data["influxdb.conf"]).toContain("auth-enabled = true");
    const admin = all.find((d) => d.type === "kubernetes:core/v1:Secret" && d.name === "influx-ha-workload-admin")!;
    expect(admin.inputs.stringData).toMatchObject({ username: "admin", password: "correct-horse-battery" });
    expect(container.env.map((e: any) => [e.name, e.valueFrom.secretKeyRef.name])).toEqual([
      ["INFLUX_USERNAME", `${admin.name}-0a1b2c3d`],
      ["INFLUX_PASSWORD", `${admin.name}-0a1b2c3d`],
    ]);
  });

  it("runs at least two relays on separate hosts, ready on /health, and two HAProxies that roll with their config", async () => {
    const { all } = await declare();
    const relays = one(all, "kubernetes:apps/v1:StatefulSet", "relay");
    expect(relays.inputs.spec.replicas).toBe(2);
    const relaySpec = podSpec(relays);
    expect(relaySpec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      {
        topologyKey: "kubernetes.io/hostname",
        labelSelector: { matchLabels: { "app.kubernetes.io/name": "influx-ha", "app.kubernetes.io/component": "relay" } },
      },
    ]);
    expect(relaySpec.containers[0].readinessProbe.httpGet).toEqual({ path: "/health", port: 9096 });
    expect(relaySpec.containers[0].args).toEqual(["-config", "/etc/influx-relay/$(POD_NAME).toml"]);

    const haproxy = one(all, "kubernetes:apps/v1:Deployment", "haproxy");
    expect(haproxy.inputs.spec.replicas).toBe(2);
    const cfg = all.find((d) => d.name === "influx-ha-workload-haproxy-config")!.inputs.data["haproxy.cfg"];
    expect(haproxy.inputs.spec.template.metadata.annotations).toEqual({
      "influx-ha/haproxy-cfg-sha256": createHash("sha256").update(cfg).digest("hex"),
    });
    expect(podSpec(haproxy).containers[0].image).toBe("haproxy:2.6");
    expect(podSpec(haproxy).containers[0].readinessProbe.httpGet).toEqual({ path: "/health", port: 8086 });

    const pdbs = ofType(all, "kubernetes:policy/v1:PodDisruptionBudget");
    expect(
      pdbs.map((d) => [d.inputs.spec.selector.matchLabels["app.kubernetes.io/component"], d.inputs.spec.maxUnavailable]).sort(),
    ).toEqual([
      ["haproxy", 1],
      ["influxdb", 1],
      ["relay", 1],
    ]);
  });

  it("keeps the relays' configs, which hold the admin token, in a Secret the relay pods mount for their group only, and in no ConfigMap", async () => {
    const { all, raw } = await declare({ "influx-ha:relayAdminToken": "stack-relay-admin-token" });
    const name = "influx-ha-workload-relay-config";
    const secret = all.find((d) => d.type === "kubernetes:core/v1:Secret" && d.name === name)!;
    expect(secret.inputs.type).toBe("Opaque");
    const files = secret.inputs.stringData as Record<string, string>;
    expect(Object.keys(files)).toEqual(["relay-0.toml", "relay-1.toml"]);
    for (const [file, toml] of Object.entries(files)) expect(parseConfig(toml, file).http[0]!.adminToken).toBe("stack-relay-admin-token");
    // The engine gets the files as a secret, so Pulumi keeps them encrypted in the state.
    const received = raw.find((d) => d.name === name)!.inputs.stringData;
    expect(received).not.toEqual(unwrapSecrets(received));

    const relays = podSpec(one(all, "kubernetes:apps/v1:StatefulSet", "relay"));
    expect(relays.volumes).toEqual([{ name: "config", secret: { secretName: `${name}-0a1b2c3d`, defaultMode: 0o440 } }]);
    expect(relays.containers[0].volumeMounts).toContainEqual({ name: "config", mountPath: "/etc/influx-relay", readOnly: true });
    // Only that Secret holds the token: no ConfigMap, no environment, no annotation.
    const holding = all.filter((d) => JSON.stringify(d.inputs).includes("stack-relay-admin-token")).map((d) => d.name);
    expect(holding).toEqual([name]);
  });

  it("exposes HAProxy through a LoadBalancer Service and, with UDP on, the relays through an internal UDP Service", async () => {
    const { all, layout } = await declare({
      "influx-ha:udpDatabase": "telegraf",
      "influx-ha:publicEndpoint": "false",
      "influx-ha:clientPort": "443",
    });
    const client = one(all, "kubernetes:core/v1:Service", "influx-ha");
    expect(client.inputs.spec).toMatchObject({
      type: "LoadBalancer",
      ports: [{ name: "http", port: 443, targetPort: "client", protocol: "TCP" }],
    });
    const internal = { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" };
    expect(client.inputs.metadata.annotations).toMatchObject(internal);
    const udp = one(all, "kubernetes:core/v1:Service", "influx-ha-udp");
    expect(udp.inputs.metadata.annotations).toEqual(internal);
    expect(udp.inputs.spec).toMatchObject({ type: "LoadBalancer", ports: [{ port: 8089, targetPort: "udp", protocol: "UDP" }] });
    expect(udp.inputs.spec.selector["app.kubernetes.io/component"]).toBe("relay");
    // One ClusterIP Service per replica and per relay, named as its pod.
    for (const pod of ["influxdb-0", "influxdb-1", "relay-0", "relay-1"]) {
      const service = one(all, "kubernetes:core/v1:Service", pod);
      expect(service.inputs.spec.selector["statefulset.kubernetes.io/pod-name"]).toBe(pod);
    }
    expect(await value(layout.workload.clientEndpoint)).toBe(`http://${MOCK_PUBLIC_IP}:443`);
    expect(await value(layout.workload.udpEndpoint!)).toBe(`${MOCK_PUBLIC_IP}:8089`);
  });

  it("marks a plain-HTTP public client Service as opted out", async () => {
    const { all, layout } = await declare();
    expect(one(all, "kubernetes:core/v1:Service", "influx-ha").inputs.metadata.annotations).toEqual({ "influx-ha/client-tls": "opt-out" });
    expect(await value(layout.workload.clientEndpoint)).toBe(`http://${MOCK_PUBLIC_IP}:8086`);
  });

  it("with tlsCertificate, mounts it from a Secret, probes over HTTPS and rolls HAProxy when the certificate changes", async () => {
    const pem = selfSignedPem().pem;
    const { all, layout } = await declare({ "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:tlsCertificate": pem });
    const secret = all.find((d) => d.name === "influx-ha-workload-haproxy-tls")!;
    expect(secret.inputs.stringData).toEqual({ "influx-ha.pem": pem });
    const haproxy = one(all, "kubernetes:apps/v1:Deployment", "haproxy");
    expect(haproxy.inputs.spec.template.metadata.annotations["influx-ha/tls-certificate-sha256"]).toBe(
      new X509Certificate(pem).fingerprint256,
    );
    const container = podSpec(haproxy).containers[0];
    expect(container.readinessProbe.httpGet).toEqual({ path: "/health", port: 8086, scheme: "HTTPS" });
    expect(container.volumeMounts).toContainEqual({ name: "tls", mountPath: "/etc/influx-ha/tls", readOnly: true });
    expect(podSpec(haproxy).volumes).toContainEqual({
      name: "tls",
      secret: { secretName: "influx-ha-workload-haproxy-tls-0a1b2c3d", defaultMode: 0o440 },
    });
    const cfg = all.find((d) => d.name === "influx-ha-workload-haproxy-config")!.inputs.data["haproxy.cfg"];
    expect(cfg).toContain("bind 0.0.0.0:8086 ssl crt /etc/influx-ha/tls/influx-ha.pem alpn http/1.1");
    const client = one(all, "kubernetes:core/v1:Service", "influx-ha");
    expect(client.inputs.metadata.annotations).toEqual({ "influx-ha/client-tls": "haproxy" });
    expect(client.inputs.spec.ports[0].name).toBe("https");
    expect(await value(layout.workload.clientEndpoint)).toBe(`https://${MOCK_PUBLIC_IP}:8086`);
    await validateKubernetesObject(haproxy.inputs);
  });

  it("keeps the endpoints inside the VNet when publicEndpoint is false", async () => {
    const { all } = await declare({ "influx-ha:publicEndpoint": "false" });
    expect(one(all, "kubernetes:core/v1:Service", "influx-ha").inputs.metadata.annotations).toEqual({
      "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
      "influx-ha/client-tls": "internal",
    });
  });

  it("denies ingress by default, lets InfluxDB hear only the relays and the bootstrap Job, and the relays HAProxy and each other", async () => {
    const { all } = await declare({ "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false" });
    const policies = Object.fromEntries(
      ofType(all, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((d) => [d.inputs.metadata.name, d.inputs.spec]),
    );
    expect(Object.keys(policies).sort()).toEqual(["default-deny-ingress", "haproxy", "influxdb", "relay"]);
    expect(policies["default-deny-ingress"]).toEqual({ podSelector: {}, policyTypes: ["Ingress"], ingress: [] });
    const sources = (rule: any): string[] =>
      rule.from?.map((f: any) => f.podSelector.matchLabels["app.kubernetes.io/component"]) ?? ["anywhere"];
    const ports = (rule: any): string[] => rule.ports.map((p: any) => `${p.port}/${p.protocol}`);
    expect(policies.influxdb.ingress.map((r: any) => [sources(r), ports(r)])).toEqual([
      [["relay", "bootstrap"], ["8086/TCP"]],
      [["relay"], ["8089/UDP"]],
    ]);
    expect(policies.relay.ingress.map((r: any) => [sources(r), ports(r)])).toEqual([
      [["haproxy", "relay"], ["9096/TCP"]],
      [["anywhere"], ["8089/UDP"]],
    ]);
    expect(policies.haproxy.ingress.map((r: any) => [sources(r), ports(r)])).toEqual([[["anywhere"], ["8086/TCP"]]]);
  });

  it("creates the databases with a Job that runs the shared bootstrap script against every replica", async () => {
    const { all } = await declare({ "influx-ha:replicas": "3" });
    const job = one(all, "kubernetes:batch/v1:Job");
    const container = podSpec(job).containers[0];
    expect(container.image).toBe("influxdb:1.8.10");
    expect(container.command).toEqual([
      "bash",
      "/opt/influx-ha/bootstrap-replicas.sh",
      ...[0, 1, 2].map((i) => `http://influxdb-${i}.influx-ha.svc.cluster.local:8086`),
    ]);
    const files = all.find((d) => d.name === "influx-ha-workload-bootstrap-files")!;
    expect(files.inputs.data["create-databases.influxql"]).toBe('CREATE DATABASE "telegraf"; CREATE DATABASE "app"\n');
    expect(files.inputs.data["bootstrap-replicas.sh"]).toMatch(/^#!\/usr\/bin\/env bash/);
    // It starts once Pulumi has seen the replicas ready.
    const after = await Promise.all((job.opts.dependsOn as pulumi.Resource[]).map((r) => value(r.urn)));
    expect(after.some((urn) => urn.endsWith("::influx-ha-workload-influxdb-statefulset"))).toBe(true);
  });

  it("declares only Kubernetes objects that their OpenAPI schemas accept", async () => {
    const { all } = await declare({ "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false" });
    const objects = all.filter((d) => d.type.startsWith("kubernetes:"));
    const kinds = new Set<string>();
    for (const object of objects) {
      await validateKubernetesObject(object.inputs);
      kinds.add(`${object.inputs.apiVersion}/${object.inputs.kind}`);
    }
    expect([...kinds].sort()).toEqual([
      "apps/v1/Deployment",
      "apps/v1/StatefulSet",
      "batch/v1/Job",
      "networking.k8s.io/v1/NetworkPolicy",
      "policy/v1/PodDisruptionBudget",
      "storage.k8s.io/v1/StorageClass",
      "v1/ConfigMap",
      "v1/Namespace",
      "v1/Secret",
      "v1/Service",
    ]);
    // The check can fail: a StatefulSet with a word for its replica count does not pass.
    const statefulSet = one(all, "kubernetes:apps/v1:StatefulSet", "influxdb").inputs;
    await expect(validateKubernetesObject({ ...statefulSet, spec: { ...statefulSet.spec, replicas: "three" } })).rejects.toThrow(
      /replicas/,
    );
  });
});

describe("the AKS layout with Prometheus", () => {
  const annotationsOnly = { "influx-ha:prometheusNamespace": "monitoring" };
  const operator = {
    ...annotationsOnly,
    "influx-ha:prometheusOperator": "true",
    "influx-ha:prometheusLabels": '["release=kube-prometheus-stack"]',
  };
  const OPERATOR_API = "monitoring.coreos.com/v1";
  const names = (all: Declared[]): string[] => all.map((d) => `${d.type} ${d.name}`).sort();
  const policies = (all: Declared[]): Record<string, any> =>
    Object.fromEntries(ofType(all, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((d) => [d.inputs.metadata.name, d.inputs.spec]));

  it("declares nothing for Prometheus while its keys are unset, and without the operator only annotates and opens", async () => {
    const { all: plain } = await declare();
    expect(
      plain.filter((d) => d.type.includes(OPERATOR_API) || JSON.stringify(d.inputs).includes("prometheus.io/")).map((d) => d.name),
    ).toEqual([]);
    for (const spec of Object.values(policies(plain))) expect(JSON.stringify(spec)).not.toContain("namespaceSelector");

    const { all } = await declare(annotationsOnly);
    expect(names(all)).toEqual(names(plain));
    expect(one(all, "kubernetes:apps/v1:StatefulSet", "relay").inputs.spec.template.metadata.annotations).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9096",
      "prometheus.io/path": "/metrics",
      "prometheus.io/scheme": "http",
    });
    expect(one(all, "kubernetes:apps/v1:Deployment", "haproxy").inputs.spec.template.metadata.annotations).toMatchObject({
      "prometheus.io/scrape": "false",
      "prometheus.io/port": "8404",
      "prometheus.io/path": "/metrics",
    });
    // InfluxDB has no /metrics: its pods are neither annotated nor opened.
    expect(one(all, "kubernetes:apps/v1:StatefulSet", "influxdb").inputs.spec.template.metadata.annotations).toBeUndefined();
  });

  it("lets the pods of Prometheus's namespace reach the relays' and HAProxy's metrics ports, and nothing else", async () => {
    const { all: plain } = await declare();
    for (const stack of [annotationsOnly, operator]) {
      const { all } = await declare(stack);
      const before = policies(plain);
      const after = policies(all);
      const fromPrometheus = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }];
      expect(after.relay.ingress).toEqual([...before.relay.ingress, { from: fromPrometheus, ports: [{ protocol: "TCP", port: 9096 }] }]);
      expect(after.haproxy.ingress).toEqual([
        ...before.haproxy.ingress,
        { from: fromPrometheus, ports: [{ protocol: "TCP", port: 8404 }] },
      ]);
      expect(after.influxdb).toEqual(before.influxdb);
      expect(after["default-deny-ingress"]).toEqual(before["default-deny-ingress"]);
      for (const policy of ofType(all, "kubernetes:networking.k8s.io/v1:NetworkPolicy")) await validateKubernetesObject(policy.inputs);
    }
  });

  it("with the operator, renders the rules file as a PrometheusRule, its groups exactly the file's", async () => {
    const { all } = await declare(operator);
    const rule = one(all, `kubernetes:${OPERATOR_API}:PrometheusRule`);
    expect(rule.name).toBe("influx-ha-workload-monitoring-rules");
    expect(rule.inputs).toMatchObject({
      apiVersion: OPERATOR_API,
      kind: "PrometheusRule",
      metadata: {
        name: "influx-ha",
        namespace: "influx-ha",
        labels: { release: "kube-prometheus-stack", "app.kubernetes.io/name": "influx-ha" },
      },
    });
    const file = parseYaml(readFileSync(new URL("../../observability/prometheus/influx-ha.rules.yml", import.meta.url), "utf8"));
    expect(rule.inputs.spec).toEqual({ groups: file.groups });

    // The operator's API: spec.groups[] of name and rules[], each rule an alert with expr, and optionally
    // for (a duration), labels and annotations (string maps).
    const strings = (map: unknown): boolean =>
      map === undefined || (typeof map === "object" && Object.values(map as object).every((v) => typeof v === "string"));
    expect(rule.inputs.spec.groups.length).toBeGreaterThan(0);
    for (const group of rule.inputs.spec.groups) {
      expect(Object.keys(group).sort()).toEqual(["name", "rules"]);
      expect(typeof group.name).toBe("string");
      for (const r of group.rules) {
        expect(
          Object.keys(r).every((k) => ["alert", "expr", "for", "labels", "annotations"].includes(k)),
          r.alert,
        ).toBe(true);
        expect(r.alert).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        expect(typeof r.expr).toBe("string");
        if (r.for !== undefined) expect(r.for).toMatch(/^(\d+(ms|s|m|h|d|w|y))+$/);
        expect(strings(r.labels) && strings(r.annotations), r.alert).toBe(true);
      }
    }
  });

  it("with the operator, scrapes the relays and HAProxy (with the stats Secret's credentials) through Services that select their pods' named ports", async () => {
    const { all } = await declare(operator);
    const monitors = Object.fromEntries(ofType(all, `kubernetes:${OPERATOR_API}:ServiceMonitor`).map((d) => [d.name, d.inputs]));
    expect(Object.keys(monitors).sort()).toEqual(["influx-ha-workload-monitoring-haproxy", "influx-ha-workload-monitoring-relays"]);
    const services = ofType(all, "kubernetes:core/v1:Service");
    const stats = all.find((d) => d.name === "influx-ha-workload-haproxy-stats")!;
    expect(stats.inputs.stringData).toEqual({ username: "admin", password: expect.any(String) });

    for (const [name, workload, port, job] of [
      ["influx-ha-workload-monitoring-relays", one(all, "kubernetes:apps/v1:StatefulSet", "relay"), "http", "influx-relay"],
      ["influx-ha-workload-monitoring-haproxy", one(all, "kubernetes:apps/v1:Deployment", "haproxy"), "stats", "influx-haproxy"],
    ] as const) {
      const monitor = monitors[name]!;
      expect(monitor).toMatchObject({
        apiVersion: OPERATOR_API,
        kind: "ServiceMonitor",
        metadata: { name: job, namespace: "influx-ha", labels: { release: "kube-prometheus-stack" } },
      });
      const { spec } = monitor;
      expect(Object.keys(spec).sort()).toEqual(["endpoints", "jobLabel", "namespaceSelector", "selector"]);
      expect(spec.namespaceSelector).toEqual({ matchNames: ["influx-ha"] });
      // Exactly one Service matches the selector: no pod is scraped twice.
      const selected = services.filter((d) =>
        Object.entries(spec.selector.matchLabels).every(([k, v]) => d.inputs.metadata.labels?.[k] === v),
      );
      expect(selected, name).toHaveLength(1);
      const service = selected[0]!.inputs;
      // Its label is the job the rules select on; it reaches the component's pods, every one (headless).
      expect(service.metadata.labels[spec.jobLabel]).toBe(job);
      expect(service.spec.clusterIP).toBe("None");
      expect(service.spec.selector).toEqual(workload.inputs.spec.selector.matchLabels);
      await validateKubernetesObject(service);

      expect(spec.endpoints).toHaveLength(1);
      const [endpoint] = spec.endpoints;
      expect(endpoint).toMatchObject({ port, path: "/metrics", scheme: "http", interval: "30s" });
      expect(service.spec.ports.map((p: any) => [p.name, p.targetPort])).toEqual([[port, port]]);
      expect(podSpec(workload).containers[0].ports.map((p: any) => p.name)).toContain(port);
      expect(endpoint.relabelings).toEqual([{ sourceLabels: ["__meta_kubernetes_pod_name"], targetLabel: "instance" }]);
    }
    expect(monitors["influx-ha-workload-monitoring-relays"]!.spec.endpoints[0]).not.toHaveProperty("basicAuth");
    const secretName = `${stats.name}-0a1b2c3d`;
    expect(monitors["influx-ha-workload-monitoring-haproxy"]!.spec.endpoints[0].basicAuth).toEqual({
      username: { name: secretName, key: "username" },
      password: { name: secretName, key: "password" },
    });
    // The pods carry no annotations the ServiceMonitors would duplicate.
    expect(JSON.stringify(all.map((d) => d.inputs))).not.toContain("prometheus.io/");
  });

  it("with the operator, adds the monitoring component and its five objects and nothing else, the core ones valid by their schemas", async () => {
    const { all: plain } = await declare();
    const { all } = await declare(operator);
    const added = names(all).filter((n) => !names(plain).includes(n));
    expect(added).toEqual(
      [
        "influx-ha:k8s:Monitoring influx-ha-workload-monitoring",
        `kubernetes:${OPERATOR_API}:PrometheusRule influx-ha-workload-monitoring-rules`,
        `kubernetes:${OPERATOR_API}:ServiceMonitor influx-ha-workload-monitoring-haproxy`,
        `kubernetes:${OPERATOR_API}:ServiceMonitor influx-ha-workload-monitoring-relays`,
        "kubernetes:core/v1:Service influx-ha-workload-monitoring-haproxy-service",
        "kubernetes:core/v1:Service influx-ha-workload-monitoring-relays-service",
      ].sort(),
    );
    const children = all.filter((d) => d.name.startsWith("influx-ha-workload-monitoring-"));
    const parents = await Promise.all(children.map((d) => value((d.opts.parent as pulumi.Resource).urn)));
    for (const urn of parents) expect(urn).toMatch(/\$influx-ha:k8s:Monitoring::influx-ha-workload-monitoring$/);
    for (const object of all.filter((d) => d.type.startsWith("kubernetes:") && !d.type.includes(OPERATOR_API))) {
      await validateKubernetesObject(object.inputs);
    }
  });
});
