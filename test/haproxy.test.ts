// haproxy.cfg from the topology: every variant passes the real `haproxy -c` without a warning, and a
// real haproxy in front of scripted relays and replicas routes, answers and fails over as the README says.
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "../haproxy/render.js";
import { parseStatsCsv } from "../haproxy/stats-csv.js";
import { basicAuth } from "../local/haproxy-process.js";
import { buildTopology, type TopologySpec } from "../topology/build.js";
import type { Topology } from "../topology/model.js";
import { checkHaproxyConfig, startHaproxy, type RunningHaproxy } from "./helpers/haproxy.js";
import { freePort, waitFor } from "./helpers/ports.js";
import { startScriptedBackend, type ScriptedBackend } from "./helpers/scripted-backend.js";
import { selfSignedPem } from "./helpers/tls.js";
import { VM_SPEC } from "./helpers/topology.js";

function render(spec: TopologySpec): string {
  const topology = buildTopology(spec);
  return renderHaproxyConfig(topology, topology.loadBalancers[0]!);
}

describe("renderHaproxyConfig", () => {
  it("is deterministic and keeps the topology's order", () => {
    const cfg = render(VM_SPEC);
    expect(render(VM_SPEC)).toBe(cfg);
    const servers = [...cfg.matchAll(/^ {4}server (\S+) (\S+) check$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(servers).toEqual(["relay-0 10.0.1.4:9096", "relay-1 10.0.1.5:9096", "influxdb-0 10.0.1.4:8086", "influxdb-1 10.0.1.5:8086"]);
    expect(cfg).toContain("bind 0.0.0.0:8086\n");
    expect(cfg).toContain("bind 0.0.0.0:8404\n");
    expect(cfg).toContain("default-server inter 2s fall 3 rise 2");
    expect(cfg).toContain("timeout server 5m"); // queries
    expect(cfg).toContain("timeout server 1m"); // writes
  });

  const variants: Record<string, TopologySpec> = {
    "seed 003's layout: two VMs with InfluxDB and a relay, one HAProxy": VM_SPEC,
    "IPv6 addresses": {
      ...VM_SPEC,
      replicas: [
        { name: "influxdb-0", address: "fd00::4" },
        { name: "influxdb-1", address: "fd00::5" },
      ],
      loadBalancers: [{ name: "haproxy-0", address: "fd00::10", bindAddress: "::" }],
    },
    "three replicas, four relays, tuned timeouts": {
      ...VM_SPEC,
      replicas: [0, 1, 2].map((i) => ({ name: `influxdb-${i}`, address: `10.0.1.${4 + i}` })),
      relays: [0, 1, 2, 3].map((i) => ({ name: `relay-${i}`, address: `10.0.2.${4 + i}` })),
      loadBalancer: { maxConnections: 20_000, writeTimeout: "2m", queryTimeout: "30m", checkInterval: "500ms", checkFall: 2, checkRise: 5 },
      stats: { user: "ops", password: 'a$b"c\\d#e%f' },
    },
  };
  for (const [name, spec] of Object.entries(variants)) {
    it(`passes haproxy -c with no warning: ${name}`, () => {
      const { status, output } = checkHaproxyConfig(render(spec));
      expect(output).toContain("Configuration file is valid");
      expect(status, output).toBe(0);
    });
  }

  it("passes haproxy -c with TLS on both ports, and fails it when the certificate is missing", () => {
    const { file } = selfSignedPem();
    const cfg = render({ ...VM_SPEC, tls: { certificatePath: file } });
    expect(cfg).toContain(`bind 0.0.0.0:8086 ssl crt ${file} alpn http/1.1`);
    expect(cfg).toContain(`bind 0.0.0.0:8404 ssl crt ${file} alpn http/1.1`);
    const { status, output } = checkHaproxyConfig(cfg);
    expect(status, output).toBe(0);
    // The check reads the certificate: it would catch a wrong path.
    expect(checkHaproxyConfig(render({ ...VM_SPEC, tls: { certificatePath: "/nonexistent/influx.pem" } })).status).not.toBe(0);
  });
});

describe("parseStatsCsv", () => {
  it("reads each server's state by column name and skips the summary rows", () => {
    const csv =
      "# pxname,svname,qcur,status,weight\nrelays,relay-0,0,UP,1\nrelays,relay-1,0,DOWN 1/2,1\nrelays,BACKEND,0,UP,2\nfe,FRONTEND,,OPEN,\n";
    expect(parseStatsCsv(csv)).toEqual([
      { backend: "relays", server: "relay-0", status: "UP" },
      { backend: "relays", server: "relay-1", status: "DOWN 1/2" },
    ]);
    expect(() => parseStatsCsv("<html>")).toThrow("header line is missing");
  });
});

describe("a real haproxy in front of scripted relays and replicas", () => {
  const HEALTHY = 200;
  let relays: ScriptedBackend[];
  let replicas: ScriptedBackend[];
  let relayHealth: number;
  let topology: Topology;
  let haproxy: RunningHaproxy;

  beforeAll(async () => {
    relayHealth = HEALTHY;
    const relayReply = (req: { path: string }) => (req.path === "/health" ? { status: relayHealth } : { status: 204 });
    relays = await Promise.all([startScriptedBackend(relayReply), startScriptedBackend(relayReply)]);
    const replicaReply = { status: 200, body: '{"results":[]}' };
    replicas = await Promise.all([startScriptedBackend(replicaReply), startScriptedBackend(replicaReply)]);
    const at = { address: "127.0.0.1", bindAddress: "127.0.0.1" };
    topology = buildTopology({
      databases: ["telegraf"],
      replicas: await Promise.all(
        replicas.map(async (r, i) => ({ name: `influxd-${i}`, ...at, httpPort: r.port, rpcPort: await freePort() })),
      ),
      relays: relays.map((r, i) => ({ name: `relay-${i}`, ...at, httpPort: r.port })),
      loadBalancers: [{ name: "haproxy", ...at, port: await freePort(), statsPort: await freePort() }],
      // Fast checks, so state changes show within a second.
      loadBalancer: { checkInterval: "100ms", checkFall: 2, checkRise: 2 },
      stats: { password: "test-stats-password" },
    });
    haproxy = await startHaproxy(topology);
    for (const name of ["relay-0", "relay-1", "influxd-0", "influxd-1"]) await haproxy.waitForState(name, "UP");
  }, 30_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all([...(relays ?? []), ...(replicas ?? [])].map((b) => b.close()));
  });

  const writesTo = (backends: ScriptedBackend[]): number[] => backends.map((b) => b.requests.filter((r) => r.path !== "/health").length);

  it("sends POST /write and POST /api/v2/write to the relays, round robin, with the client's auth, query and body untouched", async () => {
    const before = writesTo(relays);
    for (const path of [
      "/write?db=telegraf&precision=s",
      "/api/v2/write?bucket=telegraf&org=x",
      "/write?db=telegraf",
      "/write?db=telegraf",
    ]) {
      const res = await request(`${haproxy.url}${path}`, {
        method: "POST",
        body: "cpu value=1 1",
        headers: { authorization: "Token abc:def" },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(204);
    }
    const after = writesTo(relays);
    expect(after.map((n, i) => n - before[i]!)).toEqual([2, 2]);
    const seen = relays.flatMap((r) => r.requests).filter((r) => r.path !== "/health");
    expect(seen.map((r) => r.url).sort()).toEqual(
      ["/api/v2/write?bucket=telegraf&org=x", "/write?db=telegraf", "/write?db=telegraf", "/write?db=telegraf&precision=s"].sort(),
    );
    for (const r of seen) {
      expect(r.headers.authorization).toBe("Token abc:def");
      expect(r.body.toString()).toBe("cpu value=1 1");
    }
    expect(writesTo(replicas)).toEqual([0, 0]);
  });

  it("sends GET and POST /query and /api/v2/query to one replica and keeps them there", async () => {
    for (const [method, path] of [
      ["GET", "/query?db=telegraf&q=SELECT+1"],
      ["POST", "/query?db=telegraf"],
      ["POST", "/api/v2/query"],
      ["GET", "/query?q=SHOW+DATABASES"],
    ] as const) {
      const res = await request(`${haproxy.url}${path}`, {
        method,
        body: method === "POST" ? "q=SELECT+1" : undefined,
        headers: { authorization: "Basic dTpw" },
      });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('{"results":[]}');
    }
    const counts = writesTo(replicas);
    expect(counts.sort()).toEqual([0, 4]);
    const all = replicas.flatMap((r) => r.requests);
    expect(all.every((r) => r.headers.authorization === "Basic dTpw")).toBe(true);
  });

  it("answers wrong methods, unknown paths and /ping itself, in InfluxDB's JSON error shape", async () => {
    const cases: Array<[string, string, number, string | undefined]> = [
      ["GET", "/write?db=telegraf", 405, "POST"],
      ["PUT", "/query?q=x", 405, "GET, POST"],
      ["GET", "/debug/vars", 404, undefined],
      ["GET", "/", 404, undefined],
    ];
    for (const [method, path, status, allow] of cases) {
      const res = await request(`${haproxy.url}${path}`, { method });
      const body = JSON.parse(await res.body.text()) as { error: string };
      expect([method, path, res.statusCode]).toEqual([method, path, status]);
      expect(res.headers["content-type"]).toBe("application/json");
      expect(res.headers.allow).toBe(allow);
      expect(body.error).toMatch(/^(use|not found)/);
    }
    const ping = await request(`${haproxy.url}/ping`);
    await ping.body.dump();
    expect(ping.statusCode).toBe(204);
    expect(ping.headers["x-influxdb-version"]).toBe("scripted"); // a replica answered
  });

  it("answers /ping 503 and /health 503 while no relay is up, and 204 and 200 again once one is", async () => {
    const health = async (): Promise<[number, unknown]> => {
      const res = await request(`${haproxy.url}/health`);
      return [res.statusCode, JSON.parse(await res.body.text())];
    };
    expect(await health()).toEqual([200, { name: "influx-ha", message: "ready for queries and writes", status: "pass" }]);
    relayHealth = 503;
    try {
      for (const name of ["relay-0", "relay-1"]) await haproxy.waitForState(name, "DOWN");
      const res = await request(`${haproxy.url}/ping`);
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(await res.body.text())).toEqual({ error: "no relay is up: writes would fail" });
      expect(await health()).toEqual([503, { name: "influx-ha", message: "no relay or no replica is up", status: "fail" }]);
    } finally {
      relayHealth = HEALTHY;
    }
    await haproxy.waitForState("relay-0", "UP");
    const res = await request(`${haproxy.url}/ping`);
    await res.body.dump();
    expect(res.statusCode).toBe(204);
    expect((await health())[0]).toBe(200);
  });

  it("moves queries to the other replica when theirs goes down, and does not move them back when it returns", async () => {
    await waitFor(async () => (await haproxy.states()).every((s) => s.status === "UP"), { timeoutMs: 10_000, what: "every server up" });
    const query = async (): Promise<number> => {
      const before = writesTo(replicas);
      const res = await request(`${haproxy.url}/query?q=SELECT+1`);
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      return writesTo(replicas).findIndex((n, i) => n > before[i]!);
    };
    const first = await query();
    expect(await query()).toBe(first);
    const serving = replicas[first]!;
    const other = 1 - first;

    serving.reply = { status: 503, hang: true }; // its /ping fails, so HAProxy's checks do
    await haproxy.waitForState(`influxd-${first}`, "DOWN");
    serving.reply = { status: 200, body: '{"results":[]}' };
    expect(await query()).toBe(other);
    await haproxy.waitForState(`influxd-${first}`, "UP");
    for (let i = 0; i < 5; i++) expect(await query()).toBe(other);
  });

  it("serves the stats page and the Prometheus metrics behind the stats credentials only", async () => {
    const auth = { authorization: basicAuth(topology.stats) };
    const denied = await request(haproxy.statsUrl);
    await denied.body.dump();
    expect(denied.statusCode).toBe(401);
    const wrong = await request(haproxy.statsUrl, { headers: { authorization: basicAuth({ user: "admin", password: "guessed-wrong" }) } });
    await wrong.body.dump();
    expect(wrong.statusCode).toBe(401);

    const page = await request(haproxy.statsUrl, { headers: auth });
    const html = await page.body.text();
    expect(page.statusCode).toBe(200);
    for (const server of ["relay-0", "relay-1", "influxd-0", "influxd-1"]) expect(html).toContain(server);

    const metrics = await request(new URL("/metrics", haproxy.statsUrl), { headers: auth });
    const text = await metrics.body.text();
    expect(metrics.statusCode).toBe(200);
    expect(text).toMatch(/^haproxy_server_status\{proxy="relays",server="relay-0",state="UP"\} 1$/m);
    const noAuth = await request(new URL("/metrics", haproxy.statsUrl));
    await noAuth.body.dump();
    expect(noAuth.statusCode).toBe(401);
  });
});
