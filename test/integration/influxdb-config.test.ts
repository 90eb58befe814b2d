// influxd.conf from its options and from the topology: TOML as the renderer means it, and read by the real
// influxd installed here (Debian's 1.6, through `influxd config`, which loads a file as the server does).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { renderInfluxdConfig, renderReplicaConfig, type InfluxdConfigOptions } from "../../influxdb/render-config.js";
import { findBinary, INFLUXD } from "../../local/tools.js";
import { buildTopology } from "../../topology/build.js";
import { tempDir } from "../helpers/temp.js";
import { VM_SPEC } from "../helpers/topology.js";

const LOCAL: InfluxdConfigOptions = {
  dir: "/srv/run/influxd-0",
  bindAddress: "127.0.0.1",
  httpPort: 8186,
  rpcPort: 8187,
  authEnabled: false,
};

/** The config the real influxd runs with, after merging `text` over its defaults; it exits non-zero on a bad file. */
function effectiveConfig(text: string): { status: number | null; config: any; output: string } {
  const file = join(tempDir("influxd-conf-"), "influxdb.conf");
  writeFileSync(file, text);
  const result = spawnSync(findBinary(INFLUXD.binary) ?? INFLUXD.binary, ["config", "-config", file], { encoding: "utf8" });
  return {
    status: result.status,
    config: result.status === 0 ? parseToml(result.stdout) : undefined,
    output: result.stdout + result.stderr,
  };
}

describe("renderInfluxdConfig", () => {
  it("keeps everything under the dir, on the addresses given, with auth as asked", () => {
    const config = parseToml(
      renderInfluxdConfig({ dir: "/srv/run/influxd-0", bindAddress: "127.0.0.1", httpPort: 8186, rpcPort: 8187, authEnabled: false }),
    ) as any;
    expect(config["bind-address"]).toBe("127.0.0.1:8187");
    expect(config.meta.dir).toBe("/srv/run/influxd-0/meta");
    expect(config.data.dir).toBe("/srv/run/influxd-0/data");
    expect(config.data["wal-dir"]).toBe("/srv/run/influxd-0/wal");
    expect(config.http["bind-address"]).toBe("127.0.0.1:8186");
    expect(config.http["auth-enabled"]).toBe(false);
    expect(config["reporting-disabled"]).toBe(true);
    expect(config.udp).toBeUndefined();
  });

  it("runs continuous queries: each replica runs the ones the relays created on all of them, over its own data", () => {
    expect((parseToml(renderInfluxdConfig(LOCAL)) as any).continuous_queries).toEqual({ enabled: true });
    const real = effectiveConfig(renderInfluxdConfig(LOCAL));
    expect(real.status, real.output).toBe(0);
    expect(real.config.continuous_queries.enabled).toBe(true);
    expect(real.config.http["bind-address"]).toBe("127.0.0.1:8186");
  });

  it("turns Flux on only when asked, and leaves the key out otherwise (the local layout's 1.6 has no Flux)", () => {
    expect((parseToml(renderInfluxdConfig(LOCAL)) as any).http).not.toHaveProperty("flux-enabled");
    expect(renderInfluxdConfig({ ...LOCAL, fluxEnabled: false })).toBe(renderInfluxdConfig(LOCAL));
    expect((parseToml(renderInfluxdConfig({ ...LOCAL, fluxEnabled: true })) as any).http["flux-enabled"]).toBe(true);
  });

  it("is read by the real influxd, which checks its types; 1.6 passes over flux-enabled without a word", () => {
    const withFlux = effectiveConfig(renderInfluxdConfig({ ...LOCAL, fluxEnabled: true }));
    expect(withFlux.status, withFlux.output).toBe(0);
    const version = spawnSync(findBinary(INFLUXD.binary) ?? INFLUXD.binary, ["version"], { encoding: "utf8" }).stdout;
    if (/v1\.[0-6]\./.test(version)) {
      // No such setting before 1.7: the key is dropped, not refused, so rendering it would only mislead.
      expect(withFlux.config.http).not.toHaveProperty("flux-enabled");
      expect(withFlux.output).not.toContain("flux-enabled");
    } else {
      expect(withFlux.config.http["flux-enabled"]).toBe(true);
    }
    // The check can fail: a wrong type is refused.
    const broken = effectiveConfig(renderInfluxdConfig(LOCAL).replace("auth-enabled = false", 'auth-enabled = "no"'));
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain("incompatible types");
  });

  it("adds a [[udp]] listener when asked", () => {
    const text = renderInfluxdConfig({
      dir: "/d",
      bindAddress: "127.0.0.1",
      httpPort: 1,
      rpcPort: 2,
      authEnabled: false,
      udp: { port: 3, database: 'we"ird', precision: "s" },
    });
    const config = parseToml(text) as any;
    expect(config.udp).toEqual([
      { enabled: true, "bind-address": "127.0.0.1:3", database: 'we"ird', "batch-size": 1, "batch-timeout": "10ms", precision: "s" },
    ]);
  });
});

describe("renderReplicaConfig", () => {
  it("binds the replica's address and ports, keeps RPC on loopback, feeds UDP into the topology's UDP database, with Flux as asked", () => {
    const topology = buildTopology({
      ...VM_SPEC,
      udpDatabase: "telegraf",
      replicas: VM_SPEC.replicas.map((r) => ({ ...r, udpPort: 8189 })),
      relays: VM_SPEC.relays.map((r) => ({ ...r, udpPort: 8089 })),
    });
    const config = parseToml(
      renderReplicaConfig(topology, topology.replicas[1]!, { dir: "/var/lib/influxdb", authEnabled: true, fluxEnabled: true }),
    ) as any;
    expect(config["bind-address"]).toBe("127.0.0.1:8088");
    expect(config.http["bind-address"]).toBe("0.0.0.0:8086");
    expect(config.http["auth-enabled"]).toBe(true);
    expect(config.http["flux-enabled"]).toBe(true);
    expect(config.continuous_queries.enabled).toBe(true);
    expect(config.data["wal-dir"]).toBe("/var/lib/influxdb/wal");
    expect(config.udp[0]).toMatchObject({ "bind-address": "0.0.0.0:8189", database: "telegraf" });
    const withoutFlux = renderReplicaConfig(topology, topology.replicas[1]!, { dir: "/d", authEnabled: true, fluxEnabled: false });
    expect(withoutFlux).not.toContain("flux");
  });
});
