// The local layout's pure parts: flags, the port and directory plan, relay.toml and influxd.conf.
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../relay/config.js";
import { CliError, parseLocalArgs } from "../local/cli.js";
import { renderInfluxdConfig } from "../local/influxd.js";
import { PlanError, planLocalLayout, type LocalOptions } from "../local/plan.js";
import { describeLayout } from "../local/summary.js";

const BASE: LocalOptions = { port: 8086, replicas: 2, runDir: "/srv/run", databases: ["telegraf"] };

describe("planLocalLayout", () => {
  it("lays out the default ports and directories", () => {
    const plan = planLocalLayout(BASE);
    expect(plan.clientUrl).toBe("http://127.0.0.1:8086");
    expect(plan.lockPath).toBe("/srv/run/local.lock");
    expect(plan.udpDatabase).toBe("telegraf");
    expect(plan.relay).toMatchObject({
      dir: "/srv/run/relay",
      httpPort: 8086,
      udpPort: 8089,
      configPath: "/srv/run/relay/relay.toml",
      logPath: "/srv/run/relay/relay.log",
    });
    expect(plan.replicas).toEqual([
      {
        index: 0,
        name: "influxd-0",
        dir: "/srv/run/influxd-0",
        httpPort: 8186,
        rpcPort: 8187,
        udpPort: 8188,
        url: "http://127.0.0.1:8186",
        writeUrl: "http://127.0.0.1:8186/write",
        logPath: "/srv/run/influxd-0/influxd.log",
      },
      {
        index: 1,
        name: "influxd-1",
        dir: "/srv/run/influxd-1",
        httpPort: 8196,
        rpcPort: 8197,
        udpPort: 8198,
        url: "http://127.0.0.1:8196",
        writeUrl: "http://127.0.0.1:8196/write",
        logPath: "/srv/run/influxd-1/influxd.log",
      },
    ]);
    expect(plan.tcpPorts).toEqual([8086, 8186, 8187, 8196, 8197]);
    expect(plan.udpPorts).toEqual([8089, 8188, 8198]);
  });

  it("gives every process its own ports, whatever the base and the number of replicas", () => {
    const plan = planLocalLayout({ ...BASE, port: 20000, replicas: 5 });
    expect(new Set(plan.tcpPorts).size).toBe(plan.tcpPorts.length);
    expect(new Set(plan.udpPorts).size).toBe(plan.udpPorts.length);
    expect(plan.tcpPorts.at(-1)).toBe(20000 + 100 + 40 + 1);
    expect(plan.udpPorts.at(-1)).toBe(20000 + 100 + 40 + 2);
    expect(plan.replicas.map((r) => r.name)).toEqual(["influxd-0", "influxd-1", "influxd-2", "influxd-3", "influxd-4"]);
  });

  it("writes a relay.toml the relay loads: every replica behind both listeners", () => {
    const plan = planLocalLayout({ ...BASE, replicas: 3 });
    const config = parseConfig(plan.relay.toml, plan.relay.configPath);
    expect(config.http).toHaveLength(1);
    expect(config.http[0]!.bindAddr).toEqual({ host: "127.0.0.1", port: 8086 });
    expect(config.http[0]!.outputs.map((o) => [o.name, o.location, o.timeoutMs])).toEqual([
      ["influxd-0", "http://127.0.0.1:8186/write", 10_000],
      ["influxd-1", "http://127.0.0.1:8196/write", 10_000],
      ["influxd-2", "http://127.0.0.1:8206/write", 10_000],
    ]);
    expect(config.udp).toHaveLength(1);
    expect(config.udp[0]!.bindAddr).toEqual({ host: "127.0.0.1", port: 8089 });
    expect(config.udp[0]!.outputs.map((o) => [o.name, o.host, o.port])).toEqual([
      ["influxd-0", "127.0.0.1", 8188],
      ["influxd-1", "127.0.0.1", 8198],
      ["influxd-2", "127.0.0.1", 8208],
    ]);
  });

  it("keeps the databases in order without duplicates; the first one takes the UDP writes", () => {
    const plan = planLocalLayout({ ...BASE, databases: ["metrics", "logs", "metrics"] });
    expect(plan.databases).toEqual(["metrics", "logs"]);
    expect(plan.udpDatabase).toBe("metrics");
  });

  it("rejects what cannot be laid out, naming the flag", () => {
    const bad =
      (options: Partial<LocalOptions>): (() => unknown) =>
      () =>
        planLocalLayout({ ...BASE, ...options });
    expect(bad({ replicas: 1 })).toThrow(PlanError);
    expect(bad({ replicas: 1 })).toThrow("--replicas must be a whole number of at least 2");
    expect(bad({ port: 0 })).toThrow("--port must be a whole number from 1 to 65535");
    expect(bad({ port: 70000 })).toThrow("--port must be a whole number from 1 to 65535");
    expect(bad({ port: 65_430 })).toThrow("--port 65430 with 2 replicas needs ports up to 65542, above 65535");
    expect(bad({ port: 65_000, replicas: 50 })).toThrow("above 65535");
    expect(bad({ runDir: "relative/run" })).toThrow("absolute");
    expect(bad({ databases: [] })).toThrow("at least one --db");
    expect(() => planLocalLayout({ ...BASE, port: 65_535 - 112 })).not.toThrow();
  });

  it("is pure: the same options give the same plan", () => {
    expect(planLocalLayout(BASE)).toEqual(planLocalLayout(BASE));
  });
});

