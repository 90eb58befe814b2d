// The topology model: defaults, immutability, and every problem reported at once with the field it is about.
import { describe, expect, it } from "vitest";
import { TopologyError, buildTopology, type TopologySpec } from "../../topology/build.js";
import { formatDuration } from "../../relay/duration.js";
import { VM_SPEC } from "../helpers/topology.js";

function problemsOf(spec: TopologySpec): readonly string[] {
  try {
    buildTopology(spec);
  } catch (err) {
    if (err instanceof TopologyError) return err.problems;
    throw err;
  }
  throw new Error("the spec was accepted");
}

describe("buildTopology", () => {
  it("fills in the usual ports, the relay defaults and the load balancer defaults", () => {
    const t = buildTopology(VM_SPEC);
    expect(t.replicas[0]).toEqual({
      name: "influxdb-0",
      address: "10.0.1.4",
      bindAddress: "0.0.0.0",
      httpPort: 8086,
      rpcPort: 8088,
      udpPort: undefined,
    });
    expect(t.relays[1]).toEqual({
      name: "relay-1",
      address: "10.0.1.5",
      bindAddress: "0.0.0.0",
      httpPort: 9096,
      udpPort: undefined,
      spoolDir: "/var/lib/influx-relay/relay-1",
    });
    expect(t.loadBalancers[0]).toMatchObject({ port: 8086, statsPort: 8404 });
    expect(t.queue).toEqual({
      ack: "one",
      fsync: "always",
      fsyncIntervalMs: 1_000,
      bufferSizeMb: 1024,
      maxQueueAgeMs: 86_400_000,
      maxBatchKb: 512,
      maxDelayIntervalMs: 10_000,
      outputTimeoutMs: 10_000,
    });
    expect(t.loadBalancer).toMatchObject({ writeTimeoutMs: 60_000, queryTimeoutMs: 300_000, checkFall: 3, checkRise: 2 });
    expect(t.stats).toEqual({ user: "admin", password: "correct-horse" });
    expect(t.relayAdminToken).toBe(VM_SPEC.relayAdminToken);
    expect(t.udpDatabase).toBeUndefined();
    expect(t.tls).toBeUndefined();
  });

  it("is immutable, and the same spec gives the same topology", () => {
    const t = buildTopology(VM_SPEC);
    expect(Object.isFrozen(t.replicas[0])).toBe(true);
    expect(() => ((t.queue as { ack: string }).ack = "all")).toThrow(TypeError);
    expect(buildTopology(VM_SPEC)).toEqual(t);
  });

  it("allows the same port on different machines, but not twice on one", () => {
    expect(() => buildTopology(VM_SPEC)).not.toThrow(); // relay-0 and influxdb-0 share 10.0.1.4 on different ports
    const clash: TopologySpec = { ...VM_SPEC, relays: [{ ...VM_SPEC.relays[0]!, httpPort: 8086 }, VM_SPEC.relays[1]!] };
    expect(problemsOf(clash)).toEqual(["port clash on 10.0.1.4:8086/tcp: influxdb-0 HTTP and relay-0 HTTP"]);
  });

  it("keeps TCP and UDP apart: 8089/tcp and 8089/udp do not clash", () => {
    const spec: TopologySpec = {
      ...VM_SPEC,
      udpDatabase: "telegraf",
      replicas: VM_SPEC.replicas.map((r) => ({ ...r, udpPort: 8089 })),
      relays: VM_SPEC.relays.map((r) => ({ ...r, httpPort: 8089, udpPort: 9089 })),
    };
    expect(buildTopology(spec).replicas.map((r) => r.udpPort)).toEqual([8089, 8089]);
  });

  it("reports every problem at once, each naming its field", () => {
    const problems = problemsOf({
      databases: ["telegraf", ""],
      udpDatabase: "other",
      replicas: [{ name: "Influx_0", address: "10.0.0.1", udpPort: 8089, httpPort: 70_000 }],
      relays: [
        { name: "relay", address: "10.0.0.2", spoolDir: "/var/spool" },
        { name: "relay", address: "10.0.0.2", spoolDir: "/var/spool", httpPort: 9097 },
      ],
      loadBalancers: [],
      queue: { ack: "most", maxQueueAge: "a day", outputTimeout: "90s", bufferSizeMb: -1 },
      stats: { user: "ad min", password: "it's-long-enough" },
      relayAdminToken: "too-short",
      tls: { certificatePath: "certs/influx.pem" },
    });
    expect(problems).toEqual([
      'replicas[0].name "Influx_0" must be a DNS label: lower-case letters, digits and "-", at most 63',
      "replicas[0].httpPort must be a whole number from 1 to 65535, not 70000",
      "replicas: at least 2 are needed (high availability needs two copies of the data), not 1",
      "loadBalancers: at least one is needed",
      'node name "relay" is used twice; every replica, relay and load balancer needs its own',
      "relays relay and relay share the spool dir /var/spool on 10.0.0.2; each needs its own",
      'databases: "" is not a usable database name',
      "udpPort must be set on every relay and every replica, or on none (a relay's UDP output goes to every replica)",
      'udpDatabase "other" must be one of databases',
      'queue.ack must be one of "one", "quorum", "all", not "most"',
      "queue.bufferSizeMb must be a whole number of at least 0, not -1",
      'queue.maxQueueAge must be a positive duration such as "10s", "5m" or "24h", not "a day"',
      "loadBalancer.writeTimeout (60000 ms) must be longer than queue.outputTimeout (90000 ms): otherwise HAProxy gives up on a write the relays are still delivering, and the client's retry duplicates it",
      'stats.user must be letters, digits, ".", "_" or "-", not "ad min"',
      "stats.password must be at least 8 printable ASCII characters without spaces or single quotes",
      "relayAdminToken must be at least 16 printable ASCII characters without spaces, quotes or backslashes",
      'tls.certificatePath must be an absolute path, not "certs/influx.pem"',
    ]);
  });

  it("takes a relay admin token that relay.toml and a Bearer header carry as it is, and refuses others without quoting them", () => {
    const accepted = ["0123456789abcdef", "A-Za-z0_9.~+/=!#$%&()*,:;<>?@[]^`{|}", "x".repeat(200)];
    for (const relayAdminToken of accepted) expect(buildTopology({ ...VM_SPEC, relayAdminToken }).relayAdminToken).toBe(relayAdminToken);
    const refused = [
      "",
      "fifteen-chars-1",
      "has a space in it!",
      'a-"quoted"-token-1',
      "an-'apostrophe'-token",
      "back\\slash-token-12",
      "tab\there-long-enough",
      "ünïcode-token-long-enough",
      "line\nbreak-long-enough",
    ];
    for (const relayAdminToken of refused) {
      expect(problemsOf({ ...VM_SPEC, relayAdminToken }), JSON.stringify(relayAdminToken)).toEqual([
        "relayAdminToken must be at least 16 printable ASCII characters without spaces, quotes or backslashes",
      ]);
    }
  });

  it("needs two relays: one is a single point of failure for writes", () => {
    expect(problemsOf({ ...VM_SPEC, relays: [VM_SPEC.relays[0]!] })).toEqual([
      "relays: at least 2 are needed (one relay is a single point of failure for writes), not 1",
    ]);
  });

  it("needs the UDP database when the nodes listen on UDP", () => {
    const spec: TopologySpec = {
      ...VM_SPEC,
      replicas: VM_SPEC.replicas.map((r) => ({ ...r, udpPort: 8089 })),
      relays: VM_SPEC.relays.map((r) => ({ ...r, udpPort: 9089 })),
    };
    expect(problemsOf(spec)).toEqual(["udpDatabase is needed when the nodes have UDP ports: the replicas' UDP listeners write into it"]);
    expect(problemsOf({ ...VM_SPEC, udpDatabase: "telegraf" })).toEqual(["udpDatabase is set but no node has a udpPort"]);
  });
});

describe("formatDuration", () => {
  it("writes the largest whole unit, which Go, the relay and HAProxy all read", () => {
    expect([86_400_000, 300_000, 90_000, 10_000, 1_500, 250].map(formatDuration)).toEqual(["24h", "5m", "90s", "10s", "1500ms", "250ms"]);
  });
});
