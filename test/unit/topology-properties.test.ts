// Property tests (fast-check) of buildTopology (topology/build.ts), the only way to make a Topology: a valid
// layout of any size keeps every node and port as given, and each relay's relay.toml, read back by the relay's
// own parser, sends to every replica, polls every other relay and holds the admin token; one defect in a valid layout is refused
// with exactly the problem naming it; and for any mix of good and bad values it either refuses with its
// problems or returns a topology that keeps the model's rules (topology/model.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ACK_LEVELS } from "../../relay/ack.js";
import { parseConfig } from "../../relay/config.js";
import { FSYNC_POLICIES } from "../../relay/defaults.js";
import { renderRelayConfig } from "../../relay/render-config.js";
import { TopologyError, buildTopology, type RelaySpec, type ReplicaSpec, type TopologySpec } from "../../topology/build.js";
import type { NodeAddress, Topology } from "../../topology/model.js";

const MAX_PORT = 65_535;
const ADDRESSES = ["10.0.1.4", "10.0.1.5", "fd00::4", "influxdb.example.internal", "127.0.0.1"] as const;
const BIND_ADDRESSES = ["0.0.0.0", "::", "127.0.0.1"] as const;
const DATABASES = ["telegraf", "metrics", "app"] as const;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** What an admin token may hold: printable ASCII but space, quotes and backslash. */
const TOKEN_CHARACTERS = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => !`"'\\`.includes(c));

/** host:port as in a URL: IPv6 in brackets. */
const hostPort = (host: string, port: number): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** A Go duration of a whole number of milliseconds (relay.toml writes none finer), in one of the forms people write. */
function duration(minMs: number, maxMs: number): fc.Arbitrary<{ readonly text: string; readonly ms: number }> {
  return fc.integer({ min: minMs, max: maxMs }).chain((ms) => {
    const forms = [`${ms}ms`];
    if (ms % 1000 === 0) forms.push(`${ms / 1000}s`);
    if (ms % 60_000 === 0) forms.push(`${ms / 60_000}m`);
    if (ms >= 1000 && ms % 1000 !== 0) forms.push(`${Math.floor(ms / 1000)}s${ms % 1000}ms`);
    return fc.constantFrom(...forms).map((text) => ({ text, ms }));
  });
}

interface ValidLayout {
  readonly spec: TopologySpec;
  /** What the topology's queue must hold, in milliseconds where the spec has durations. */
  readonly queue: Topology["queue"];
}

/**
 * A valid spec: 2-5 replicas, 2-4 relays, 1-2 load balancers on a few shared machines; every TCP port and
 * every UDP port distinct, so nodes on one machine never clash; UDP on every replica and relay or on none.
 */
