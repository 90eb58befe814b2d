// The Prometheus Operator's objects for the workload (prometheusOperator true): the alerting rules of
// observability/prometheus/influx-ha.rules.yml as a PrometheusRule, so that file stays their one source,
// and a ServiceMonitor each for the relays and HAProxy, through headless Services of their own whose
// label names the job the rules select on. Only for clusters with the operator's CRDs: without them the
// API server refuses these kinds.
import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { metricsService, serviceMonitorSpec, type MonitoringPlan, type ScrapeTarget } from "./plan.js";

/** A rule group as Prometheus's rule files and the PrometheusRule's spec.groups hold it. */
interface PrometheusRuleGroup {
  readonly name: string;
  readonly rules: ReadonlyArray<{
    readonly alert?: string;
    readonly record?: string;
    readonly expr: string;
    readonly for?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  }>;
}

const RULE_GROUPS = ruleGroups(readFileSync(new URL("../../observability/prometheus/influx-ha.rules.yml", import.meta.url), "utf8"));

/** The groups of a rules file; a file without any stops the program here rather than at `pulumi up`. */
function ruleGroups(text: string): readonly PrometheusRuleGroup[] {
  const groups = (parseYaml(text) as { groups?: PrometheusRuleGroup[] } | null)?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error("influx-ha.rules.yml holds no rule groups");
  return groups;
}

export interface MonitoringArgs {
  readonly monitoring: MonitoringPlan;
  readonly namespace: pulumi.Input<string>;
  /** HAProxy's stats Secret: the credentials of its exporter, for the ServiceMonitor's basic auth. */
  readonly statsSecretName: pulumi.Input<string>;
}

export class Monitoring extends pulumi.ComponentResource {
  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:Monitoring", name, {}, opts);
    const { monitoring, namespace } = args;
    const labels = { ...monitoring.labels };

    const rules = new k8s.apiextensions.CustomResource(
      `${name}-rules`,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PrometheusRule",
        metadata: { name: "influx-ha", namespace, labels },
        spec: { groups: RULE_GROUPS },
      },
      { parent: this },
    );

    const serviceMonitor = (role: string, target: ScrapeTarget): k8s.apiextensions.CustomResource => {
      const service = metricsService(target);
      new k8s.core.v1.Service(
        `${name}-${role}-service`,
        { metadata: { name: service.name, namespace, labels: service.labels }, spec: service.spec },
        { parent: this },
      );
      return new k8s.apiextensions.CustomResource(
        `${name}-${role}`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          metadata: { name: target.job, namespace, labels },
          spec: serviceMonitorSpec(monitoring, target, args.statsSecretName),
        },
        { parent: this },
      );
    };
    const relays = serviceMonitor("relays", monitoring.relay);
    const haproxy = serviceMonitor("haproxy", monitoring.haproxy);

    this.registerOutputs({
      prometheusRuleName: rules.metadata.name,
      serviceMonitorNames: [relays.metadata.name, haproxy.metadata.name],
    });
  }
}
