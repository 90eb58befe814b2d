// Who may reach whom in the namespace. Everything is denied by default; then InfluxDB takes HTTP only
// from the relays (every write and query goes through them) and the bootstrap Job, and UDP only from the
// relays; the relays take HTTP from HAProxy and from each other (a peer reads their /status and asks them
// to fence a replica), and the clients' datagrams through the UDP Service. HAProxy never reaches
// InfluxDB. HAProxy's client port is open: it is the way in. Its stats page is reached with kubectl
// port-forward, which no policy governs.
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

export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:NetworkPolicies", name, {}, opts);
    const { plan, namespace } = args;
    const replicaUdp = plan.topology.replicas[0]!.udpPort;
    const relayUdp = plan.topology.relays[0]!.udpPort;

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
    ]);
    policy("haproxy", { matchLabels: componentLabels("haproxy") }, [{ ports: [{ protocol: "TCP", port: K8S_PORTS.haproxy }] }]);

    this.registerOutputs({});
  }
}
