// The policy pack's four rules, as plain policy objects: pack.ts serves them to `pulumi preview/up
// --policy-pack infra/policy`, and the tests call them directly. They read what the programs declare
// (the marks of infra/marks.ts, the Kubernetes component labels), so they also judge a hand-edited stack.
import type { PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { CLIENT_TLS_ANNOTATION, CLIENT_TLS_TAG, COMPONENT_TAG, COMPONENTS } from "../marks.js";
import { DATA_DISK_SKUS } from "../config.js";
import { AZURE_INTERNAL_LB, COMPONENT_LABEL, K8S_PORTS, type Component } from "../k8s/plan.js";
import { VM_PORTS } from "../vm/plan.js";

/** TCP ports that reach InfluxDB or a relay directly on a node. UDP in this layout only ever reaches them. */
const PROTECTED_TCP_PORTS = [
  ...new Set([VM_PORTS.influxdbHttp, VM_PORTS.influxdbRpc, VM_PORTS.relayHttp, K8S_PORTS.influxdbHttp, K8S_PORTS.relayHttp]),
].sort((a, b) => a - b);
/** The pods that only HAProxy and the relays may reach. */
const DIRECT_COMPONENTS: readonly (Component | undefined)[] = ["influxdb", "relay"];
/** How an NSG rule names "anywhere". */
const INTERNET_SOURCES = new Set(["*", "internet", "any", "0.0.0.0/0", "::/0"]);
const PREMIUM_SKUS = new Set<string>([...DATA_DISK_SKUS, "Premium_ZRS"]);
/** The least of each part that loses no function when one instance is down. */
export const MIN_INSTANCES = 2;

type Props = Record<string, any>;

export const noDatabaseOrRelayPortFromInternet: ResourceValidationPolicy = {
  name: "no-database-or-relay-port-from-internet",
  description: `Nothing from the internet reaches InfluxDB or a relay directly: no TCP ${PROTECTED_TCP_PORTS.join(", ")} and no UDP. Clients come in through HAProxy.`,
  enforcementLevel: "mandatory",
  validateResource: ({ type, props }, report) => {
    switch (type) {
      case "azure-native:network:NetworkSecurityGroup":
        for (const rule of props.securityRules ?? []) checkSecurityRule(rule, report);
        return;
      case "azure-native:network:SecurityRule":
        return checkSecurityRule(props, report);
      case "azure-native:network:LoadBalancer":
        if (!isPublicLoadBalancer(props)) return;
        for (const rule of props.loadBalancingRules ?? []) {
          if (reachesProtectedPort(rule.protocol, [String(rule.backendPort)])) {
            report(
              `public load-balancing rule "${rule.name}" sends ${rule.protocol} to backend port ${rule.backendPort}: InfluxDB or a relay`,
            );
          }
        }
        return;
      case "kubernetes:core/v1:Service": {
        const component = props.spec?.selector?.[COMPONENT_LABEL];
        if (isPublicService(props) && DIRECT_COMPONENTS.includes(component)) {
          report(`Service "${props.metadata?.name}" gives the ${component} pods an internet-facing load balancer`);
        }
        return;
      }
    }
  },
};

export const premiumProtectedDataDisks: ResourceValidationPolicy = {
  name: "premium-protected-data-disks",
  description: "InfluxDB's data lives on premium SSDs that outlive the stack: protected Azure disks, retained Kubernetes volumes.",
  enforcementLevel: "mandatory",
  validateResource: ({ type, props, opts }, report) => {
    switch (type) {
      case "azure-native:compute:Disk":
        if (!PREMIUM_SKUS.has(props.sku?.name)) report(`data disk SKU ${props.sku?.name ?? "(default Standard_LRS)"} is not premium SSD`);
        // An operator who really means to delete the data sets protectDataDisks false; the rule then says so.
        if (!opts.protect) report("data disk is not protected: pulumi destroy would delete it and its data");
        return;
      case "kubernetes:storage.k8s.io/v1:StorageClass": {
        if (props.provisioner !== "disk.csi.azure.com") return;
        const sku = props.parameters?.skuName ?? props.parameters?.skuname ?? props.parameters?.storageaccounttype;
        if (!PREMIUM_SKUS.has(sku))
          report(`StorageClass "${props.metadata?.name}" makes ${sku ?? "StandardSSD_LRS"} disks, not premium SSD`);
        if (props.reclaimPolicy !== "Retain") {
          report(
            `StorageClass "${props.metadata?.name}" deletes a released volume (reclaimPolicy ${props.reclaimPolicy ?? "Delete"}); use Retain`,
          );
        }
        return;
      }
      case "kubernetes:apps/v1:StatefulSet": {
        if (componentOf(props) !== "influxdb") return;
        if ((props.spec?.volumeClaimTemplates ?? []).length === 0) report("the InfluxDB StatefulSet keeps its data without a volume claim");
        const retention = props.spec?.persistentVolumeClaimRetentionPolicy ?? {};
        if (retention.whenDeleted === "Delete") report("the InfluxDB StatefulSet deletes its volumes when it is deleted");
        if (retention.whenScaled === "Delete") report("the InfluxDB StatefulSet deletes its volumes when it is scaled down");
        return;
      }
    }
  },
};

export const atLeastTwoOfEach: StackValidationPolicy = {
  name: "at-least-two-replicas",
  description: `At least ${MIN_INSTANCES} InfluxDB replicas, and on Kubernetes ${MIN_INSTANCES} relays and ${MIN_INSTANCES} HAProxies: one is a single point of failure.`,
  enforcementLevel: "mandatory",
  validateStack: ({ resources }, report) => {
    // On VMs every node runs one replica, one relay and one HAProxy.
    const nodes = resources.filter(
      (r) => r.type === "azure-native:compute:VirtualMachine" && r.props.tags?.[COMPONENT_TAG] === COMPONENTS.node,
    );
    if (nodes.length > 0 && nodes.length < MIN_INSTANCES) {
      report(`${nodes.length} node VM runs InfluxDB, a relay and HAProxy; at least ${MIN_INSTANCES} are needed`);
    }
    for (const workload of resources.filter(isKubernetesWorkload)) {
      const component = componentOf(workload.props);
      const replicas = workload.props.spec?.replicas ?? 1;
      if (component !== undefined && component !== ("bootstrap" satisfies Component) && replicas < MIN_INSTANCES) {
        report(
          `${workload.props.metadata?.name ?? workload.name} runs ${replicas} ${component} pod; at least ${MIN_INSTANCES} are needed`,
          workload.urn,
        );
      }
    }
  },
};

export const tlsOnPublicEndpoints: ResourceValidationPolicy = {
  name: "tls-on-public-endpoints",
  description: `A client endpoint reachable from the internet terminates TLS (tlsCertificate), or says it opts out (allowPlaintextPublicEndpoint); the ${CLIENT_TLS_TAG} tag or ${CLIENT_TLS_ANNOTATION} annotation carries which.`,
  enforcementLevel: "mandatory",
  validateResource: ({ type, props }, report) => {
    let mark: string | undefined;
    if (type === "azure-native:network:LoadBalancer" && isPublicLoadBalancer(props)) {
      if (!(props.loadBalancingRules ?? []).some((rule: Props) => rule.protocol !== "Udp")) return;
      mark = props.tags?.[CLIENT_TLS_TAG];
    } else if (type === "kubernetes:core/v1:Service" && isPublicService(props)) {
      if (!(props.spec?.ports ?? []).some((port: Props) => (port.protocol ?? "TCP") === "TCP")) return;
      mark = props.metadata?.annotations?.[CLIENT_TLS_ANNOTATION];
    } else return;
    if (mark !== "haproxy" && mark !== "opt-out") {
      report(
        `a public client endpoint without TLS (marked ${JSON.stringify(mark ?? null)}): set tlsCertificate, make it internal (publicEndpoint false), or opt out with allowPlaintextPublicEndpoint`,
      );
    }
  },
};

export const INFLUX_HA_POLICIES = [noDatabaseOrRelayPortFromInternet, premiumProtectedDataDisks, atLeastTwoOfEach, tlsOnPublicEndpoints];

function checkSecurityRule(rule: Props, report: ReportViolation): void {
  if (rule.access !== "Allow" || rule.direction !== "Inbound") return;
  const sources = [rule.sourceAddressPrefix, ...(rule.sourceAddressPrefixes ?? [])].filter((s) => typeof s === "string");
  if (!sources.some((s) => INTERNET_SOURCES.has(s.toLowerCase()))) return;
  const ports = [rule.destinationPortRange, ...(rule.destinationPortRanges ?? [])].filter((p) => p !== undefined).map(String);
  if (reachesProtectedPort(rule.protocol, ports)) {
    report(`security rule "${rule.name}" lets the internet reach ${rule.protocol} ${ports.join(", ")}: InfluxDB or a relay`);
  }
}

/** protocol: Azure's Tcp, Udp, All or *; ports: "*", "8086" or "8000-8100". */
function reachesProtectedPort(protocol: string | undefined, ports: readonly string[]): boolean {
  const carries = (name: string): boolean => [name, "all", "*"].includes((protocol ?? "*").toLowerCase());
  if (carries("udp") && ports.length > 0) return true;
  return carries("tcp") && ports.some((range) => PROTECTED_TCP_PORTS.some((port) => portInRange(port, range)));
}

function portInRange(port: number, range: string): boolean {
  if (range === "*") return true;
  const [low, high = low] = range.split("-").map(Number);
  return port >= low! && port <= high!;
}

/** A frontend with a subnet is internal; one without takes a public IP. */
function isPublicLoadBalancer(props: Props): boolean {
  return (props.frontendIPConfigurations ?? []).some((frontend: Props) => frontend.subnet === undefined);
}

function isPublicService(props: Props): boolean {
  return (
    props.spec?.type === "LoadBalancer" &&
    Object.entries(AZURE_INTERNAL_LB).some(([key, value]) => props.metadata?.annotations?.[key] !== value)
  );
}

function isKubernetesWorkload(resource: PolicyResource): boolean {
  return resource.type === "kubernetes:apps/v1:StatefulSet" || resource.type === "kubernetes:apps/v1:Deployment";
}

function componentOf(props: Props): string | undefined {
  return props.metadata?.labels?.[COMPONENT_LABEL];
}
