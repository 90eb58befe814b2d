// haproxy.cfg for one load balancer of a topology (HAProxy 2.6+). Pure and deterministic: the same
// topology always gives the same text, in the topology's order. HAProxy sends every client request
// InfluxDB serves (writes, Prometheus remote write and read, InfluxQL and Flux queries, /ping) to the relays,
// which choose the replica; it never talks to InfluxDB itself. The routing is documented in the
// README ("The load balancer"); the comments rendered into the file say why each part is there.
import { formatHostPort } from "../relay/config.js";
import { formatDuration } from "../relay/duration.js";
import type { LoadBalancerNode, Topology } from "../topology/model.js";

/** Backend and userlist names; the stats page and the Prometheus metrics show them. */
const NAMES = {
  clientFrontend: "influxdb_client",
  statsFrontend: "stats",
  relays: "relays",
  statsUsers: "stats_users",
} as const;

/** InfluxDB answers errors as {"error": "..."}; so do the answers HAProxy makes itself. */
const ANSWERS = {
  writeMethod: { status: 405, allow: "POST", body: { error: "use POST to write" } },
  queryMethod: { status: 405, allow: "GET, POST", body: { error: "use GET or POST to query" } },
  readMethod: { status: 405, allow: "POST", body: { error: "use POST to query" } },
  pingMethod: { status: 405, allow: "GET, HEAD", body: { error: "use GET or HEAD to ping" } },
  noRelay: { status: 503, body: { error: "no relay is up: nothing can be written or queried" } },
  // HAProxy's own 503 from the relays backend: every relay had its maxconn requests open for as long as
  // `timeout queue`, or none could be reached.
  relaysBusy: { status: 503, body: { error: "no relay could take the request in time: they are busy or unreachable; retry later" } },
  // InfluxDB 1.8's /health shape and message, for load balancers' probes (Azure's take only a 200 as healthy).
  healthy: { status: 200, body: { name: "influx-ha", message: "ready for queries and writes", status: "pass" } },
  unhealthy: { status: 503, body: { name: "influx-ha", message: "no relay is up", status: "fail" } },
  notFound: {
    status: 404,
    body: {
      error:
        "not found: this endpoint serves /write, /api/v2/write, /api/v1/prom/write, /query, /api/v2/query, /api/v1/prom/read, /ping and /health",
    },
  },
} as const;

export interface HaproxyRenderOptions {
  /** Started as root (a VM's systemd unit), the workers drop to this user and its group. */
  readonly runAs?: string;
  /**
   * The stats password is read from this environment variable when HAProxy starts, and not written into
   * the file: on Kubernetes the file sits in a ConfigMap and the password in a Secret.
   */
  readonly statsPasswordEnv?: string;
  /**
   * Servers are DNS names that may not resolve yet when HAProxy starts (Kubernetes Services): start
   * anyway, and follow their addresses through the system's nameservers.
   */
  readonly resolveAtRuntime?: boolean;
}

const RESOLVERS = "system";

/** What clients and health checks speak to the load balancers' client port: HTTPS when they terminate TLS. */
export function clientScheme(topology: Topology): "http" | "https" {
  return topology.tls === undefined ? "http" : "https";
}

