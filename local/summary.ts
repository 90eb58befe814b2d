// What `npm start` prints once the layout is up: where to write, where to query, where the logs are.
import type { LocalPlan } from "./plan.js";

export function describeLayout(plan: LocalPlan): string {
  const db = plan.databases[0] ?? plan.udpDatabase;
  const q = (text: string): string => encodeURIComponent(text).replace(/'/g, "%27");
  const first = plan.replicas[0];
  const rows: Array<[string, string]> = [
    ["client endpoint", `${plan.clientUrl}  (the relay: POST /write?db=${q(db)} reaches every replica)`],
    ["UDP endpoint", `${plan.host}:${plan.relay.udpPort}  (line protocol into database ${db} on every replica)`],
    ...plan.replicas.map((r, i): [string, string] => [
      i === 0 ? "replicas" : "",
      `${r.name}  ${r.url}${i === 0 ? "  (query each replica here for now)" : ""}`,
    ]),
    ["databases", plan.databases.join(", ")],
    ["run dir", plan.runDir],
    ...[plan.relay.logPath, ...plan.replicas.map((r) => r.logPath)].map((log, i): [string, string] => [i === 0 ? "logs" : "", log]),
    ["try it", `curl -i -XPOST '${plan.clientUrl}/write?db=${q(db)}' --data-binary 'cpu,host=a value=1'`],
  ];
  if (first) rows.push(["", `curl -G '${first.url}/query?db=${q(db)}' --data-urlencode 'q=SELECT * FROM cpu'`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    "influx-ha local layout is running:",
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    "Ctrl-C to stop.",
  ].join("\n");
}
