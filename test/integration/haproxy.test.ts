// haproxy.cfg from the topology: every variant passes the real `haproxy -c` without a warning, and a
// real haproxy in front of scripted relays routes every client path to a relay (never to a replica),
// answers the rest itself, and follows the relays' health, as the README says.
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderHaproxyConfig } from "../../haproxy/render.js";
import { parseStatsCsv } from "../../haproxy/stats-csv.js";
import { basicAuth } from "../../local/haproxy-process.js";
import { buildTopology, type TopologySpec } from "../../topology/build.js";
import type { Topology } from "../../topology/model.js";
import { checkHaproxyConfig, startHaproxy, type RunningHaproxy } from "../helpers/haproxy.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { startScriptedBackend, type RecordedRequest, type Reply, type ScriptedBackend } from "../helpers/scripted-backend.js";
import { selfSignedPem } from "../helpers/tls.js";
import { VM_SPEC } from "../helpers/topology.js";

function render(spec: TopologySpec): string {
  const topology = buildTopology(spec);
  return renderHaproxyConfig(topology, topology.loadBalancers[0]!);
}

describe("renderHaproxyConfig", () => {
  it("is deterministic and keeps the topology's order", () => {
    const cfg = render(VM_SPEC);
    expect(render(VM_SPEC)).toBe(cfg);
    const servers = [...cfg.matchAll(/^ {4}server (\S+) (\S+) check maxconn 1000$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(servers).toEqual(["relay-0 10.0.1.4:9096", "relay-1 10.0.1.5:9096"]);
    expect(cfg).toContain("bind 0.0.0.0:8086\n");
    expect(cfg).toContain("bind 0.0.0.0:8404\n");
    expect(cfg).toContain("default-server inter 2s fall 3 rise 2");
  });

  it("has one backend, the relays, balanced by least connections, with no stickiness and no replica in it", () => {
    const cfg = render(VM_SPEC);
    expect([...cfg.matchAll(/^backend (\S+)$/gm)].map((m) => m[1])).toEqual(["relays"]);
    expect(cfg).toContain("    default_backend relays\n");
    expect(cfg).not.toContain("use_backend");
    expect(cfg).toContain("    balance leastconn\n");
    expect(cfg).not.toMatch(/stick|roundrobin/);
    expect(cfg).not.toMatch(/:8086 check/); // the replicas' ports
    expect(cfg).toContain("    retry-on conn-failure\n");
  });

  it("gives the relays the longer of the write and the query timeout", () => {
    const timeouts = (spec: TopologySpec): string[] => [...render(spec).matchAll(/timeout server (\S+)/g)].map((m) => m[1]!);
    expect(timeouts(VM_SPEC)).toEqual(["5m"]); // the 5-minute query timeout beats the 1-minute write timeout
    expect(timeouts({ ...VM_SPEC, loadBalancer: { writeTimeout: "10m", queryTimeout: "2m" } })).toEqual(["10m"]);
    expect(timeouts({ ...VM_SPEC, loadBalancer: { writeTimeout: "30s", queryTimeout: "90s" } })).toEqual(["90s"]);
  });

  it("caps each relay's open requests at relayMaxConnections, so the rest wait in HAProxy's queue for the connect timeout", () => {
    const cfg = render({ ...VM_SPEC, loadBalancer: { relayMaxConnections: 64, connectTimeout: "2s" } });
    expect([...cfg.matchAll(/^ {4}server \S+ \S+ check maxconn (\d+)$/gm)].map((m) => m[1])).toEqual(["64", "64"]);
    expect(cfg).toContain("    timeout queue 2s\n");
    expect(cfg).toContain(
      `    http-error status 503 content-type application/json string '{"error":"no relay could take the request in time: they are busy or unreachable; retry later"}' hdr Retry-After 1\n`,
    );
    expect(() => render({ ...VM_SPEC, loadBalancer: { relayMaxConnections: 0 } })).toThrow(
      "loadBalancer.relayMaxConnections must be a whole number of at least 1, not 0",
    );
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
      loadBalancer: {
        maxConnections: 20_000,
        relayMaxConnections: 5_000,
        writeTimeout: "2m",
        queryTimeout: "30m",
        checkInterval: "500ms",
        checkFall: 2,
        checkRise: 5,
      },
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

describe("a real haproxy in front of scripted relays", () => {
  const HEALTHY = 200;
  let relays: ScriptedBackend[];
  let replicas: ScriptedBackend[];
  let relayHealth: number;
  let topology: Topology;
  let haproxy: RunningHaproxy;

  // Each relay answers a read with its own name, so the client's answer shows which relay gave it.
  const relayReply =
    (name: string) =>
    (req: RecordedRequest): Reply => {
      if (req.path === "/health") return { status: relayHealth };
      // HEAD /ping; the scripted backend answers GET /ping itself, with the same header.
      if (req.path === "/ping") return { status: 204, headers: { "X-Influxdb-Version": "scripted" } };
      if (["/write", "/api/v2/write", "/api/v1/prom/write"].includes(req.path)) return { status: 204 };
      return { status: 200, body: JSON.stringify({ answeredBy: name }), delayMs: req.query.get("q") === "SLOW" ? 1_500 : 0 };
    };

  beforeAll(async () => {
    relayHealth = HEALTHY;
    relays = await Promise.all(["relay-0", "relay-1"].map((name) => startScriptedBackend(relayReply(name))));
    // Replicas that HAProxy must never reach: not for a request, not for a health check.
    replicas = await Promise.all([startScriptedBackend({ status: 500 }), startScriptedBackend({ status: 500 })]);
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
      relayAdminToken: "test-relay-admin-token",
    });
    haproxy = await startHaproxy(topology);
    for (const name of ["relay-0", "relay-1"]) await haproxy.waitForState(name, "UP");
  }, 30_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all([...(relays ?? []), ...(replicas ?? [])].map((b) => b.close()));
  });

  /** The client requests each relay recorded (not HAProxy's /health checks; GET /ping is counted in `pings`). */
  const clientRequests = (relay: ScriptedBackend): RecordedRequest[] => relay.requests.filter((r) => r.path !== "/health");
  const pings = (): number => relays.reduce((n, r) => n + r.pings, 0);

  /** Sends one request through HAProxy; returns the answer and what reached which relay meanwhile. */
  async function through(method: "GET" | "HEAD" | "POST" | "PUT", path: string, body?: string | Buffer, headers?: Record<string, string>) {
    const before = relays.map((r) => clientRequests(r).length);
    const pingsBefore = pings();
    const res = await request(`${haproxy.url}${path}`, { method, body, headers });
    const text = await res.body.text();
    const landed = relays.flatMap((r, i) =>
      clientRequests(r)
        .slice(before[i])
        .map((req) => ({ relay: `relay-${i}`, req })),
    );
    return { status: res.statusCode, headers: res.headers, text, landed, pinged: pings() - pingsBefore };
  }

  it("sends every path it serves to one relay, with the client's method, path, query, auth, headers and body untouched", async () => {
    const auth = { authorization: "Token abc:def" };
    const promRead = Buffer.from([0xff, 0x00, 0x1a, 0x0b, 0x08, 0x80, 0x7f]); // snappy-compressed protobuf, as far as HAProxy knows
    const promWrite = Buffer.from("0b280a090a070a016e12027570", "hex"); // a remote write of one series, n="up", with no sample
    const prometheus = { "content-type": "application/x-protobuf", "content-encoding": "snappy" };
    const cases: Array<
      [method: "GET" | "HEAD" | "POST", path: string, body: string | Buffer | undefined, extra: Record<string, string>, status: number]
    > = [
      ["POST", "/write?db=telegraf&precision=s", "cpu value=1 1", {}, 204],
      ["POST", "/api/v2/write?bucket=telegraf&org=x", "cpu value=2 2", {}, 204],
      ["GET", "/query?db=telegraf&q=SELECT+1", undefined, {}, 200],
      ["POST", "/query?db=telegraf", "q=CREATE+DATABASE+x", { "content-type": "application/x-www-form-urlencoded" }, 200],
      ["POST", "/api/v2/query", 'from(bucket:"telegraf") |> range(start:-1h)', { "content-type": "application/vnd.flux" }, 200],
      ["POST", "/api/v1/prom/write?db=telegraf", promWrite, { ...prometheus, "x-prometheus-remote-write-version": "0.1.0" }, 204],
      ["POST", "/api/v1/prom/read?db=telegraf", promRead, prometheus, 200],
      ["HEAD", "/ping", undefined, {}, 204],
    ];
    for (const [method, path, body, extra, status] of cases) {
      const res = await through(method, path, body, { ...auth, ...extra });
      expect([method, path, res.status]).toEqual([method, path, status]);
      expect(res.landed).toHaveLength(1);
      const { relay, req } = res.landed[0]!;
      expect([req.method, req.url]).toEqual([method, path]);
      expect(req.body.equals(Buffer.from(body ?? ""))).toBe(true);
      expect(req.headers.authorization).toBe("Token abc:def");
      for (const [name, value] of Object.entries(extra)) expect(req.headers[name]).toBe(value);
      if (status === 200) expect(JSON.parse(res.text)).toEqual({ answeredBy: relay }); // the relay's answer, as it gave it
      if (method === "HEAD") expect(res.headers["x-influxdb-version"]).toBe("scripted");
    }

    const ping = await through("GET", "/ping?verbose=true");
    expect([ping.status, ping.pinged, ping.landed]).toEqual([204, 1, []]);
    expect(ping.headers["x-influxdb-version"]).toBe("scripted"); // a relay answered it (with a replica's version)
  });

  it("sends the next request to the relay with fewer open ones, so a long query does not hold writes up", async () => {
    const before = relays.map((r) => clientRequests(r).length);
    const slow = request(`${haproxy.url}/query?db=telegraf&q=SLOW`).then(async (res) => [
      res.statusCode,
      JSON.parse(await res.body.text()),
    ]);
    let busy = -1;
    await waitFor(async () => (busy = relays.findIndex((r, i) => clientRequests(r).length > before[i]!)) >= 0, {
      timeoutMs: 5_000,
      what: "the slow query to reach a relay",
    });
    const writes: string[] = [];
    for (const i of [1, 2, 3, 4]) {
      const res = await through("POST", "/write?db=telegraf", `cpu value=${i}`);
      expect(res.status).toBe(204);
      writes.push(...res.landed.map((l) => l.relay));
    }
    expect(writes).toEqual(Array(4).fill(`relay-${1 - busy}`));
    expect(await slow).toEqual([200, { answeredBy: `relay-${busy}` }]);
  });

  it("answers wrong methods and every path it does not serve itself, in InfluxDB's JSON error shape, sending the relays nothing", async () => {
    const notFound =
      "not found: this endpoint serves /write, /api/v2/write, /api/v1/prom/write, /query, /api/v2/query, /api/v1/prom/read, /ping and /health";
    const cases: Array<[method: "GET" | "POST" | "PUT", path: string, status: number, allow: string | undefined, error: string]> = [
      ["GET", "/write?db=telegraf", 405, "POST", "use POST to write"],
      ["GET", "/api/v2/write?bucket=telegraf", 405, "POST", "use POST to write"],
      ["GET", "/api/v1/prom/write?db=telegraf", 405, "POST", "use POST to write"],
      ["PUT", "/query?q=x", 405, "GET, POST", "use GET or POST to query"],
      ["GET", "/api/v2/query", 405, "POST", "use POST to query"],
      ["GET", "/api/v1/prom/read", 405, "POST", "use POST to query"],
      ["POST", "/ping", 405, "GET, HEAD", "use GET or HEAD to ping"],
      // The relays' own endpoints stay on their port: peers and operators only.
      ["GET", "/status", 404, undefined, notFound],
      ["GET", "/metrics", 404, undefined, notFound],
      ["POST", "/peer/fence?output=influxd-0", 404, undefined, notFound],
      ["GET", "/peer/status", 404, undefined, notFound],
      ["POST", "/admin/flush", 404, undefined, notFound],
      // Nor anything else of influxd's.
      ["GET", "/debug/vars", 404, undefined, notFound],
      ["GET", "/debug/pprof/", 404, undefined, notFound],
      ["GET", "/api/v2/buckets", 404, undefined, notFound],
      ["POST", "/write/more", 404, undefined, notFound],
      ["GET", "/", 404, undefined, notFound],
    ];
    for (const [method, path, status, allow, error] of cases) {
      const res = await through(method, path, method === "GET" ? undefined : "x");
      expect([method, path, res.status, res.headers.allow, JSON.parse(res.text)]).toEqual([method, path, status, allow, { error }]);
      expect(res.headers["content-type"]).toBe("application/json");
      expect([method, path, res.landed, res.pinged]).toEqual([method, path, [], 0]);
    }
  });

  it("answers every path 503 and /health 503 while no relay is up, and sends to the relays again once one is", async () => {
    const health = async (): Promise<[number, unknown]> => {
      const res = await request(`${haproxy.url}/health`);
      return [res.statusCode, JSON.parse(await res.body.text())];
    };
    expect(await health()).toEqual([200, { name: "influx-ha", message: "ready for queries and writes", status: "pass" }]);
    relayHealth = 503;
    try {
      for (const name of ["relay-0", "relay-1"]) await haproxy.waitForState(name, "DOWN");
      for (const [method, path] of [
        ["GET", "/ping"],
        ["POST", "/write?db=telegraf"],
        ["POST", "/api/v1/prom/write?db=telegraf"],
        ["GET", "/query?q=SELECT+1"],
        ["POST", "/api/v2/query"],
        ["POST", "/api/v1/prom/read"],
      ] as const) {
        const res = await through(method, path, method === "POST" ? "x" : undefined);
        expect([path, res.status, JSON.parse(res.text)]).toEqual([
          path,
          503,
          { error: "no relay is up: nothing can be written or queried" },
        ]);
        expect([path, res.landed, res.pinged]).toEqual([path, [], 0]);
      }
      expect(await health()).toEqual([503, { name: "influx-ha", message: "no relay is up", status: "fail" }]);
    } finally {
      relayHealth = HEALTHY;
    }
    await haproxy.waitForState("relay-0", "UP");
    const ping = await through("GET", "/ping");
    expect([ping.status, ping.pinged]).toEqual([204, 1]);
    expect((await health())[0]).toBe(200);
  });

  it("serves the stats page and the Prometheus metrics behind the stats credentials only, listing the relays alone", async () => {
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
    for (const server of ["relay-0", "relay-1"]) expect(html).toContain(server);
    expect(html).not.toContain("influxd-0");
    expect((await haproxy.states()).map((s) => `${s.backend}/${s.server}`)).toEqual(["relays/relay-0", "relays/relay-1"]);

    const metrics = await request(new URL("/metrics", haproxy.statsUrl), { headers: auth });
    const text = await metrics.body.text();
    expect(metrics.statusCode).toBe(200);
    expect(text).toMatch(/^haproxy_server_status\{proxy="relays",server="relay-0",state="UP"\} 1$/m);
    const noAuth = await request(new URL("/metrics", haproxy.statsUrl));
    await noAuth.body.dump();
    expect(noAuth.statusCode).toBe(401);
  });

  it("never sent a replica anything, not even a health check", () => {
    expect(replicas.map((r) => [r.requests.length, r.pings])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});

describe("a real haproxy in front of busy relays", () => {
  const WRITE_MS = 2_000;
  let relays: ScriptedBackend[] = [];
  let haproxy: RunningHaproxy | undefined;

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(relays.map((b) => b.close()));
  });

  it("holds a request past the relays' maxconn in its queue, then answers 503 in JSON with Retry-After", async () => {
    // Each relay takes 2 s per write and one request at a time; the queue holds a request for 1 s.
    relays = await Promise.all(
      [0, 1].map(() => startScriptedBackend((req) => (req.path === "/health" ? { status: 200 } : { status: 204, delayMs: WRITE_MS }))),
    );
    const at = { address: "127.0.0.1", bindAddress: "127.0.0.1" };
    const topology = buildTopology({
      databases: ["telegraf"],
      replicas: await Promise.all(
        [0, 1].map(async (i) => ({ name: `influxd-${i}`, ...at, httpPort: await freePort(), rpcPort: await freePort() })),
      ),
      relays: relays.map((r, i) => ({ name: `relay-${i}`, ...at, httpPort: r.port })),
      loadBalancers: [{ name: "haproxy", ...at, port: await freePort(), statsPort: await freePort() }],
      loadBalancer: { relayMaxConnections: 1, connectTimeout: "1s", checkInterval: "100ms", checkFall: 2, checkRise: 2 },
      stats: { password: "test-stats-password" },
      relayAdminToken: "test-relay-admin-token",
    });
    haproxy = await startHaproxy(topology);
    for (const name of ["relay-0", "relay-1"]) await haproxy.waitForState(name, "UP");

    const sentAt = Date.now();
    const answers = await Promise.all(
      [0, 1, 2].map(async () => {
        const res = await request(`${haproxy!.url}/write?db=telegraf`, { method: "POST", body: "cpu value=1 1" });
        const text = await res.body.text();
        return { status: res.statusCode, retryAfter: res.headers["retry-after"], text, after: Date.now() - sentAt };
      }),
    );
    const written = answers.filter((a) => a.status === 204);
    const queued = answers.filter((a) => a.status !== 204);
    expect(written).toHaveLength(2);
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ status: 503, retryAfter: "1" });
    expect(JSON.parse(queued[0]!.text)).toEqual({
      error: "no relay could take the request in time: they are busy or unreachable; retry later",
    });
    // It waited out the queue timeout, not a relay's answer.
    expect(queued[0]!.after).toBeGreaterThanOrEqual(900);
    expect(queued[0]!.after).toBeLessThan(WRITE_MS);
    expect(relays.map((r) => r.requests.filter((req) => req.path === "/write").length)).toEqual([1, 1]);
  });
});