export function renderHaproxyConfig(topology: Topology, loadBalancer: LoadBalancerNode, opts: HaproxyRenderOptions = {}): string {
  const { loadBalancer: lb, stats, tls } = topology;
  const n = NAMES;
  const ssl = tls ? ` ssl crt ${tls.certificatePath} alpn http/1.1` : "";
  const ms = formatDuration;
  const section = (title: string, ...lines: string[]): string[] => [title, ...lines.map((line) => `    ${line}`), ""];

  return [
    "# Rendered by influx-ha from its topology (haproxy/render.ts); edits are overwritten.",
    "",
    ...section(
      "global",
      // stdout: the journal under systemd, the log file locally, the container log on Kubernetes.
      "log stdout format raw local0 info",
      `maxconn ${lb.maxConnections}`,
      ...(opts.runAs === undefined ? [] : [`user ${opts.runAs}`, `group ${opts.runAs}`]),
      ...(tls ? ["ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets"] : []),
    ),
    ...section(
      "defaults",
      "mode http",
      "option forwardfor",
      `timeout connect ${ms(lb.connectTimeoutMs)}`,
      `timeout client ${ms(lb.clientTimeoutMs)}`,
      // Covers the request headers only; a large body is paced by timeout client.
      `timeout http-request ${ms(Math.min(lb.clientTimeoutMs, 30_000))}`,
      "timeout http-keep-alive 10s",
      `timeout queue ${ms(lb.connectTimeoutMs)}`,
      `timeout check ${ms(lb.checkIntervalMs)}`,
      `default-server inter ${ms(lb.checkIntervalMs)} fall ${lb.checkFall} rise ${lb.checkRise}` +
        (opts.resolveAtRuntime ? ` init-addr last,libc,none resolvers ${RESOLVERS} resolve-prefer ipv4` : ""),
    ),
    ...(opts.resolveAtRuntime ? section(`resolvers ${RESOLVERS}`, "parse-resolv-conf", "hold valid 10s", "hold nx 10s") : []),
    ...section(
      `userlist ${n.statsUsers}`,
      // HAProxy expands "${VAR}" inside double quotes only.
      `user ${stats.user} insecure-password ${opts.statsPasswordEnv === undefined ? `'${stats.password}'` : `"\${${opts.statsPasswordEnv}}"`}`,
    ),
    ...section(
      `frontend ${n.clientFrontend}`,
      `bind ${hostPort(loadBalancer.bindAddress, loadBalancer.port)}${ssl}`,
      `maxconn ${lb.maxConnections}`,
      // Only client requests are logged: the stats frontend's scrapes would drown them.
      "log global",
      "option httplog",
      "option dontlognull",
      // Prometheus remote write is a write like the others, to every replica through the relays: POST only.
      "acl write path /write /api/v2/write /api/v1/prom/write",
      "acl query path /query",
      // Flux and Prometheus remote read: reads, which InfluxDB takes by POST only.
      "acl read path /api/v2/query /api/v1/prom/read",
      "acl ping path /ping",
      "acl health path /health",
      `acl relays_up nbsrv(${n.relays}) gt 0`,
      answer(ANSWERS.writeMethod, "write !METH_POST"),
      answer(ANSWERS.queryMethod, "query !METH_GET !METH_POST"),
      answer(ANSWERS.readMethod, "read !METH_POST"),
      // METH_GET is GET and HEAD.
      answer(ANSWERS.pingMethod, "ping !METH_GET"),
      // /health is HAProxy's own answer, the same on every load balancer of the topology: 200 while
      // this endpoint has a relay to send to (the relays choose the replica).
      answer(ANSWERS.healthy, "health relays_up"),
      answer(ANSWERS.unhealthy, "health"),
      // Nothing else is exposed: not the relays' /status, /metrics, /peer/* and /admin/*, nor anything
      // of influxd's (/debug/pprof, /debug/vars, ...).
      answer(ANSWERS.notFound, "!write !query !read !ping"),
      // With no relay up, InfluxDB's JSON error shape rather than HAProxy's own 503 page. So /ping
      // answers 204 (a replica's, through a relay, with its X-Influxdb-Version) only while a relay is up.
      answer(ANSWERS.noRelay, "!relays_up"),
      `default_backend ${n.relays}`,
    ),
    ...section(
      `backend ${n.relays}`,
      // Queries can run for minutes beside short writes: the relay with the fewest open requests gets the next.
      "balance leastconn",
      "option httpchk",
      // 200 while the relay reaches a replica (it serves reads, and writes as far as its ack level allows),
      // 503 when it reaches none.
      "http-check send meth GET uri /health",
      "http-check expect status 200",
      // Only a connection that failed is retried: the request was never sent, so a write cannot be doubled.
      "retry-on conn-failure",
      "retries 3",
      "option redispatch 1",
      // Writes (the relays wait for the replicas) and queries (a replica may take minutes) share the backend.
      `timeout server ${ms(Math.max(lb.writeTimeoutMs, lb.queryTimeoutMs))}`,
      // A request past a relay's maxconn waits in HAProxy's queue (timeout queue), not in the relay's memory.
      `http-error status ${ANSWERS.relaysBusy.status} content-type application/json string '${JSON.stringify(ANSWERS.relaysBusy.body)}' hdr Retry-After 1`,
      ...topology.relays.map((r) => `server ${r.name} ${hostPort(r.address, r.httpPort)} check maxconn ${lb.relayMaxConnections}`),
    ),
    ...section(
      `frontend ${n.statsFrontend}`,
      `bind ${hostPort(loadBalancer.bindAddress, loadBalancer.statsPort)}${ssl}`,
      `http-request auth realm influx-ha unless { http_auth(${n.statsUsers}) }`,
      "http-request use-service prometheus-exporter if { path /metrics }",
      "stats enable",
      "stats uri /",
      "stats refresh 10s",
    ),
  ]
    .join("\n")
    .trimEnd()
    .concat("\n");
}

interface Answer {
  readonly status: number;
  readonly body: Readonly<Record<string, string>>;
  readonly allow?: string;
}

function answer(a: Answer, condition: string): string {
  const allow = a.allow === undefined ? "" : ` hdr Allow "${a.allow}"`;
  // Single quotes: HAProxy takes the JSON as is. The messages hold no single quote.
  return `http-request return status ${a.status} content-type application/json string '${JSON.stringify(a.body)}'${allow} if ${condition}`;
}

function hostPort(host: string, port: number): string {
  return formatHostPort({ host, port });
}
