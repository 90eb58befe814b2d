// Who may reach whom in the namespace. Everything is denied by default; then InfluxDB takes HTTP only
// from the relays (every write and query goes through them) and the bootstrap Job, and UDP only from the
// relays; the relays take HTTP from HAProxy and from each other (a peer reads their /status and asks them
// to fence a replica), and the clients' datagrams through the UDP Service. HAProxy never reaches
// InfluxDB. HAProxy's client port is open: it is the way in. Its stats page is reached with kubectl
// port-forward, which no policy governs. With prometheusNamespace, the pods of that namespace reach the
// relays' HTTP port and HAProxy's stats port, where their /metrics are, and nothing else.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { componentLabels, K8S_PORTS, type Component, type KubernetesPlan } from "./plan.js";

export interface NetworkPoliciesArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
}

type Rule = k8s.types.input.networking.v1.NetworkPolicyIngressRule;

const from = (...components: Component[]): Rule["from"] =>
  components.map((component) => ({ podSelector: { matchLabels: componentLabels(component) } }));

/** Every pod of a namespace, by the name label Kubernetes puts on each namespace. */
const fromNamespace = (namespace: string): Rule["from"] => [
  { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } },
];

export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:NetworkPolicies", name, {}, opts);
    const { plan, namespace } = args;
    const replicaUdp = plan.topology.replicas[0]!.udpPort;
    const relayUdp = plan.topology.relays[0]!.udpPort;
    const scrape = (component: "relay" | "haproxy"): Rule[] => {
      if (plan.monitoring === undefined) return [];
      return [
        { from: fromNamespace(plan.monitoring.prometheusNamespace), ports: [{ protocol: "TCP", port: plan.monitoring[component].port }] },
      ];
    };

    const policy = (role: string, podSelector: object, ingress: Rule[]): void => {
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${role}`,
        { metadata: { name: role, namespace }, spec: { podSelector, policyTypes: ["Ingress"], ingress } },
        { parent: this },
      );
    };

    policy("default-deny-ingress", {}, []);
    policy("influxdb", { matchLabels: componentLabels("influxdb") }, [
      { from: from("relay", "bootstrap"), ports: [{ protocol: "TCP", port: K8S_PORTS.influxdbHttp }] },
      ...(replicaUdp === undefined ? [] : [{ from: from("relay"), ports: [{ protocol: "UDP", port: replicaUdp }] }]),
    ]);
    policy("relay", { matchLabels: componentLabels("relay") }, [
      // The other relays: their peer polling (/status) and fencing (/peer/fence).
      { from: from("haproxy", "relay"), ports: [{ protocol: "TCP", port: K8S_PORTS.relayHttp }] },
      // The clients' datagrams come through the UDP Service, from addresses no selector can name.
      ...(relayUdp === undefined ? [] : [{ ports: [{ protocol: "UDP", port: relayUdp }] }]),
      ...scrape("relay"),
    ]);
    policy("haproxy", { matchLabels: componentLabels("haproxy") }, [
      { ports: [{ protocol: "TCP", port: K8S_PORTS.haproxy }] },
      ...scrape("haproxy"),
    ]);

    this.registerOutputs({});
  }
}
