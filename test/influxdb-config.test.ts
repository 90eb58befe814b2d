import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { renderInfluxdConfig, renderReplicaConfig } from "../influxdb/render-config.js";
import { buildTopology } from "../topology/build.js";
import { VM_SPEC } from "./helpers/topology.js";

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
  it("binds the replica's address and ports, keeps RPC on loopback, and feeds UDP into the topology's UDP database", () => {
    const topology = buildTopology({
      ...VM_SPEC,
      udpDatabase: "telegraf",
      replicas: VM_SPEC.replicas.map((r) => ({ ...r, udpPort: 8189 })),
      relays: VM_SPEC.relays.map((r) => ({ ...r, udpPort: 8089 })),
    });
    const config = parseToml(renderReplicaConfig(topology, topology.replicas[1]!, { dir: "/var/lib/influxdb", authEnabled: true })) as any;
    expect(config["bind-address"]).toBe("127.0.0.1:8088");
    expect(config.http["bind-address"]).toBe("0.0.0.0:8086");
    expect(config.http["auth-enabled"]).toBe(true);
    expect(config.data["wal-dir"]).toBe("/var/lib/influxdb/wal");
    expect(config.udp[0]).toMatchObject({ "bind-address": "0.0.0.0:8189", database: "telegraf" });
  });
});
