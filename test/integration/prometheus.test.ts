// observability/ against real Prometheus (Debian's 2.42, started here on loopback ports with its TSDB in a
// temp dir) and the local layout: promtool checks and unit-tests the alerting rules (and fails a broken
// copy); Prometheus scrapes the relays' /metrics and HAProxy's exporter, loads the rules, and holds every
// series the rules and the dashboard select; every dashboard expression parses and returns data; its
// remote write lands on every replica through the layout, a replica killed -9 catching up through the
// relays' queues; and a second Prometheus reads the first one's samples back through the layout.
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InfluxdProcess } from "../../local/influxd.js";
import { findBinary } from "../../local/tools.js";
import { parseConfig } from "../../relay/config.js";
import { startRelay, type RunningRelay } from "../../relay/relay.js";
import { captureLog } from "../helpers/capture-log.js";
import { useLocalLayout } from "../helpers/local-layout.js";
import { freePort, sleep, waitFor } from "../helpers/ports.js";
import { PROMTOOL, startPrometheus, type PromSeries, type RunningPrometheus } from "../helpers/prometheus.js";
import { metricNames } from "../helpers/promql-metric-names.js";
import { tempDir } from "../helpers/temp.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RULES = join(ROOT, "observability/prometheus/influx-ha.rules.yml");
const RULE_TESTS = join(ROOT, "observability/prometheus/influx-ha.rules.test.yml");
const DASHBOARD = join(ROOT, "observability/grafana/influx-ha.json");
const OPERATIONS = join(ROOT, "docs/operations.md");
const README = join(ROOT, "README.md");
/** Where the rules' runbook_url point: docs/operations.md on the repository's main branch. */
const RUNBOOK = "https://github.com/influx-ha/influx-ha/blob/main/docs/operations.md";
/** The job names the rules and the README's scrape configs use. */
const RELAY_JOB = "influx-relay";
const HAPROXY_JOB = "influx-haproxy";
const DB = "prometheus";
const TEST_TIMEOUT_MS = 120_000;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
interface Variable {
  name: string;
  type: string;
  query: string;
  allValue?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const ruleFile = (): RuleFile => parse(readFileSync(RULES, "utf8")) as RuleFile;
const rules = (file = ruleFile()): Rule[] => file.groups.flatMap((g) => g.rules);
const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
const dashboardExprs = (): string[] => dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

/**
 * A dashboard expression as Grafana sends it with "All" selected: every template variable the regex that
 * matches everything (the variables are only used with =~), and $__rate_interval a few scrape intervals
 * of the 1 s scrapes here.
 */
function substituted(expr: string): string {
  return expr.replaceAll("$__rate_interval", "15s").replace(/\$\{?(\w+)\}?/g, ".*");
}

function promtool(args: readonly string[], cwd: string): { status: number | null; output: string } {
  const binary = findBinary(PROMTOOL.binary);
  if (binary === undefined) throw new Error(`promtool not found: install it with "sudo apt-get install -y ${PROMTOOL.aptPackage}"`);
  const result = spawnSync(binary, args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The rules and their tests copied to a temp dir, the rules changed by `change`: what promtool says of the copy. */
function testRulesChanged(change: (rules: Rule[]) => void): { status: number | null; output: string } {
  const dir = tempDir("influx-ha-rules-");
  cpSync(RULE_TESTS, join(dir, "influx-ha.rules.test.yml"));
  const file = ruleFile();
  change(rules(file));
  writeFileSync(join(dir, "influx-ha.rules.yml"), stringify(file));
  return promtool(["test", "rules", "influx-ha.rules.test.yml"], dir);
}

const ruleNamed = (all: Rule[], alert: string): Rule => {
  const rule = all.find((r) => r.alert === alert);
  if (!rule) throw new Error(`no rule ${alert}`);
  return rule;
};

/** The anchors GitHub gives docs/operations.md's headings (outside code blocks). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let inCode = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) inCode = !inCode;
    const heading = /^#{1,6}\s+(.+)$/.exec(line);
    if (inCode || !heading) continue;
    anchors.add(
      heading[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-"),
    );
  }
  return anchors;
}

describe("the alerting rules under promtool", () => {
  it("pass promtool check rules, and a rule that does not parse fails it", () => {
    const checked = promtool(["check", "rules", RULES], ROOT);
    expect(checked.output).toContain(`SUCCESS: ${rules().length} rules found`);
    expect(checked.status).toBe(0);

    const dir = tempDir("influx-ha-rules-");
    const broken = ruleFile();
    ruleNamed(rules(broken), "InfluxHaQueueBytesNearLimit").expr = "influx_relay_queue_bytes / > 0.8";
    writeFileSync(join(dir, "broken.rules.yml"), stringify(broken));
    const refused = promtool(["check", "rules", "broken.rules.yml"], dir);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toMatch(/parse error/);
  });

  it("pass their unit tests, which fail a rule that fires too late, too early, or not at all", () => {
    const tested = promtool(["test", "rules", RULE_TESTS], join(ROOT, "observability/prometheus"));
    expect(tested.output).toContain("SUCCESS");
    expect(tested.status).toBe(0);

    const late = testRulesChanged((all) => {
      ruleNamed(all, "InfluxHaQueueBytesNearLimit").expr = "influx_relay_queue_bytes / influx_relay_queue_limit_bytes > 0.9";
    });
    expect(late.status).not.toBe(0);
    expect(late.output).toMatch(/alertname: InfluxHaQueueBytesNearLimit, time: 6m/);

    // The queue at 50% in the tests must stay quiet.
    const early = testRulesChanged((all) => {
      ruleNamed(all, "InfluxHaQueueBytesNearLimit").expr = "influx_relay_queue_bytes / influx_relay_queue_limit_bytes > 0.4";
    });
    expect(early.status).not.toBe(0);
    expect(early.output).toMatch(/alertname: InfluxHaQueueBytesNearLimit, time: 6m/);

    const never = testRulesChanged((all) => {
      ruleNamed(all, "InfluxHaOutputOutOfSync").expr = "count by (output) (influx_relay_output_out_of_sync == 1) > 2";
    });
    expect(never.status).not.toBe(0);
    expect(never.output).toMatch(/alertname: InfluxHaOutputOutOfSync, time: 2m/);
  });

  it("give every alert a severity, a summary, a description and a runbook entry that docs/operations.md and the README have", () => {
    const anchors = headingAnchors(readFileSync(OPERATIONS, "utf8"));
    const readme = readFileSync(README, "utf8");
    const all = rules();
    expect(new Set(all.map((r) => r.alert)).size).toBe(all.length);
    for (const rule of all) {
      expect(["warning", "critical"], rule.alert).toContain(rule.labels.severity);
      expect(Object.keys(rule.annotations).sort(), rule.alert).toEqual(["description", "runbook_url", "summary"]);
      const anchor = `alert-${rule.alert.toLowerCase()}`;
      expect(rule.annotations.runbook_url, rule.alert).toBe(`${RUNBOOK}#${anchor}`);
      expect(anchors.has(anchor), `docs/operations.md has no heading for #${anchor}`).toBe(true);
      expect(readme, `the README's Monitoring section names ${rule.alert}`).toContain(`docs/operations.md#${anchor}`);
    }
  });
});

describe("the Grafana dashboard as a file", () => {
  it("templates its data source, jobs, relays and replicas, and names no instance of its own", () => {
    const d = dashboard();
    expect(d.uid).toBe("influx-ha");
    expect(Number.isInteger(d.schemaVersion)).toBe(true);
    const variables = Object.fromEntries(d.templating.list.map((v) => [v.name, v]));
    expect(variables.datasource).toMatchObject({ type: "datasource", query: "prometheus" });
    for (const name of ["job", "instance", "output", "lb_job"]) expect(variables[name]?.type, name).toBe("query");
    for (const name of ["instance", "output"]) expect(variables[name]?.allValue, name).toBe(".*");

    const text = readFileSync(DASHBOARD, "utf8");
    for (const literal of ["127.0.0.1", ":9096", ":8404", "influxdb-", "influxd-", "relay-0", "10.42."])
      expect(text).not.toContain(literal);
    for (const panel of d.panels) {
      if (panel.type === "row") continue;
      expect(panel.datasource?.uid, panel.title).toBe("${datasource}");
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.uid, panel.title).toBe("${datasource}");
        // A variable is only ever matched as a regex, so "All" (.*) works everywhere.
        expect(target.expr, panel.title).not.toMatch(/[^=!]="\$/);
      }
    }
  });

  it("lays its panels out on Grafana's 24-column grid, with unique ids and no two overlapping", () => {
    const panels = dashboard().panels;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    const overlaps = (a: Panel["gridPos"], b: Panel["gridPos"]) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) expect(overlaps(a.gridPos, b.gridPos), `${a.title} and ${b.title}`).toBe(false);
    }
  });
});

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}
interface RuleState {
  name: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
}
interface Alert {
  labels: Record<string, string>;
  state: string;
}
interface OutputStatus {
  name: string;
  up: boolean;
  outOfSync?: unknown;
  queue: { entries: number };
}

describe("Prometheus against the local layout", () => {
  const fx = useLocalLayout({ name: "prometheus", databases: ["telegraf"] });
  /** A relay beside the layout's with the optional drift check on, over the same replicas, scraped with them. */
  let driftRelay: RunningRelay | undefined;
  let driftRelayPort = 0;
  let scraper: RunningPrometheus | undefined;
  let scraperStartedAt = 0;

  /** A statement through the layout's client endpoint; fails on any error in the answer. */
  async function statement(q: string): Promise<void> {
    const res = await request(`${fx.plan.clientUrl}/query`, {
      method: "POST",
      body: new URLSearchParams({ q }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || text.includes('"error"')) throw new Error(`${q}: ${res.statusCode} ${text}`);
  }

  beforeAll(async () => {
    // Through the endpoint, as a client would: every replica gets it.
    await statement(`CREATE DATABASE ${DB}`);
    driftRelayPort = await freePort();
    const outputs = fx.plan.replicas.map((r) => `{ name = "${r.name}", location = "${r.url}/write" }`);
    driftRelay = await startRelay(
      parseConfig(
        [
          "[[http]]",
          `bind-addr = "127.0.0.1:${driftRelayPort}"`,
          `spool-dir = "${tempDir("influx-ha-drift-relay-")}"`,
          'drift-check-interval = "2s"',
          'drift-check-window = "1m"',
          `output = [${outputs.join(", ")}]`,
        ].join("\n"),
        "drift-relay.toml",
      ),
      captureLog().logger,
    );
    const { stats } = fx.plan.topology;
    scraperStartedAt = Date.now();
    scraper = await startPrometheus({
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      rule_files: [RULES],
      scrape_configs: [
        {
          job_name: RELAY_JOB,
          static_configs: [{ targets: [...fx.plan.relays.map((r) => `127.0.0.1:${r.httpPort}`), `127.0.0.1:${driftRelayPort}`] }],
        },
        {
          job_name: HAPROXY_JOB,
          basic_auth: { username: stats.user, password: stats.password },
          static_configs: [{ targets: [`127.0.0.1:${fx.plan.topology.loadBalancers[0]!.statsPort}`] }],
        },
      ],
      remote_write: [
        {
          url: `${fx.plan.clientUrl}/api/v1/prom/write?db=${DB}`,
          queue_config: { batch_send_deadline: "1s", min_backoff: "100ms", max_backoff: "1s" },
        },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await scraper?.stop();
    await driftRelay?.close();
  }, 30_000);

  const prometheus = (): RunningPrometheus => {
    if (!scraper) throw new Error("Prometheus is started in beforeAll");
    return scraper;
  };

  it(
    "scrapes every relay and HAProxy's exporter, and holds every series the rules and the dashboard select",
    async () => {
      const expected = fx.plan.relays.length + 2;
      await waitFor(
        async () => {
          const { activeTargets } = await prometheus().api<{ activeTargets: Target[] }>("targets");
          return activeTargets.length === expected && activeTargets.every((t) => t.health === "up");
        },
        { timeoutMs: 30_000, intervalMs: 500, what: "Prometheus to scrape every relay and HAProxy" },
      );
      const jobs = (await prometheus().query("count by (job) (up == 1)")).map((s) => `${s.metric.job} ${s.value![1]}`);
      expect(jobs.sort()).toEqual([`${HAPROXY_JOB} 1`, `${RELAY_JOB} ${fx.plan.relays.length + 1}`]);

      // Prometheus parses each expression (format_query refuses what does not), then its canonical form is read for names.
      const selected: Array<[string, string]> = [];
      for (const expr of [...rules().map((r) => r.expr), ...dashboardExprs().map(substituted)]) {
        for (const name of metricNames(await prometheus().api<string>("format_query", { query: expr }))) selected.push([name, expr]);
      }
      // Names the reading must find, lest it find nothing and the check pass empty: HAProxy's, the queue bounds, the drift check's.
      for (const name of ["haproxy_server_status", "influx_relay_queue_limit_bytes", "influx_relay_drift_missing_points", "up"]) {
        expect(selected.map(([n]) => n)).toContain(name);
      }
      let missing: string[] = [];
      await waitFor(
        async () => {
          const known = new Set(await prometheus().api<string[]>("label/__name__/values"));
          missing = selected.filter(([name]) => !known.has(name)).map(([name, expr]) => `${name} in ${expr}`);
          return missing.length === 0;
        },
        { timeoutMs: 30_000, intervalMs: 1_000, what: "every selected series in Prometheus's TSDB" },
      ).catch(() => undefined);
      expect(missing).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "loads the rules: each evaluates without error against the layout, and none fires while it is healthy",
    async () => {
      let states: RuleState[] = [];
      await waitFor(
        async () => {
          const { groups } = await prometheus().api<{ groups: Array<{ rules: RuleState[] }> }>("rules", { type: "alert" });
          states = groups.flatMap((g) => g.rules);
          return states.length === rules().length && states.every((r) => r.health !== "unknown");
        },
        { timeoutMs: 20_000, intervalMs: 500, what: "Prometheus to evaluate every rule" },
      );
      expect(states.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
      for (const rule of rules()) await prometheus().query(rule.expr); // a parse error would throw
      const { alerts } = await prometheus().api<{ alerts: Alert[] }>("alerts");
      expect(alerts.filter((a) => a.state === "firing")).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  /** Each series' point count on a replica, time in [startMs, endMs), as "measurement tags" → count. */
  async function seriesCounts(replica: InfluxdProcess, startMs: number, endMs: number): Promise<Map<string, number>> {
    const answer = await replica.query(`SELECT count("value") FROM /.*/ WHERE time >= ${startMs}ms AND time < ${endMs}ms GROUP BY *`, DB);
    const counts = new Map<string, number>();
    for (const series of answer.results[0].series ?? []) {
      // GROUP BY * over many measurements gives every series every tag key of them all, "" where it has none.
      const tags = Object.entries(series.tags as Record<string, string>).filter(([, value]) => value !== "");
      counts.set(`${series.name} ${tags.map(([key, value]) => `${key}=${value}`).join(",")}`, Number(series.values[0][1]));
    }
    return counts;
  }

  const total = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

  async function relayOutputs(url: string): Promise<OutputStatus[]> {
    const res = await request(`${url}/status`);
    return ((await res.body.json()) as { outputs: OutputStatus[] }).outputs;
  }

  it(
    "writes through the layout to every replica by remote write; a replica killed -9 catches up through the relays' queues",
    async () => {
      const [healthy, victim] = fx.plan.replicas.map((r) => fx.layout.influxd(r.name)) as [InfluxdProcess, InfluxdProcess];
      const victimName = fx.plan.replicas[1]!.name;
      await waitFor(
        async () =>
          (await seriesCounts(victim, scraperStartedAt, Date.now())).has(
            `up __name__=up,instance=127.0.0.1:${fx.plan.relays[0]!.httpPort},job=${RELAY_JOB}`,
          ),
        {
          timeoutMs: 30_000,
          intervalMs: 500,
          what: "the relays' up series on the second replica",
        },
      );

      const killedAt = Date.now();
      await victim.kill9();
      // Both relays of the layout queue for it, and Prometheus, with the rules, sees it down.
      await waitFor(
        async () => {
          for (const relay of fx.plan.relays) {
            const output = (await relayOutputs(relay.url)).find((o) => o.name === victimName)!;
            if (output.up || output.queue.entries === 0) return false;
          }
          const { alerts } = await prometheus().api<{ alerts: Alert[] }>("alerts");
          return alerts.some((a) => a.labels.alertname === "InfluxHaReplicaDown" && a.labels.output === victimName);
        },
        { timeoutMs: 30_000, intervalMs: 500, what: `both relays to queue for ${victimName}, and InfluxHaReplicaDown pending` },
      );
      await sleep(3_000); // a few more seconds of samples only the queues hold for it
      const restartedAt = Date.now();
      await victim.restart();
      await waitFor(
        async () => {
          for (const relay of fx.plan.relays) {
            if (!(await relayOutputs(relay.url)).every((o) => o.up && !o.outOfSync && o.queue.entries === 0)) return false;
          }
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: "both relays' queues to drain" },
      );
      await sleep(Math.max(0, restartedAt + 5_000 - Date.now()));

      // Before the kill, the outage, and after: settled samples only (remote write sends within ~1 s).
      const end = Date.now() - 3_000;
      const periods = {
        "before the kill": [scraperStartedAt, killedAt],
        "while it was down": [killedAt, restartedAt],
        "the whole run": [scraperStartedAt, end],
      };
      for (const [what, [from, to]] of Object.entries(periods)) {
        let counts: Array<Map<string, number>> = [];
        await waitFor(
          async () => {
            counts = await Promise.all([healthy, victim].map((r) => seriesCounts(r, from!, to!)));
            return total(counts[0]!) === total(counts[1]!);
          },
          { timeoutMs: 20_000, intervalMs: 500, what: `both replicas to hold the same points ${what}` },
        ).catch(() => undefined);
        expect(total(counts[0]!), what).toBeGreaterThan(0);
        expect(counts[1], what).toEqual(counts[0]);
      }
      const { activeTargets } = await prometheus().api<{ activeTargets: Target[] }>("targets");
      expect(activeTargets.every((t) => t.health === "up")).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    // After the replica's outage: the replay panels have data only once a relay has replayed something.
    "answers every dashboard expression with data, every variable with values",
    async () => {
      const empty: string[] = [];
      await waitFor(
        async () => {
          empty.length = 0;
          for (const expr of dashboardExprs().map(substituted)) if ((await prometheus().query(expr)).length === 0) empty.push(expr);
          return empty.length === 0;
        },
        { timeoutMs: 30_000, intervalMs: 1_000, what: "every dashboard expression to return data" },
      ).catch(() => undefined);
      expect(empty).toEqual([]);

      const values: Record<string, string[]> = {};
      for (const variable of dashboard().templating.list.filter((v) => v.type === "query")) {
        const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.query) ?? [];
        expect(selector, variable.query).toBeDefined();
        const found = await prometheus().query(`group by (${label}) (${substituted(selector!)})`);
        values[variable.name] = found.map((s) => s.metric[label!]!).sort();
      }
      expect(values).toEqual({
        job: [RELAY_JOB],
        instance: [...fx.plan.relays.map((r) => `127.0.0.1:${r.httpPort}`), `127.0.0.1:${driftRelayPort}`].sort(),
        output: fx.plan.replicas.map((r) => r.name).sort(),
        lb_job: [HAPROXY_JOB],
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "answers a second Prometheus's PromQL from the layout (remote read) with the samples the first one wrote",
    async () => {
      const reader = await startPrometheus({
        global: { evaluation_interval: "1m" },
        remote_read: [{ url: `${fx.plan.clientUrl}/api/v1/prom/read?db=${DB}`, read_recent: true }],
      });
      try {
        const start = Math.ceil(scraperStartedAt / 1000) + 2;
        const end = Math.floor(Date.now() / 1000) - 5;
        const expr = `up{job="${RELAY_JOB}"}`;
        const fromScraper = await prometheus().queryRange(expr, start, end, 1);
        const fromReader = await reader.queryRange(expr, start, end, 1);
        const byLabels = (series: PromSeries[]) => Object.fromEntries(series.map((s) => [JSON.stringify(s.metric), s.values]));
        expect(fromScraper).toHaveLength(fx.plan.relays.length + 1);
        expect(byLabels(fromReader)).toEqual(byLabels(fromScraper));
      } finally {
        await reader.stop();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