const validLayout: fc.Arbitrary<ValidLayout> = fc
  .record({
    replicas: fc.integer({ min: 2, max: 5 }),
    relays: fc.integer({ min: 2, max: 4 }),
    loadBalancers: fc.integer({ min: 1, max: 2 }),
    udp: fc.boolean(),
    databases: fc.uniqueArray(fc.constantFrom(...DATABASES), { minLength: 1, maxLength: DATABASES.length }),
  })
  .chain((size) => {
    const nodes = size.replicas + size.relays + size.loadBalancers;
    const tcp = 2 * size.replicas + size.relays + 2 * size.loadBalancers;
    const udp = size.udp ? size.replicas + size.relays : 0;
    const port = fc.integer({ min: 1, max: MAX_PORT });
    return fc.record({
      size: fc.constant(size),
      tcpPorts: fc.uniqueArray(port, { minLength: tcp, maxLength: tcp }),
      udpPorts: fc.uniqueArray(port, { minLength: udp, maxLength: udp }),
      addresses: fc.array(fc.constantFrom(...ADDRESSES), { minLength: nodes, maxLength: nodes }),
      bindAddresses: fc.array(fc.option(fc.constantFrom(...BIND_ADDRESSES), { nil: undefined }), { minLength: nodes, maxLength: nodes }),
      spoolRoot: fc.constantFrom("/var/lib/influx-relay", "/srv/spool", "/data/relay spools"),
      udpDatabase: fc.constantFrom(...size.databases),
      ack: fc.constantFrom(...ACK_LEVELS),
      fsync: fc.constantFrom(...FSYNC_POLICIES),
      fsyncInterval: duration(1, 10_000),
      bufferSizeMb: fc.integer({ min: 0, max: 8192 }),
      maxQueueAge: duration(1, 7 * 86_400_000),
      maxBatchKb: fc.integer({ min: 1, max: 8192 }),
      maxDelayInterval: duration(1, 60_000),
      // Below the load balancer's default writeTimeout (60s), which must be longer.
      outputTimeout: duration(1, 59_999),
      tls: fc.option(fc.constantFrom("/etc/haproxy/influx-ha.pem", "/run/secrets/tls.pem"), { nil: undefined }),
      relayAdminToken: fc.string({ unit: fc.constantFrom(...TOKEN_CHARACTERS), minLength: 16, maxLength: 64 }),
    });
  })
  .map((g) => {
    const tcp = [...g.tcpPorts];
    const udp = [...g.udpPorts];
    let node = 0;
    const at = () => ({ address: g.addresses[node]!, bindAddress: g.bindAddresses[node++] });
    const replicas = Array.from({ length: g.size.replicas }, (_, i): ReplicaSpec => ({
      name: `influxdb-${i}`,
      ...at(),
      httpPort: tcp.pop()!,
      rpcPort: tcp.pop()!,
      udpPort: udp.pop(),
    }));
    const relays = Array.from({ length: g.size.relays }, (_, j): RelaySpec => ({
      name: `relay-${j}`,
      ...at(),
      httpPort: tcp.pop()!,
      udpPort: udp.pop(),
      spoolDir: `${g.spoolRoot}/relay-${j}`,
    }));
    const loadBalancers = Array.from({ length: g.size.loadBalancers }, (_, k) => ({
      name: `haproxy-${k}`,
      ...at(),
      port: tcp.pop()!,
      statsPort: tcp.pop()!,
    }));
    const spec: TopologySpec = {
      databases: g.size.databases,
      udpDatabase: g.size.udp ? g.udpDatabase : undefined,
      replicas,
      relays,
      loadBalancers,
      queue: {
        ack: g.ack,
        fsync: g.fsync,
        fsyncInterval: g.fsyncInterval.text,
        bufferSizeMb: g.bufferSizeMb,
        maxQueueAge: g.maxQueueAge.text,
        maxBatchKb: g.maxBatchKb,
        maxDelayInterval: g.maxDelayInterval.text,
        outputTimeout: g.outputTimeout.text,
      },
      stats: { password: "correct-horse" },
      relayAdminToken: g.relayAdminToken,
      tls: g.tls === undefined ? undefined : { certificatePath: g.tls },
    };
    const queue: Topology["queue"] = {
      ack: g.ack,
      fsync: g.fsync,
      fsyncIntervalMs: g.fsyncInterval.ms,
      bufferSizeMb: g.bufferSizeMb,
      maxQueueAgeMs: g.maxQueueAge.ms,
      maxBatchKb: g.maxBatchKb,
      maxDelayIntervalMs: g.maxDelayInterval.ms,
      outputTimeoutMs: g.outputTimeout.ms,
    };
    return { spec, queue };
  });

/** One listener of a node: where the problems of build.ts name it, and the spec field that sets its port. */
interface Listener {
  readonly kind: "replicas" | "relays" | "loadBalancers";
  readonly index: number;
  readonly field: "httpPort" | "rpcPort" | "udpPort" | "port" | "statsPort";
  readonly protocol: "tcp" | "udp";
  readonly role: string;
}

/** Every listener the spec gives a port, in the order build.ts checks them for clashes. */
function listenersOf(spec: TopologySpec): Listener[] {
  const listeners: Listener[] = [];
  const add = (
    kind: Listener["kind"],
    index: number,
    field: Listener["field"],
    protocol: Listener["protocol"],
    role: string,
    port: unknown,
  ) => {
    if (port !== undefined) listeners.push({ kind, index, field, protocol, role });
  };
  spec.replicas.forEach((r, i) => {
    add("replicas", i, "httpPort", "tcp", "HTTP", r.httpPort);
    add("replicas", i, "rpcPort", "tcp", "RPC", r.rpcPort);
    add("replicas", i, "udpPort", "udp", "UDP", r.udpPort);
  });
  spec.relays.forEach((r, i) => {
    add("relays", i, "httpPort", "tcp", "HTTP", r.httpPort);
    add("relays", i, "udpPort", "udp", "UDP", r.udpPort);
  });
  spec.loadBalancers.forEach((lb, i) => {
    add("loadBalancers", i, "port", "tcp", "client port", lb.port);
    add("loadBalancers", i, "statsPort", "tcp", "stats port", lb.statsPort);
  });
  return listeners;
}

