// relay.toml from the topology (relay/render-config.ts), read back by the relay's own loader: every
// replica as an output, every other relay of the topology, and only those, as a peer, and the topology's
// admin token.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../relay/config.js";
import { renderRelayConfig } from "../../relay/render-config.js";
import { buildTopology } from "../../topology/build.js";
import { tempDir } from "../helpers/temp.js";
import { VM_SPEC } from "../helpers/topology.js";

describe("renderRelayConfig", () => {
  it("lists every other relay as a peer, by its HTTP listener, in the topology's order", () => {
    const topology = buildTopology({
      ...VM_SPEC,
      relays: [
        { name: "relay-0", address: "10.0.1.4" },
        { name: "relay-1", address: "10.0.1.5", httpPort: 9196 },
        { name: "relay-2", address: "relay-2.example.internal" },
      ],
    });
    const peersOf = (i: number): readonly string[] => {
      const relay = topology.relays[i]!;
      return parseConfig(renderRelayConfig(topology, relay), `${relay.name}.toml`).http[0]!.peers;
    };
    expect(peersOf(0)).toEqual(["http://10.0.1.5:9196", "http://relay-2.example.internal:9096"]);
    expect(peersOf(1)).toEqual(["http://10.0.1.4:9096", "http://relay-2.example.internal:9096"]);
    expect(peersOf(2)).toEqual(["http://10.0.1.4:9096", "http://10.0.1.5:9196"]);
  });

  it("writes IPv6 peers in brackets, the peer timings and the load balancer's query timeout, in a file loadConfig reads", () => {
    const topology = buildTopology({
      ...VM_SPEC,
      replicas: [
        { name: "influxdb-0", address: "fd00::4" },
        { name: "influxdb-1", address: "fd00::5" },
      ],
      relays: [
        { name: "relay-0", address: "fd00::4", bindAddress: "::" },
        { name: "relay-1", address: "fd00::5", bindAddress: "::" },
      ],
    });
    const text = renderRelayConfig(topology, topology.relays[0]!);
    expect(text).toContain('peers = ["http://[fd00::5]:9096"]\n');
    const file = join(tempDir("relay-render-"), "relay.toml");
    writeFileSync(file, text);
    const http = loadConfig(file).http[0]!;
    expect(http.peers).toEqual(["http://[fd00::5]:9096"]);
    expect([http.peerPollIntervalMs, http.peerTimeoutMs]).toEqual([1_000, 500]);
    expect(http.queryTimeoutMs).toBe(topology.loadBalancer.queryTimeoutMs);
    expect(http.bindAddr).toEqual({ host: "::", port: 9096 });
    expect(http.outputs.map((o) => o.location)).toEqual(["http://[fd00::4]:8086/write", "http://[fd00::5]:8086/write"]);
  });

  it("gives every relay the topology's admin token, which the relay reads back exactly, whatever characters the topology allows", () => {
    // Every printable ASCII character the topology takes, TOML's own syntax (#, [, =, {) among them.
    const everyAllowed = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i))
      .filter((c) => !"\"'\\".includes(c))
      .join("");
    for (const relayAdminToken of [VM_SPEC.relayAdminToken, everyAllowed, "#not-a-comment-[x]={y}"]) {
      const topology = buildTopology({ ...VM_SPEC, relayAdminToken });
      for (const relay of topology.relays) {
        const file = join(tempDir("relay-render-"), "relay.toml");
        writeFileSync(file, renderRelayConfig(topology, relay));
        expect(loadConfig(file).http[0]!.adminToken, relay.name).toBe(relayAdminToken);
      }
    }
  });
});
