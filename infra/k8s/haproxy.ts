// HAProxy: a Deployment of at least two alike pods behind the clients' Service. Its haproxy.cfg is the
// rendered one, in a ConfigMap; the stats password comes from a Secret through the environment. The
// config's checksum sits on the pod template, so a new config rolls the pods. The stats Secret holds the
// stats user too, so a Prometheus ServiceMonitor can take both credentials of HAProxy's exporter from it.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { clientScheme } from "../../haproxy/render.js";
import type { ClientTls, ServiceType } from "../config.js";
import { CLIENT_TLS_ANNOTATION } from "../marks.js";
import { hardenedContainer, httpProbe, onePodAtATime, placement, POD_SECURITY } from "./pod.js";
import {
  componentLabels,
  HAPROXY_IMAGE,
  K8S_PORTS,
  PATHS,
  podScrapeAnnotations,
  STATS_PASSWORD_ENV,
  STATS_SECRET_KEYS,
  TLS_PEM_KEY,
  type KubernetesPlan,
} from "./plan.js";

export interface HaproxyTierArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
  readonly replicas: number;
  readonly clientService: { readonly type: ServiceType; readonly annotations: Readonly<Record<string, string>> };
  readonly clientPort: number;
  /** Marked on the clients' Service, for the policy pack. */
  readonly clientTls: ClientTls;
}

const labels = componentLabels("haproxy");

export class HaproxyTier extends pulumi.ComponentResource {
  readonly deployment: k8s.apps.v1.Deployment;
  /** The clients' Service: writes, queries, /ping and /health. */
  readonly clientService: k8s.core.v1.Service;
  /** Keys STATS_SECRET_KEYS: the stats page's and the Prometheus exporter's user and password. */
  readonly statsSecretName: pulumi.Output<string>;

  constructor(name: string, args: HaproxyTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:HaproxyTier", name, {}, opts);
    const { plan, namespace } = args;

    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      { metadata: { namespace, labels }, data: { "haproxy.cfg": plan.haproxyConfig } },
      { parent: this },
    );
    const stats = new k8s.core.v1.Secret(
      `${name}-stats`,
      {
        metadata: { namespace, labels },
        type: "Opaque",
        stringData: {
          [STATS_SECRET_KEYS.username]: plan.topology.stats.user,
          [STATS_SECRET_KEYS.password]: pulumi.secret(plan.topology.stats.password),
        },
      },
      { parent: this },
    );

    const scheme = clientScheme(plan.topology);
    const tls =
      plan.tls === undefined
        ? undefined
        : new k8s.core.v1.Secret(
            `${name}-tls`,
            { metadata: { namespace, labels }, type: "Opaque", stringData: { [TLS_PEM_KEY]: pulumi.secret(plan.tls.pem) } },
            { parent: this },
          );

    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      {
        metadata: { name: plan.haproxyName, namespace, labels },
        spec: {
          replicas: args.replicas,
          selector: { matchLabels: labels },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: {
              labels,
              annotations: {
                "influx-ha/haproxy-cfg-sha256": plan.haproxyConfigChecksum,
                ...(plan.tls === undefined ? {} : { "influx-ha/tls-certificate-sha256": plan.tls.fingerprint }),
                ...podScrapeAnnotations(plan, "haproxy"),
              },
            },
            spec: {
              securityContext: POD_SECURITY,
              ...placement(plan, "haproxy", "prefer-spread"),
              containers: [
                hardenedContainer({
                  name: "haproxy",
                  image: HAPROXY_IMAGE,
                  // The image's default command: haproxy -f /usr/local/etc/haproxy/haproxy.cfg.
                  env: [
                    {
                      name: STATS_PASSWORD_ENV,
                      valueFrom: { secretKeyRef: { name: stats.metadata.name, key: STATS_SECRET_KEYS.password } },
                    },
                  ],
                  ports: [
                    { name: "client", containerPort: K8S_PORTS.haproxy, protocol: "TCP" },
                    { name: "stats", containerPort: K8S_PORTS.stats, protocol: "TCP" },
                  ],
                  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
                  // HAProxy's own /health: 200 while it has a relay to send to (the relays choose the replica).
                  readinessProbe: httpProbe("/health", K8S_PORTS.haproxy, 5, 2, scheme === "https" ? "HTTPS" : "HTTP"),
                  livenessProbe: { tcpSocket: { port: "stats" }, periodSeconds: 10, failureThreshold: 6 },
                  volumeMounts: [
                    { name: "config", mountPath: PATHS.haproxyConfigDir, readOnly: true },
                    ...(tls === undefined ? [] : [{ name: "tls", mountPath: PATHS.haproxyTlsDir, readOnly: true }]),
                  ],
                }),
              ],
              volumes: [
                { name: "config", configMap: { name: config.metadata.name } },
                // Readable by the pod's group (fsGroup) only.
                ...(tls === undefined ? [] : [{ name: "tls", secret: { secretName: tls.metadata.name, defaultMode: 0o440 } }]),
              ],
            },
          },
        },
      },
      { parent: this },
    );

    onePodAtATime(this, `${name}-pdb`, namespace, labels);

    this.clientService = new k8s.core.v1.Service(
      `${name}-client`,
      {
        metadata: {
          name: "influx-ha",
          namespace,
          labels,
          annotations: { ...args.clientService.annotations, [CLIENT_TLS_ANNOTATION]: args.clientTls },
        },
        spec: {
          type: args.clientService.type,
          selector: { ...labels },
          ports: [{ name: scheme, port: args.clientPort, targetPort: "client", protocol: "TCP" }],
        },
      },
      { parent: this },
    );

    this.statsSecretName = stats.metadata.name;
    this.registerOutputs({ deploymentName: this.deployment.metadata.name, clientServiceName: this.clientService.metadata.name });
  }
}