type NodeSpecOf = TopologySpec["replicas"][number] | TopologySpec["relays"][number] | TopologySpec["loadBalancers"][number];

/** The spec with one node changed. */
function withNode(spec: TopologySpec, kind: Listener["kind"], index: number, change: Record<string, unknown>): TopologySpec {
  const nodes = (spec[kind] as readonly NodeSpecOf[]).map((n, i) => (i === index ? { ...n, ...change } : n));
  return { ...spec, [kind]: nodes };
}

const nodeOf = (spec: TopologySpec, kind: Listener["kind"], index: number) => (spec[kind] as readonly NodeSpecOf[])[index]!;
const portOf = (spec: TopologySpec, l: Listener) => (nodeOf(spec, l.kind, l.index) as unknown as Record<string, number>)[l.field]!;

/** Each node's bind address as the spec or the topology has it, in node order. */
function nodesBindAddresses(layout: Pick<TopologySpec, "replicas" | "relays" | "loadBalancers">): Array<string | undefined> {
  return [...layout.replicas, ...layout.relays, ...layout.loadBalancers].map((n) => n.bindAddress);
}

/** A defect put into a valid spec, and the one problem buildTopology must report for it. */
interface Defect {
  readonly spec: TopologySpec;
  readonly problem: string;
}

/** Two picks in 0..n-1 that differ, in order. */
function pair(a: number, b: number, n: number): readonly [number, number] {
  const i = a % n;
  const j = (i + 1 + (b % (n - 1))) % n;
  return [Math.min(i, j), Math.max(i, j)];
}

const badPort = fc.oneof(
  fc.integer({ min: -100_000, max: 0 }),
  fc.integer({ min: MAX_PORT + 1, max: 1_000_000 }),
  fc.double({ min: 1, max: MAX_PORT, noNaN: true }).filter((v) => !Number.isInteger(v)),
  fc.constant(Number.NaN),
);
const badName = fc.constantFrom("", "Relay-0", "relay_0", "-relay", "relay-", "relay.0", "relay 0", "rélay", "a".repeat(64));
const KINDS = ["replicas", "relays", "loadBalancers"] as const;
const nodeKind = fc.constantFrom(...KINDS);

