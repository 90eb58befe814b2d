// What `npm start` prints once the layout is up: where to write and query, the stats page, where the
// secrets are kept (never the secrets themselves), the logs.
import { relative } from "node:path";
import type { LocalPlan } from "./plan.js";
import { relayAdminTokenPath, statsPasswordPath } from "./plan.js";

export function describeLayout(plan: LocalPlan): string {
  const { topology, haproxy } = plan;
  const db = topology.databases[0]!;
  const q = (text: string): string => encodeURIComponent(text).replace(/'/g, "%27");
  const list = <T>(label: string, items: readonly T[], show: (item: T) => string): Array<[string, string]> =>
    items.map((item, i) => [i === 0 ? label : "", show(item)]);
  const rows: Array<[string, string]> = [
    [
      "client endpoint",
      `${plan.clientUrl}  (HAProxy: POST /write?db=${q(db)} and CREATE/DROP through /query reach every replica; reads go to one in sync)`,
    ],
    [
      "stats page",
      `${haproxy.statsUrl}  (user ${topology.stats.user}, password in ${statsPasswordPath(plan.runDir)}; Prometheus: /metrics)`,
    ],
    ...list(
      "UDP",
      plan.relays,
      (r) => `${plan.host}:${r.udpPort}  (${r.name}: line protocol into ${topology.udpDatabase} on every replica)`,
    ),
    ...list("relays", plan.relays, (r) => `${r.name}  ${r.url}  (/health, /status, /metrics)`),
    [
      "admin token",
      `${relayAdminTokenPath(plan.runDir)}  (also in each relay.toml: the relays' Bearer token for POST /admin/flush and /admin/mark-in-sync)`,
    ],
    ...list("replicas", plan.replicas, (r) => `${r.name}  ${r.url}`),
    ["databases", topology.databases.join(", ")],
    ["run dir", plan.runDir],
    ...list("logs", [haproxy.logPath, ...plan.relays.map((r) => r.logPath), ...plan.replicas.map((r) => r.logPath)], (log) =>
      relative(plan.runDir, log),
    ),
    ["try it", `curl -i -XPOST '${plan.clientUrl}/write?db=${q(db)}' --data-binary 'cpu,host=a value=1'`],
    ["", `curl -G '${plan.clientUrl}/query?db=${q(db)}' --data-urlencode 'q=SELECT * FROM cpu'`],
  ];
  if (plan.watch) rows.push(["watching", "relay/: a change restarts the relays one at a time"]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    "influx-ha local layout is running:",
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    `Ctrl-C to stop (or kill $(cat ${plan.lockPath})).`,
  ].join("\n");
}
