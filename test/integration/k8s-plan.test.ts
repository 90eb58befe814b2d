// The Kubernetes workload's plan, pure: names and addresses from the one topology, the rendered files
// its ConfigMaps and Secrets hold, checked by the real tools (haproxy -c, the relay's config loader, influxd's TOML),
// and how Prometheus scrapes the workload (pod annotations, or the Prometheus Operator's objects).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { deriveRelayAdminToken, parseStackConfig } from "../../infra/config.js";
import {
  componentLabels,
  DEDICATED_POOL,
  metricsService,
  planKubernetesWorkload,
  podScrapeAnnotations,
  PROMETHEUS_JOBS,
  serviceMonitorSpec,
  STATS_PASSWORD_ENV,
} from "../../infra/k8s/plan.js";
import { HAPROXY, findBinary } from "../../local/tools.js";
import { parseConfig } from "../../relay/config.js";
import { AKS_STACK, K8S_STACK, stackReader } from "../helpers/stack-config.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

function plan(overrides: Record<string, string | undefined> = {}, onDedicatedPool = true) {
  const config = parseStackConfig(stackReader({ ...AKS_STACK, ...overrides }));
  return planKubernetesWorkload(config, config.kubernetes!, onDedicatedPool);
}

/**
 * `haproxy -c` inside a network namespace of its own: the config's Service names cannot resolve here, and
 * the lookups must not leave the machine. Returns the exit status and the warnings.
 */