/** Each defect, placed at random in a valid spec. */
const defects: ReadonlyArray<fc.Arbitrary<(spec: TopologySpec) => Defect>> = [
  // A port outside 1..65535 or not a whole number, on any listener.
  fc.tuple(fc.nat(), badPort).map(([pick, value]) => (spec) => {
    const listeners = listenersOf(spec);
    const l = listeners[pick % listeners.length]!;
    return {
      spec: withNode(spec, l.kind, l.index, { [l.field]: value }),
      problem: `${l.kind}[${l.index}].${l.field} must be a whole number from 1 to ${MAX_PORT}, not ${value}`,
    };
  }),
  // Two listeners of one protocol on one machine with one port: the later one moves to the earlier's machine and port.
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([a, b, wantUdp]) => (spec) => {
    const all = listenersOf(spec);
    const protocol = wantUdp && all.some((l) => l.protocol === "udp") ? "udp" : "tcp";
    const listeners = all.filter((l) => l.protocol === protocol);
    const [i, j] = pair(a, b, listeners.length);
    const first = listeners[i]!;
    const second = listeners[j]!;
    const address = nodeOf(spec, first.kind, first.index).address;
    const port = portOf(spec, first);
    const name = (l: Listener) => nodeOf(spec, l.kind, l.index).name;
    return {
      spec: withNode(spec, second.kind, second.index, { address, [second.field]: port }),
      problem: `port clash on ${address}:${port}/${protocol}: ${name(first)} ${first.role} and ${name(second)} ${second.role}`,
    };
  }),
  // A node named like another.
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (spec) => {
    const nodes = KINDS.flatMap((kind) => spec[kind].map((_, index) => ({ kind, index })));
    const [i, j] = pair(a, b, nodes.length);
    const name = nodeOf(spec, nodes[i]!.kind, nodes[i]!.index).name;
    return {
      spec: withNode(spec, nodes[j]!.kind, nodes[j]!.index, { name }),
      problem: `node name "${name}" is used twice; every replica, relay and load balancer needs its own`,
    };
  }),
  // A name that is no DNS label.
  fc.tuple(nodeKind, fc.nat(), badName).map(([kind, pick, name]) => (spec) => {
    const index = pick % spec[kind].length;
    return {
      spec: withNode(spec, kind, index, { name }),
      problem: `${kind}[${index}].name "${name}" must be a DNS label: lower-case letters, digits and "-", at most 63`,
    };
  }),
  // Too few replicas, relays or load balancers.
  fc.tuple(nodeKind, fc.nat()).map(([kind, keep]) => (spec) => {
    const left = keep % (kind === "loadBalancers" ? 1 : 2);
    const problem = {
      replicas: `replicas: at least 2 are needed (high availability needs two copies of the data), not ${left}`,
      relays: `relays: at least 2 are needed (one relay is a single point of failure for writes), not ${left}`,
      loadBalancers: "loadBalancers: at least one is needed",
    }[kind];
    return { spec: { ...spec, [kind]: spec[kind].slice(0, left) }, problem };
  }),
  // A relative spool dir.
  fc.nat().map((pick) => (spec) => {
    const index = pick % spec.relays.length;
    const spoolDir = `spool/relay-${index}`;
    return {
      spec: withNode(spec, "relays", index, { spoolDir }),
      problem: `relays[${index}].spoolDir must be an absolute path, not "${spoolDir}"`,
    };
  }),
  // Two relays on one machine with one spool dir.
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (spec) => {
    const [i, j] = pair(a, b, spec.relays.length);
    const first = spec.relays[i]!;
    return {
      spec: withNode(spec, "relays", j, { address: first.address, spoolDir: first.spoolDir }),
      problem: `relays ${first.name} and ${spec.relays[j]!.name} share the spool dir ${first.spoolDir} on ${first.address}; each needs its own`,
    };
  }),
  // UDP half set up: one node without its UDP port, or a UDP database with no UDP ports.
  fc.tuple(fc.constantFrom("replicas" as const, "relays" as const), fc.nat()).map(([kind, pick]) => (spec) => {
    if (spec.udpDatabase === undefined) {
      return { spec: { ...spec, udpDatabase: spec.databases[0] }, problem: "udpDatabase is set but no node has a udpPort" };
    }
    return {
      spec: withNode(spec, kind, pick % spec[kind].length, { udpPort: undefined }),
      problem: "udpPort must be set on every relay and every replica, or on none (a relay's UDP output goes to every replica)",
    };
  }),
  // A database name the replicas cannot use.
  fc.constantFrom("", "tele\ngraf", "\x00", "db\x7f").map((bad) => (spec) => ({
    spec: { ...spec, databases: [...spec.databases, bad] },
    problem: `databases: ${JSON.stringify(bad)} is not a usable database name`,
  })),
  // A queue setting no relay takes.
  fc
    .tuple(
      fc.constantFrom("fsyncInterval" as const, "maxQueueAge" as const, "maxDelayInterval" as const),
      fc.constantFrom("0", "-5s", "10", "a day", "5 s", ""),
    )
    .map(([key, text]) => (spec) => ({
      spec: { ...spec, queue: { ...spec.queue, [key]: text } },
      problem: `queue.${key} must be a positive duration such as "10s", "5m" or "24h", not "${text}"`,
    })),
  fc.constantFrom("most", "ONE", "").map((ack) => (spec) => ({
    spec: { ...spec, queue: { ...spec.queue, ack } },
    problem: `queue.ack must be one of "one", "quorum", "all", not "${ack}"`,
  })),
  // HAProxy giving up on a write no later than a relay's delivery to one replica.
  fc.nat({ max: 1000 }).map((shorter) => (spec) => {
    const outputMs = buildTopology(spec).queue.outputTimeoutMs;
    const writeMs = Math.max(1, outputMs - shorter);
    return {
      spec: { ...spec, loadBalancer: { writeTimeout: `${writeMs}ms` } },
      problem:
        `loadBalancer.writeTimeout (${writeMs} ms) must be longer than queue.outputTimeout (${outputMs} ms): ` +
        "otherwise HAProxy gives up on a write the relays are still delivering, and the client's retry duplicates it",
    };
  }),
  fc.constantFrom("short", "has a space", "it's-long-enough", "tab\there-long", "ünïcode-password").map((password) => (spec) => ({
    spec: { ...spec, stats: { password } },
    problem: "stats.password must be at least 8 printable ASCII characters without spaces or single quotes",
  })),
  fc
    .constantFrom(
      "",
      "fifteen-chars-1",
      "has a space in it!",
      'with-"quotes"-in-it',
      "back\\slash-token-12",
      "tab\there-long-enough",
      "ünïcode-token-long",
    )
    .map((relayAdminToken) => (spec) => ({
      spec: { ...spec, relayAdminToken },
      problem: "relayAdminToken must be at least 16 printable ASCII characters without spaces, quotes or backslashes",
    })),
  fc.constantFrom("certs/influx.pem", "influx.pem", "").map((certificatePath) => (spec) => ({
    spec: { ...spec, tls: { certificatePath } },
    problem: `tls.certificatePath must be an absolute path, not "${certificatePath}"`,
  })),
];

