import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  certificateProblems,
  deriveRelayAdminToken,
  deriveStatsPassword,
  NAMESPACE,
  parseStackConfig,
  StackConfigError,
} from "../../infra/config.js";
import { AKS_STACK, K8S_STACK, stackReader, VM_STACK } from "../helpers/stack-config.js";
import { projectConfig, projectDefaults } from "../helpers/stack-files.js";
import { selfSignedPem } from "../helpers/tls.js";

function problems(overrides: Record<string, string | undefined>): readonly string[] {
  try {
    parseStackConfig(stackReader(overrides));
  } catch (err) {
    if (err instanceof StackConfigError) return err.problems;
    throw err;
  }
  throw new Error("the config was accepted");
}

describe("parseStackConfig", () => {
  it("fills in the documented defaults for a VM stack", () => {
    const config = parseStackConfig(stackReader());
    expect(config).toMatchObject({
      target: "vm",
      location: "westeurope",
      replicas: 2,
      databases: ["telegraf", "app"],
      udpDatabase: undefined,
      publicEndpoint: true,
      clientPort: 8086,
      udpPort: 8089,
      influxAdminUser: "admin",
      influxAdminPassword: "correct-horse-battery",
      statsPassword: deriveStatsPassword("correct-horse-battery"),
      relayAdminToken: deriveRelayAdminToken("correct-horse-battery"),
    });
    expect(config.vm).toEqual({
      vmSize: "Standard_D4s_v5",
      zones: ["1", "2", "3"],
      dataDisk: { sku: "Premium_LRS", sizeGb: 256, iops: undefined, mbps: undefined, protect: true },
      adminCidrs: [],
      adminUsername: "influxha",
      sshPublicKey: expect.stringMatching(/^ssh-ed25519 /),
      vnetCidr: "10.42.0.0/16",
      subnetCidr: "10.42.1.0/24",
    });
  });

  it("matches Pulumi.yaml: every key it reads is declared there, with the same defaults", () => {
    const declared = projectConfig();
    // What the program sees when a stack sets only the required keys: Pulumi adds the declared defaults.
    const defaults = projectDefaults();
    const keysRead = new Set<string>();
    for (const stack of [{}, AKS_STACK, K8S_STACK]) {
      const values = { ...defaults, ...VM_STACK, ...stack };
      const config = parseStackConfig((key) => {
        keysRead.add(key);
        return values[key];
      });
      expect(config).toEqual(parseStackConfig(stackReader(stack)));
    }
    const ours = [...keysRead].filter((k) => k.startsWith(`${NAMESPACE}:`)).map((k) => k.slice(NAMESPACE.length + 1));
    expect(ours.sort()).toEqual(Object.keys(declared).sort());
    for (const key of Object.values(declared)) expect(key.description.length).toBeGreaterThan(10);
  });

  it("reads lists as JSON, numbers and booleans as Pulumi stores them", () => {
    const config = parseStackConfig(
      stackReader({
        "influx-ha:replicas": "3",
        "influx-ha:zones": '["1","2"]',
        "influx-ha:adminCidrs": '["198.51.100.7", "2001:db8::/32"]',
        "influx-ha:publicEndpoint": "false",
        "influx-ha:udpDatabase": "app",
        "influx-ha:dataDiskSku": "UltraSSD_LRS",
        "influx-ha:dataDiskIops": "20000",
        "influx-ha:statsPassword": "my-own-stats-pass",
        "influx-ha:relayAdminToken": "my-own-relay-admin-token",
      }),
    );
    expect(config).toMatchObject({
      replicas: 3,
      publicEndpoint: false,
      udpDatabase: "app",
      statsPassword: "my-own-stats-pass",
      relayAdminToken: "my-own-relay-admin-token",
    });
    expect(config.vm).toMatchObject({ zones: ["1", "2"], adminCidrs: ["198.51.100.7", "2001:db8::/32"] });
    expect(config.vm!.dataDisk).toMatchObject({ sku: "UltraSSD_LRS", iops: 20000, mbps: 125 });
  });

  it("derives a stats password that HAProxy's config can hold and that changes with the admin password", () => {
    const derived = deriveStatsPassword("correct-horse-battery");
    expect(derived).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(deriveStatsPassword("correct-horse-battery")).toBe(derived);
    expect(deriveStatsPassword("another-long-password")).not.toBe(derived);
    expect(derived).not.toContain("correct");
  });

  it("derives a relay admin token every relay.toml can hold, apart from the stats password, and refuses a configured one the relays could not use", () => {
    const derived = deriveRelayAdminToken("correct-horse-battery");
    expect(derived).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(deriveRelayAdminToken("correct-horse-battery")).toBe(derived);
    expect(deriveRelayAdminToken("another-long-password")).not.toBe(derived);
    expect(derived.startsWith(deriveStatsPassword("correct-horse-battery"))).toBe(false);
    for (const token of ["short-token", "has a space in it!", 'with-"quotes"-in-it']) {
      expect(problems({ "influx-ha:relayAdminToken": token })).toEqual([
        "influx-ha:relayAdminToken must be at least 16 printable ASCII characters without spaces, quotes or backslashes (every relay.toml holds it)",
      ]);
    }
  });

  it("lists every problem of a bad config at once, each naming its key", () => {
    expect(
      problems({
        "azure-native:location": undefined,
        "influx-ha:replicas": "1",
        "influx-ha:databases": "telegraf",
        "influx-ha:udpDatabase": "metrics",
        "influx-ha:adminCidrs": '["10.0.0.300/24", "0.0.0.0/0", "192.168.1.1/24"]',
        "influx-ha:dataDiskSku": "Standard_LRS",
        "influx-ha:vmSize": "Standard_D4_v5",
        "influx-ha:influxAdminPassword": "short",
        "influx-ha:sshPublicKey": "ecdsa-sha2-nistp256 AAAA",
        "influx-ha:adminUsername": "admin",
        "influx-ha:publicEndpoint": "yes",
        "influx-ha:zones": '["1", "4"]',
        "influx-ha:subnetCidr": "10.43.0.0/24",
      }),
    ).toEqual([
      'azure-native:location is not set: pulumi config set azure-native:location <region>, e.g. "westeurope"',
      'influx-ha:replicas must be a whole number from 2 to 16, not "1"',
      'influx-ha:databases must be a list of strings, e.g. ["a", "b"], not "telegraf"',
      'influx-ha:databases must list at least one database to create, e.g. ["telegraf"]',
      'influx-ha:udpDatabase "metrics" must be one of influx-ha:databases',
      "influx-ha:influxAdminPassword must be at least 12 characters",
      'influx-ha:publicEndpoint must be true or false, not "yes"',
      'influx-ha:vmSize Standard_D4_v5 cannot attach premium disks; pick a size with an "s", such as Standard_D4s_v5',
      'influx-ha:zones: "4" is not a zone; use "1", "2" and "3"',
      'influx-ha:dataDiskSku must be one of "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS", not "Standard_LRS"',
      'influx-ha:adminCidrs[0] "10.0.0.300/24" must be an IP address or CIDR such as 203.0.113.0/24',
      'influx-ha:adminCidrs[1] "0.0.0.0/0" opens SSH to the whole internet; list your own ranges',
      'influx-ha:adminCidrs[2] "192.168.1.1/24" has host bits set; the network is 192.168.1.0/24',
      'influx-ha:adminUsername "admin" must be a lower-case Linux user name that Azure allows (not admin, root, ...)',
      'influx-ha:sshPublicKey must be one OpenSSH public key line ("ssh-ed25519 AAAA..." or "ssh-rsa AAAA...")',
      "influx-ha:subnetCidr 10.43.0.0/24 must lie inside influx-ha:vnetCidr 10.42.0.0/16",
      'influx-ha:udpDatabase: UDP writes carry no credentials, so with influx-ha:publicEndpoint true anyone on the internet could write to "metrics"; set publicEndpoint to false or leave udpDatabase unset',
    ]);
  });

  it("names the missing required keys with the command that sets them", () => {
    expect(
      problems({ "influx-ha:target": undefined, "influx-ha:influxAdminPassword": undefined, "influx-ha:databases": undefined }),
    ).toEqual([
      "influx-ha:target is required: pulumi config set target <value>",
      "influx-ha:databases is required: pulumi config set --path 'databases[0]' <value>",
      'influx-ha:databases must list at least one database to create, e.g. ["telegraf"]',
      "influx-ha:influxAdminPassword is required: pulumi config set --secret influxAdminPassword <value>",
    ]);
    expect(problems({ "influx-ha:sshPublicKey": undefined })).toEqual([
      "influx-ha:sshPublicKey is required: pulumi config set sshPublicKey <value>",
    ]);
  });

  it("checks what only some disk SKUs, subnets and ports allow", () => {
    expect(parseStackConfig(stackReader({ "influx-ha:dataDiskIops": "0", "influx-ha:udpDatabase": "" }))).toEqual(
      parseStackConfig(stackReader()),
    );
    expect(problems({ "influx-ha:dataDiskIops": "5000" })).toEqual([
      "influx-ha:dataDiskIops applies to PremiumV2_LRS and UltraSSD_LRS only; Premium_LRS's performance follows from its size",
    ]);
    expect(problems({ "influx-ha:dataDiskSku": "PremiumV2_LRS", "influx-ha:zones": "[]" })).toEqual([
      "influx-ha:dataDiskSku PremiumV2_LRS needs zonal VMs: set influx-ha:zones, or use Premium_LRS",
    ]);
    expect(problems({ "influx-ha:dataDiskSizeGb": "40000" })).toEqual([
      'influx-ha:dataDiskSizeGb must be a whole number from 4 to 32767, not "40000"',
    ]);
    expect(problems({ "influx-ha:subnetCidr": "10.42.1.0/28", "influx-ha:replicas": "6" })).toEqual([
      "influx-ha:subnetCidr 10.42.1.0/28 has room for 5 nodes, not 6; use a /27 or larger",
    ]);
    expect(problems({ "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false", "influx-ha:udpPort": "8189" })).toEqual([
      "influx-ha:udpPort 8189 is InfluxDB's own UDP listener on the nodes; pick another, such as 8089",
    ]);
    expect(problems({ "influx-ha:target": "gke" })).toEqual(['influx-ha:target must be one of "vm", "aks", "k8s", not "gke"']);
  });

  it("asks a public endpoint for TLS or the explicit opt-out, and keeps UDP off the internet", () => {
    const pem = selfSignedPem().pem;
    const tls = { "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:tlsCertificate": pem };
    expect(parseStackConfig(stackReader(tls))).toMatchObject({ tlsCertificate: pem, clientTls: "haproxy" });
    expect(parseStackConfig(stackReader())).toMatchObject({ tlsCertificate: undefined, clientTls: "opt-out" });
    const internal = { "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:publicEndpoint": "false" };
    expect(parseStackConfig(stackReader(internal))).toMatchObject({ clientTls: "internal" });
    // A Service that is no LoadBalancer gets no outside address, whatever publicEndpoint says.
    expect(
      parseStackConfig(
        stackReader({ ...K8S_STACK, "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:serviceType": "ClusterIP" }),
      ),
    ).toMatchObject({ clientTls: "internal" });

    expect(problems({ "influx-ha:allowPlaintextPublicEndpoint": undefined })).toEqual([
      "influx-ha:publicEndpoint is true without TLS: set influx-ha:tlsCertificate (--secret, a PEM with the certificate chain and its key), or set publicEndpoint to false, or opt out with influx-ha:allowPlaintextPublicEndpoint true (passwords then cross the internet in clear text)",
    ]);
    expect(problems({ ...tls, "influx-ha:allowPlaintextPublicEndpoint": "true" })).toEqual([
      "influx-ha:allowPlaintextPublicEndpoint is true while influx-ha:tlsCertificate is set; unset one of them",
    ]);
    expect(problems({ ...AKS_STACK, "influx-ha:udpDatabase": "telegraf" })).toEqual([
      'influx-ha:udpDatabase: UDP writes carry no credentials, so with influx-ha:publicEndpoint true anyone on the internet could write to "telegraf"; set publicEndpoint to false or leave udpDatabase unset',
    ]);
  });

  it("checks that the TLS certificate is one HAProxy can load", () => {
    const pem = selfSignedPem().pem;
    const [key] = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)!;
    const [cert] = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/)!;
    const otherKey = selfSignedPem().pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)![0];
    expect(certificateProblems(cert + key)).toEqual([]);
    expect(certificateProblems(cert)[0]).toMatch(/^must be PEM holding the certificate \(then its chain\) and its private key/);
    expect(certificateProblems("not a pem")[0]).toMatch(/^must be PEM/);
    expect(certificateProblems(cert + otherKey)).toEqual(["has a private key that does not belong to its first certificate"]);
    expect(certificateProblems(cert.replace(/[A-Za-z0-9]{20}\n/, "AAAAAAAAAAAAAAAAAAAA\n") + key)[0]).toMatch(/^cannot be read: /);
    expect(certificateProblems(cert + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII=\n-----END ENCRYPTED PRIVATE KEY-----\n")).toEqual([
      "holds an encrypted private key; HAProxy cannot ask for its passphrase",
    ]);
    const expiry = new Date(new X509Certificate(cert).validTo);
    expect(certificateProblems(pem, new Date(expiry.getTime() + 1000))).toEqual([
      `has a certificate that expired on ${expiry.toISOString()}`,
    ]);
    expect(problems({ "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:tlsCertificate": cert })[0]).toMatch(
      /^influx-ha:tlsCertificate must be PEM holding/,
    );
  });

  it("fills in the Kubernetes and AKS defaults for target aks, and the operator's cluster for k8s", () => {
    const aks = parseStackConfig(stackReader(AKS_STACK));
    expect(aks).toMatchObject({ target: "aks", vm: undefined });
    expect(aks.kubernetes).toEqual({
      namespace: "influx-ha",
      clusterDomain: "cluster.local",
      relays: 2,
      haproxies: 2,
      storageClass: undefined,
      volumeSizeGb: 256,
      serviceType: "LoadBalancer",
      nodeSelector: {},
      influxdbImage: "influxdb:1.8.10",
      relayImage: undefined,
      kubeconfig: undefined,
      prometheus: undefined,
    });
    expect(aks.aks).toEqual({
      kubernetesVersion: undefined,
      systemVmSize: "Standard_D2s_v5",
      systemNodeCount: 2,
      influxdbVmSize: "Standard_D4s_v5",
      zones: ["1", "2", "3"],
    });

    const k8s = parseStackConfig(
      stackReader({
        ...K8S_STACK,
        "influx-ha:nodeSelector": '["kubernetes.io/os=linux", "pool=influxdb"]',
        "influx-ha:storageClass": "managed-csi-premium",
        "influx-ha:dataDiskSku": "PremiumV2_LRS",
        "influx-ha:serviceType": "NodePort",
      }),
    );
    expect(k8s).toMatchObject({ target: "k8s", location: "", vm: undefined, aks: undefined });
    expect(k8s.kubernetes).toMatchObject({
      nodeSelector: { "kubernetes.io/os": "linux", pool: "influxdb" },
      storageClass: "managed-csi-premium",
      serviceType: "NodePort",
      relayImage: "registry.example.com/influx-relay:0.1.0",
    });
  });

  it("lists the problems of a Kubernetes stack, each naming its key", () => {
    expect(
      problems({
        ...K8S_STACK,
        "influx-ha:relayImage": undefined,
        "influx-ha:namespace": "Influx_HA",
        "influx-ha:relays": "1",
        "influx-ha:haproxies": "1",
        "influx-ha:dataDiskSku": "UltraSSD_LRS",
        "influx-ha:nodeSelector": '["pool"]',
        "influx-ha:influxdbImage": "influxdb 1.8",
        "influx-ha:serviceType": "ExternalName",
      }),
    ).toEqual([
      'influx-ha:namespace "Influx_HA" must be a DNS label (lower-case letters, digits, "-")',
      "influx-ha:dataDiskSku UltraSSD_LRS: on Kubernetes the created StorageClass is Premium_LRS; name your own class in influx-ha:storageClass",
      'influx-ha:nodeSelector[0] "pool" must be a node label as key=value',
      'influx-ha:influxdbImage "influxdb 1.8" is not an image reference',
      "influx-ha:relayImage is required for target k8s: build relay/Dockerfile (README), push it where the cluster can pull, and set the reference",
      'influx-ha:relays must be a whole number from 2 to 16, not "1"',
      'influx-ha:haproxies must be a whole number from 2 to 16, not "1"',
      'influx-ha:serviceType must be one of "LoadBalancer", "NodePort", "ClusterIP", not "ExternalName"',
    ]);
    expect(
      problems({
        ...AKS_STACK,
        "azure-native:location": undefined,
        "influx-ha:nodeSelector": '["pool=influxdb"]',
        "influx-ha:kubeconfig": "/root/.kube/config",
        "influx-ha:kubernetesVersion": "latest",
        "influx-ha:vmSize": "Standard_D4_v5",
      }),
    ).toEqual([
      'azure-native:location is not set: pulumi config set azure-native:location <region>, e.g. "westeurope"',
      "influx-ha:nodeSelector applies to target k8s; on aks the workload runs on the InfluxDB pool",
      "influx-ha:kubeconfig applies to target k8s; on aks the program reads the cluster's own",
      'influx-ha:kubernetesVersion "latest" must be a version such as 1.33',
      'influx-ha:vmSize Standard_D4_v5 cannot attach premium disks; pick a size with an "s", such as Standard_D4s_v5',
    ]);
  });

  it("reads where Prometheus runs and whether it has the operator, on Kubernetes only", () => {
    const k8s = (overrides: Record<string, string>) => parseStackConfig(stackReader({ ...K8S_STACK, ...overrides })).kubernetes!.prometheus;
    expect(k8s({ "influx-ha:prometheusNamespace": "monitoring" })).toEqual({ namespace: "monitoring", operator: false, labels: {} });
    expect(
      k8s({
        "influx-ha:prometheusNamespace": "monitoring",
        "influx-ha:prometheusOperator": "true",
        "influx-ha:prometheusLabels": '["release=kube-prometheus-stack", "team.example.com/owner=ops"]',
      }),
    ).toEqual({ namespace: "monitoring", operator: true, labels: { release: "kube-prometheus-stack", "team.example.com/owner": "ops" } });

    expect(
      problems({
        ...K8S_STACK,
        "influx-ha:prometheusOperator": "true",
        "influx-ha:prometheusLabels": '["release"]',
      }),
    ).toEqual([
      'influx-ha:prometheusLabels[0] "release" must be a label as key=value',
      "influx-ha:prometheusOperator needs influx-ha:prometheusNamespace, the namespace Prometheus runs in: the NetworkPolicies let its pods scrape the relays and HAProxy",
    ]);
    expect(
      problems({
        ...AKS_STACK,
        "influx-ha:prometheusNamespace": "Monitoring",
        "influx-ha:prometheusLabels": '["release=prometheus"]',
      }),
    ).toEqual([
      'influx-ha:prometheusNamespace "Monitoring" must be a DNS label (lower-case letters, digits, "-")',
      "influx-ha:prometheusLabels label the PrometheusRule and ServiceMonitors, which only prometheusOperator true creates",
    ]);

    const onVm = "applies to targets aks and k8s; on vm, Prometheus scrapes the nodes by address (README, Monitoring)";
    expect(
      problems({
        "influx-ha:prometheusNamespace": "monitoring",
        "influx-ha:prometheusOperator": "true",
        "influx-ha:prometheusLabels": '["release=prometheus"]',
      }),
    ).toEqual([`influx-ha:prometheusNamespace ${onVm}`, `influx-ha:prometheusOperator ${onVm}`, `influx-ha:prometheusLabels ${onVm}`]);
    // Their declared defaults are no setting at all.
    const defaults = { "influx-ha:prometheusNamespace": "", "influx-ha:prometheusOperator": "false", "influx-ha:prometheusLabels": "[]" };
    expect(parseStackConfig(stackReader(defaults))).toEqual(parseStackConfig(stackReader()));
  });
});