function checkIsolated(cfg: string, env: Record<string, string>): { status: number | null; warnings: string[]; output: string } {
  const file = join(tempDir("haproxy-k8s-"), "haproxy.cfg");
  writeFileSync(file, cfg);
  const haproxy = findBinary(HAPROXY.binary) ?? HAPROXY.binary;
  const result = spawnSync("unshare", ["--net", haproxy, "-c", "-f", file], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
    timeout: 30_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  return { status: result.status, warnings: output.split("\n").filter((line) => /\[(WARNING|ALERT)\]/.test(line)), output };
}

describe("the Kubernetes plan", () => {
  it("names every replica and relay by its own Service, in the namespace and cluster domain", () => {
    const p = plan({ "influx-ha:replicas": "3", "influx-ha:namespace": "metrics", "influx-ha:clusterDomain": "k8s.example" });
    expect(p.topology.replicas.map((r) => [r.name, r.address, r.httpPort])).toEqual([
      ["influxdb-0", "influxdb-0.metrics.svc.k8s.example", 8086],
      ["influxdb-1", "influxdb-1.metrics.svc.k8s.example", 8086],
      ["influxdb-2", "influxdb-2.metrics.svc.k8s.example", 8086],
    ]);
    expect(p.topology.relays.map((r) => r.address)).toEqual(["relay-0.metrics.svc.k8s.example", "relay-1.metrics.svc.k8s.example"]);
    expect(p.replicaUrls).toEqual([0, 1, 2].map((i) => `http://influxdb-${i}.metrics.svc.k8s.example:8086`));
    expect(p.createDatabases).toBe('CREATE DATABASE "telegraf"; CREATE DATABASE "app"\n');
  });

  it("renders one config per relay, which the relay's own loader reads, writing to every replica's Service, the other relays its peers", () => {
    const p = plan({ "influx-ha:relays": "3", "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false" });
    expect(Object.keys(p.relayConfigs)).toEqual(["relay-0.toml", "relay-1.toml", "relay-2.toml"]);
    const relay1 = parseConfig(p.relayConfigs["relay-1.toml"]!, "relay-1.toml");
    expect(relay1.http[0]!.spoolDir).toBe("/var/lib/influx-relay/relay-1");
    expect(relay1.http[0]!.bindAddr).toEqual({ host: "0.0.0.0", port: 9096 });
    // Through their Services, which route to a ready relay only.
    expect(relay1.http[0]!.peers).toEqual([
      "http://relay-0.influx-ha.svc.cluster.local:9096",
      "http://relay-2.influx-ha.svc.cluster.local:9096",
    ]);
    expect(relay1.http[0]!.outputs.map((o) => o.location)).toEqual([
      "http://influxdb-0.influx-ha.svc.cluster.local:8086/write",
      "http://influxdb-1.influx-ha.svc.cluster.local:8086/write",
    ]);
    expect(relay1.udp[0]!.bindAddr).toEqual({ host: "0.0.0.0", port: 8089 });
    expect(relay1.udp[0]!.outputs.map((o) => `${o.host}:${o.port}`)).toEqual([
      "influxdb-0.influx-ha.svc.cluster.local:8089",
      "influxdb-1.influx-ha.svc.cluster.local:8089",
    ]);
  });

  it("gives every relay the stack's admin token, derived from the admin password unless set, and keeps it out of the other files", () => {
    const withToken = (overrides: Record<string, string | undefined>) => {
      const p = plan({ "influx-ha:relays": "3", ...overrides });
      const tokens = Object.entries(p.relayConfigs).map(([file, toml]) => parseConfig(toml, file).http[0]!.adminToken);
      expect(new Set(tokens).size).toBe(1);
      for (const text of [p.influxdbConfig, p.haproxyConfig, p.createDatabases]) expect(text).not.toContain(tokens[0]);
      return tokens[0];
    };
    const derived = withToken({});
    expect(derived).toBe(deriveRelayAdminToken("correct-horse-battery"));
    expect(withToken({ "influx-ha:influxAdminPassword": "another-long-password" })).not.toBe(derived);
    expect(withToken({ "influx-ha:relayAdminToken": "my-own-relay-admin-token" })).toBe("my-own-relay-admin-token");
  });

  it("renders one influxdb.conf for all replicas, with authentication and Flux (the 1.8 image) on, continuous queries run, and the data on the volume", () => {
    const conf = parseToml(plan({ "influx-ha:udpDatabase": "telegraf", "influx-ha:publicEndpoint": "false" }).influxdbConfig) as any;
    expect(conf.http).toMatchObject({ "bind-address": "0.0.0.0:8086", "auth-enabled": true, "flux-enabled": true });
    expect(conf.continuous_queries).toEqual({ enabled: true });
    expect(conf.data.dir).toBe("/var/lib/influxdb/data");
    expect(conf.udp[0]).toMatchObject({ enabled: true, "bind-address": "0.0.0.0:8089", database: "telegraf" });
  });

  it("renders a haproxy.cfg that haproxy -c accepts, with the stats password left to the environment", () => {
    const p = plan({ "influx-ha:statsPassword": "stats-password-1234" });
    expect(p.haproxyConfig).not.toContain("stats-password-1234");
    expect(p.haproxyConfig).toContain(`insecure-password "\${${STATS_PASSWORD_ENV}}"`);
    const result = checkIsolated(p.haproxyConfig, { [STATS_PASSWORD_ENV]: "stats-password-1234" });
    expect(result.status, result.output).toBe(0);
    // The only complaints: no nameserver in the empty namespace, so no Service name resolves yet.
    for (const warning of result.warnings) {
      expect(warning).toMatch(
        /can't connect socket for nameserver|could not resolve address '(influxdb|relay)-\d\.influx-ha\.svc\.cluster\.local'/,
      );
    }
    // The two relays only: HAProxy never names a replica.
    expect(result.warnings.filter((w) => w.includes("could not resolve"))).toHaveLength(2);
    expect([...p.haproxyConfig.matchAll(/^ {4}server (\S+ \S+) check maxconn 1000$/gm)].map((m) => m[1])).toEqual([
      "relay-0 relay-0.influx-ha.svc.cluster.local:9096",
      "relay-1 relay-1.influx-ha.svc.cluster.local:9096",
    ]);

    const broken = checkIsolated(p.haproxyConfig.replace("hold valid 10s", "hold valid ten"), {});
    expect(broken.status).not.toBe(0);
  });

  it("with tlsCertificate, terminates TLS on the client port with the mounted PEM, in a config haproxy -c accepts", () => {
    const { file, pem } = selfSignedPem();
    const p = plan({ "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:tlsCertificate": pem });
    const mounted = "/etc/influx-ha/tls/influx-ha.pem";
    expect(p.haproxyConfig).toContain(`bind 0.0.0.0:8086 ssl crt ${mounted} alpn http/1.1`);
    const result = checkIsolated(p.haproxyConfig.replaceAll(mounted, file), { [STATS_PASSWORD_ENV]: "stats-password-1234" });
    expect(result.status, result.output).toBe(0);
    expect(p.tls!.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it("gives each relay room for every output's full queue", () => {
    // 2 replicas × 1024 MiB × 1.25 = 2.5 GiB.
    expect(plan().relayQueueVolumeGi).toBe(3);
    expect(plan({ "influx-ha:replicas": "8" }).relayQueueVolumeGi).toBe(10);
  });

  it("rolls HAProxy when its config changes, and only then", () => {
    expect(plan().haproxyConfigChecksum).toBe(plan().haproxyConfigChecksum);
    expect(plan({ "influx-ha:relays": "3" }).haproxyConfigChecksum).not.toBe(plan().haproxyConfigChecksum);
    // HAProxy names no replica: another one does not touch its config.
    expect(plan({ "influx-ha:replicas": "3" }).haproxyConfigChecksum).toBe(plan().haproxyConfigChecksum);
    expect(plan().haproxyConfigChecksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("puts the pods on the InfluxDB pool on AKS, and on the configured nodes of an existing cluster", () => {
    expect(plan().nodeSelector).toEqual({ [DEDICATED_POOL.key]: DEDICATED_POOL.value });
    const config = parseStackConfig(stackReader({ ...K8S_STACK, "influx-ha:nodeSelector": '["disk=premium"]' }));
    expect(planKubernetesWorkload(config, config.kubernetes!, false).nodeSelector).toEqual({ disk: "premium" });
  });
});

describe("the Kubernetes plan for Prometheus", () => {
  const annotationsOnly = { "influx-ha:prometheusNamespace": "monitoring" };
  const operator = { ...annotationsOnly, "influx-ha:prometheusOperator": "true" };

  it("plans nothing for Prometheus while prometheusNamespace is unset", () => {
    const p = plan();
    expect(p.monitoring).toBeUndefined();
    expect(podScrapeAnnotations(p, "relay")).toEqual({});
    expect(podScrapeAnnotations(p, "haproxy")).toEqual({});
  });

  it("without the operator, annotates the relays for scraping, and HAProxy, whose exporter needs basic auth, only with where its metrics are", () => {
    const p = plan(annotationsOnly);
    expect(p.monitoring).toMatchObject({ namespace: "influx-ha", prometheusNamespace: "monitoring", operator: false });
    expect(podScrapeAnnotations(p, "relay")).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9096",
      "prometheus.io/path": "/metrics",
      "prometheus.io/scheme": "http",
    });
    expect(podScrapeAnnotations(p, "haproxy")).toEqual({
      "prometheus.io/scrape": "false",
      "prometheus.io/port": "8404",
      "prometheus.io/path": "/metrics",
      "prometheus.io/scheme": "http",
    });
    // With tlsCertificate, the stats port speaks HTTPS too.
    const tls = plan({
      ...annotationsOnly,
      "influx-ha:allowPlaintextPublicEndpoint": undefined,
      "influx-ha:tlsCertificate": selfSignedPem().pem,
    });
    expect(podScrapeAnnotations(tls, "haproxy")["prometheus.io/scheme"]).toBe("https");
    expect(podScrapeAnnotations(tls, "relay")["prometheus.io/scheme"]).toBe("http");
  });

  it("with the operator, annotates no pod and selects each component's pods through a headless Service named for its job", () => {
    const m = plan(operator).monitoring!;
    expect(podScrapeAnnotations(plan(operator), "relay")).toEqual({});
    expect(podScrapeAnnotations(plan(operator), "haproxy")).toEqual({});
    expect(metricsService(m.relay)).toEqual({
      name: "relay-metrics",
      labels: { ...componentLabels("relay"), "influx-ha/prometheus-job": "influx-relay" },
      spec: {
        clusterIP: "None",
        selector: componentLabels("relay"),
        ports: [{ name: "http", port: 9096, targetPort: "http", protocol: "TCP" }],
      },
    });
    expect(metricsService(m.haproxy)).toMatchObject({
      name: "haproxy-stats",
      labels: { "influx-ha/prometheus-job": "influx-haproxy" },
      spec: { selector: componentLabels("haproxy"), ports: [{ name: "stats", port: 8404, targetPort: "stats", protocol: "TCP" }] },
    });
  });

  it("scrapes the relays openly and HAProxy with the stats Secret's credentials, every 30 s, naming each pod as the instance", () => {
    const m = plan({ ...operator, "influx-ha:namespace": "metrics" }).monitoring!;
    const relays = serviceMonitorSpec(m, m.relay, "stats-secret");
    expect(relays).toEqual({
      jobLabel: "influx-ha/prometheus-job",
      selector: { matchLabels: metricsService(m.relay).labels },
      namespaceSelector: { matchNames: ["metrics"] },
      endpoints: [
        {
          port: "http",
          path: "/metrics",
          scheme: "http",
          interval: "30s",
          relabelings: [{ sourceLabels: ["__meta_kubernetes_pod_name"], targetLabel: "instance" }],
        },
      ],
    });
    const haproxy = serviceMonitorSpec(m, m.haproxy, "stats-secret");
    expect(haproxy.selector.matchLabels).toEqual(metricsService(m.haproxy).labels);
    expect(haproxy.endpoints[0]).toMatchObject({
      port: "stats",
      path: "/metrics",
      scheme: "http",
      basicAuth: { username: { name: "stats-secret", key: "username" }, password: { name: "stats-secret", key: "password" } },
    });
    expect(haproxy.endpoints[0]).not.toHaveProperty("tlsConfig");

    const tls = plan({
      ...operator,
      "influx-ha:allowPlaintextPublicEndpoint": undefined,
      "influx-ha:tlsCertificate": selfSignedPem().pem,
    }).monitoring!;
    expect(serviceMonitorSpec(tls, tls.haproxy, "stats-secret").endpoints[0]).toMatchObject({
      scheme: "https",
      tlsConfig: { insecureSkipVerify: true },
    });
  });

  it("gives the series the job names the alerting rules select on", () => {
    const rules = parseYaml(readFileSync(new URL("../../observability/prometheus/influx-ha.rules.yml", import.meta.url), "utf8")) as {
      groups: Array<{ rules: Array<{ expr: string }> }>;
    };
    const jobs = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => [...r.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1]))));
    expect([...jobs].sort()).toEqual(Object.values(PROMETHEUS_JOBS).sort());
    const m = plan(operator).monitoring!;
    expect([m.relay.job, m.haproxy.job]).toEqual([PROMETHEUS_JOBS.relay, PROMETHEUS_JOBS.haproxy]);
  });

  it("labels the operator's objects with the stack's prometheusLabels, keeping the workload's name", () => {
    const m = plan({
      ...operator,
      "influx-ha:prometheusLabels": '["release=kube-prometheus-stack", "app.kubernetes.io/name=other"]',
    }).monitoring!;
    expect(m.labels).toEqual({ release: "kube-prometheus-stack", "app.kubernetes.io/name": "influx-ha" });
  });
});