/** The problems buildTopology reports for the spec; none when it takes it. */
function problemsOf(spec: TopologySpec): readonly string[] {
  try {
    buildTopology(spec);
    return [];
  } catch (err) {
    if (err instanceof TopologyError) return err.problems;
    throw err;
  }
}

/** The rules of topology/model.ts a returned topology breaks, checked here without build.ts's code. */
function brokenRules(t: Topology): string[] {
  const broken: string[] = [];
  const nodes: NodeAddress[] = [...t.replicas, ...t.relays, ...t.loadBalancers];
  if (t.replicas.length < 2 || t.relays.length < 2 || t.loadBalancers.length < 1) broken.push("too few nodes");
  if (new Set(nodes.map((n) => n.name)).size !== nodes.length) broken.push("a name used twice");
  for (const n of nodes) if (!DNS_LABEL.test(n.name)) broken.push(`name ${JSON.stringify(n.name)} is no DNS label`);
  const listeners = [
    ...t.replicas.flatMap((r) => [
      [r.address, "tcp", r.httpPort],
      [r.address, "tcp", r.rpcPort],
      [r.address, "udp", r.udpPort],
    ]),
    ...t.relays.flatMap((r) => [
      [r.address, "tcp", r.httpPort],
      [r.address, "udp", r.udpPort],
    ]),
    ...t.loadBalancers.flatMap((lb) => [
      [lb.address, "tcp", lb.port],
      [lb.address, "tcp", lb.statsPort],
    ]),
  ].filter(([, , port]) => port !== undefined) as Array<[string, string, number]>;
  for (const [, , port] of listeners) if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) broken.push(`port ${port}`);
  if (new Set(listeners.map((l) => l.join(" "))).size !== listeners.length) broken.push("a port used twice on one machine");
  for (const r of t.relays) if (!r.spoolDir.startsWith("/")) broken.push(`relative spool dir ${r.spoolDir}`);
  if (new Set(t.relays.map((r) => `${r.address} ${r.spoolDir}`)).size !== t.relays.length) broken.push("a spool dir shared");
  const withUdp = [...t.replicas, ...t.relays].filter((n) => n.udpPort !== undefined).length;
  if (withUdp !== 0 && withUdp !== t.replicas.length + t.relays.length) broken.push("UDP on some nodes only");
  if (withUdp > 0 !== (t.udpDatabase !== undefined)) broken.push("udpDatabase set without UDP ports, or missing with them");
  if (t.udpDatabase !== undefined && !t.databases.includes(t.udpDatabase)) broken.push("udpDatabase not a database");
  if (t.databases.length === 0 || new Set(t.databases).size !== t.databases.length) broken.push("no databases, or one twice");
  for (const db of t.databases) if (db === "" || /[\x00-\x1f\x7f]/.test(db)) broken.push(`database ${JSON.stringify(db)}`);
  if (!ACK_LEVELS.includes(t.queue.ack) || !FSYNC_POLICIES.includes(t.queue.fsync)) broken.push("queue ack or fsync unknown");
  const durations = [t.queue.fsyncIntervalMs, t.queue.maxQueueAgeMs, t.queue.maxDelayIntervalMs, t.queue.outputTimeoutMs];
  if (durations.some((ms) => !(ms > 0))) broken.push("a queue duration not positive");
  if (!(t.loadBalancer.writeTimeoutMs > t.queue.outputTimeoutMs)) broken.push("writeTimeout not above outputTimeout");
  if (!/^[\x21-\x26\x28-\x7e]{8,}$/.test(t.stats.password)) broken.push("stats password");
  if (!/^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]{16,}$/.test(t.relayAdminToken)) broken.push("relay admin token");
  if (t.tls !== undefined && !t.tls.certificatePath.startsWith("/")) broken.push("relative certificate path");
  return broken;
}