describe("parseLocalArgs", () => {
  const context = { cwd: "/home/me/project", defaultRunDir: "/home/me/project/.run" };

  it("defaults to port 8086, 2 replicas, .run and telegraf", () => {
    expect(parseLocalArgs([], context)).toEqual({
      help: false,
      port: 8086,
      replicas: 2,
      runDir: "/home/me/project/.run",
      databases: ["telegraf"],
    });
  });

  it("reads every flag, as --flag value or --flag=value; --db repeats; a relative --run-dir is taken from cwd", () => {
    expect(parseLocalArgs(["--port", "9000", "--replicas=3", "--run-dir", "tmp/run", "--db", "a", "--db=b"], context)).toEqual({
      help: false,
      port: 9000,
      replicas: 3,
      runDir: "/home/me/project/tmp/run",
      databases: ["a", "b"],
    });
    expect(parseLocalArgs(["--run-dir=/abs/run"], context)).toMatchObject({ runDir: "/abs/run" });
  });

  it("answers --help and -h", () => {
    expect(parseLocalArgs(["--help"], context)).toEqual({ help: true });
    expect(parseLocalArgs(["--port", "1", "-h"], context)).toEqual({ help: true });
  });

  it("rejects bad flags with a message naming them", () => {
    const bad =
      (...argv: string[]): (() => unknown) =>
      () =>
        parseLocalArgs(argv, context);
    expect(bad("--port", "abc")).toThrow(CliError);
    expect(bad("--port", "abc")).toThrow('--port needs a whole number, not "abc"');
    expect(bad("--port", "-5")).toThrow("--port needs a whole number");
    expect(bad("--replicas", "2.5")).toThrow('--replicas needs a whole number, not "2.5"');
    expect(bad("--port")).toThrow("--port needs a value");
    expect(bad("--db=")).toThrow("--db needs a value");
    expect(bad("--verbose")).toThrow('unknown flag "--verbose"');
    expect(bad("-p", "1")).toThrow('unexpected argument "-p"');
    expect(bad("start")).toThrow('unexpected argument "start"');
    expect(bad("--port", "1", "--port", "2")).toThrow("--port given twice");
  });
});

describe("renderInfluxdConfig", () => {
  it("keeps everything under the dir and binds only 127.0.0.1", () => {
    const config = parseToml(renderInfluxdConfig({ dir: "/srv/run/influxd-0", httpPort: 8186, rpcPort: 8187 })) as any;
    expect(config["bind-address"]).toBe("127.0.0.1:8187");
    expect(config.meta.dir).toBe("/srv/run/influxd-0/meta");
    expect(config.data.dir).toBe("/srv/run/influxd-0/data");
    expect(config.data["wal-dir"]).toBe("/srv/run/influxd-0/wal");
    expect(config.http["bind-address"]).toBe("127.0.0.1:8186");
    expect(config["reporting-disabled"]).toBe(true);
    expect(config.udp).toBeUndefined();
  });

  it("adds a [[udp]] listener when asked", () => {
    const text = renderInfluxdConfig({ dir: "/d", httpPort: 1, rpcPort: 2, udp: { port: 3, database: 'we"ird', precision: "s" } });
    const config = parseToml(text) as any;
    expect(config.udp).toEqual([
      { enabled: true, "bind-address": "127.0.0.1:3", database: 'we"ird', "batch-size": 1, "batch-timeout": "10ms", precision: "s" },
    ]);
  });
});

describe("describeLayout", () => {
  it("names the endpoints, the replicas, the run dir and the logs, and ends with Ctrl-C to stop", () => {
    const plan = planLocalLayout(BASE);
    const text = describeLayout(plan);
    for (const expected of [
      "http://127.0.0.1:8086",
      "127.0.0.1:8089",
      "influxd-0  http://127.0.0.1:8186",
      "influxd-1  http://127.0.0.1:8196",
      "/srv/run/relay/relay.log",
      "/srv/run/influxd-1/influxd.log",
      "run dir          /srv/run",
    ]) {
      expect(text).toContain(expected);
    }
    expect(text.split("\n").at(-1)).toBe("Ctrl-C to stop.");
  });
});