describe("buildTopology properties", () => {
  it("takes any valid layout, keeping every node, port and queue setting as given and breaking none of the model's rules", () => {
    fc.assert(
      fc.property(validLayout, ({ spec, queue }) => {
        const t = buildTopology(spec);
        const fields = (n: object, keys: readonly string[]) => keys.map((k) => (n as Record<string, unknown>)[k]);
        const REPLICA = ["name", "address", "httpPort", "rpcPort", "udpPort"];
        const RELAY = ["name", "address", "httpPort", "udpPort", "spoolDir"];
        const LB = ["name", "address", "port", "statsPort"];
        expect(t.replicas.map((r) => fields(r, REPLICA))).toEqual(spec.replicas.map((r) => fields(r, REPLICA)));
        expect(t.relays.map((r) => fields(r, RELAY))).toEqual(spec.relays.map((r) => fields(r, RELAY)));
        expect(t.loadBalancers.map((lb) => fields(lb, LB))).toEqual(spec.loadBalancers.map((lb) => fields(lb, LB)));
        expect(nodesBindAddresses(t)).toEqual(nodesBindAddresses(spec).map((b) => b ?? "0.0.0.0"));
        expect(t.queue).toEqual(queue);
        expect(t.udpDatabase).toBe(spec.udpDatabase);
        expect(t.relayAdminToken).toBe(spec.relayAdminToken);
        expect(brokenRules(t)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("gives every relay a relay.toml, as the relay reads it, with every replica as an output, every other relay as a peer and the admin token", () => {
    fc.assert(
      fc.property(validLayout, ({ spec }) => {
        const t = buildTopology(spec);
        for (const relay of t.relays) {
          const config = parseConfig(renderRelayConfig(t, relay), `${relay.name}.toml`);
          const http = config.http[0]!;
          expect(config.http).toHaveLength(1);
          expect(http.bindAddr).toEqual({ host: relay.bindAddress, port: relay.httpPort });
          expect(http.spoolDir).toBe(relay.spoolDir);
          expect([http.ack, http.fsync, http.fsyncIntervalMs]).toEqual([t.queue.ack, t.queue.fsync, t.queue.fsyncIntervalMs]);
          expect(http.queryTimeoutMs).toBe(t.loadBalancer.queryTimeoutMs);
          expect(http.adminToken).toBe(t.relayAdminToken);
          expect(http.outputs.map((o) => [o.name, o.location])).toEqual(
            t.replicas.map((r) => [r.name, new URL(`http://${hostPort(r.address, r.httpPort)}/write`).href]),
          );
          for (const output of http.outputs) {
            expect(output).toMatchObject({
              timeoutMs: t.queue.outputTimeoutMs,
              bufferSizeMb: t.queue.bufferSizeMb,
              maxQueueAgeMs: t.queue.maxQueueAgeMs,
              maxBatchKb: t.queue.maxBatchKb,
              maxDelayIntervalMs: t.queue.maxDelayIntervalMs,
            });
          }
          expect(http.peers).toEqual(
            t.relays.filter((r) => r !== relay).map((r) => new URL(`http://${hostPort(r.address, r.httpPort)}`).origin),
          );
          if (relay.udpPort === undefined) expect(config.udp).toEqual([]);
          else {
            expect(config.udp.map((u) => u.bindAddr)).toEqual([{ host: relay.bindAddress, port: relay.udpPort }]);
            expect(config.udp[0]!.outputs.map((o) => [o.name, o.host, o.port])).toEqual(
              t.replicas.map((r) => [r.name, r.address, r.udpPort]),
            );
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a valid layout with one defect put in, reporting exactly that problem", () => {
    fc.assert(
      fc.property(validLayout, fc.oneof(...defects), ({ spec }, defect) => {
        const { spec: broken, problem } = defect(spec);
        expect(problemsOf(broken)).toEqual([problem]);
      }),
      { numRuns: 1000 },
    );
  });

  it("for any mix of good and bad values, refuses with its problems or returns a topology that keeps the model's rules", () => {
    // Mostly good values with a few bad ones mixed in, so that about a quarter of the specs are taken.
    const seldom = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> =>
      fc.oneof({ arbitrary: good, weight: 40 }, { arbitrary: bad, weight: 1 });
    const text = (good: fc.Arbitrary<string>, ...bad: string[]) => seldom(good, fc.constantFrom(...bad));
    const count = (min: number, max: number) => seldom(fc.integer({ min, max }), fc.integer({ min: 0, max: min - 1 }));
    const name = (prefix: string, i: number) => text(fc.constant(`${prefix}-${i}`), "relay-0", "influxdb-0", "Bad_Name", "");
    const address = text(fc.constantFrom("10.0.0.1", "10.0.0.2", "::1"), "bad address", "");
    const bindAddress = seldom(fc.constantFrom(undefined, "0.0.0.0", "::"), fc.constantFrom("", "0.0.0.0 "));
    const port = seldom(fc.integer({ min: 1, max: MAX_PORT }), fc.constantFrom(0, -1, 8086, 65_536, 1.5, Number.NaN));
    const junk = fc.boolean().chain((udp) => {
      const udpPort = udp ? seldom(port, fc.constant(undefined)) : seldom(fc.constant(undefined), port);
      const nodes = <T>(n: fc.Arbitrary<number>, node: (i: number) => fc.Arbitrary<T>) =>
        n.chain((length) => fc.tuple(...Array.from({ length }, (_, i) => node(i))));
      return fc.record({
        databases: seldom<readonly string[]>(fc.constant(["telegraf", "metrics"]), fc.constantFrom([], ["", "telegraf"], ["tele\tgraf"])),
        udpDatabase: udp
          ? seldom(fc.constantFrom("telegraf", "metrics"), fc.constantFrom(undefined, "nope"))
          : seldom(fc.constant(undefined), fc.constant("telegraf")),
        replicas: nodes(count(2, 4), (i) =>
          fc.record({ name: name("influxdb", i), address, bindAddress, httpPort: port, rpcPort: port, udpPort }),
        ),
        relays: nodes(count(2, 4), (i) =>
          fc.record({
            name: name("relay", i),
            address,
            bindAddress,
            httpPort: port,
            udpPort,
            spoolDir: seldom(fc.constantFrom(undefined, `/spool/relay-${i}`), fc.constantFrom("spool", "/spool/relay-0")),
          }),
        ),
        loadBalancers: nodes(count(1, 2), (i) => fc.record({ name: name("haproxy", i), address, bindAddress, port, statsPort: port })),
        queue: fc.record(
          {
            ack: text(fc.constantFrom(...ACK_LEVELS), "most"),
            fsync: text(fc.constantFrom(...FSYNC_POLICIES), "never"),
            fsyncInterval: text(fc.constantFrom("1s", "250ms"), "0", "-1s"),
            bufferSizeMb: seldom(fc.integer({ min: 0, max: 4096 }), fc.constantFrom(-1, 0.5)),
            maxQueueAge: text(fc.constantFrom("24h", "90m"), "forever"),
            maxBatchKb: seldom(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(0, Number.NaN)),
            outputTimeout: text(fc.constantFrom("10s", "59s"), "60s", "2m"),
          },
          { requiredKeys: [] },
        ),
        stats: fc.record({ password: text(fc.constant("correct-horse"), "short", "it's long enough") }),
        relayAdminToken: text(fc.constant("relay-admin-token-1"), "short", "has a space in it!"),
        tls: fc.option(fc.record({ certificatePath: text(fc.constant("/etc/tls.pem"), "tls.pem") }), { nil: undefined }),
      });
    });
    let taken = 0;
    let refused = 0;
    fc.assert(
      fc.property(junk, (spec) => {
        let t: Topology;
        try {
          t = buildTopology(spec);
        } catch (err) {
          if (!(err instanceof TopologyError)) throw err;
          expect(err.problems.length).toBeGreaterThan(0);
          for (const problem of err.problems) expect(err.message).toContain(`  - ${problem}`);
          refused++;
          return;
        }
        taken++;
        expect(brokenRules(t)).toEqual([]);
      }),
      { numRuns: 1000 },
    );
    // Both ways were taken often enough for the property to say something about each.
    expect(Math.min(taken, refused)).toBeGreaterThan(50);
  });
});
