// The local layout's parts without processes: flags, the port and directory plan, relay.toml, influxd.conf,
// the summary, taking over an older run dir's queue, and the pauses before a crashed child is restarted.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../relay/config.js";
import { CliError, USAGE, parseLocalArgs } from "../../local/cli.js";
import { PlanError, planLocalLayout, relayAdminTokenPath, type LocalOptions, type LocalPlan, type LocalSecrets } from "../../local/plan.js";
import { describeLayout } from "../../local/summary.js";
import { adoptSingleRelaySpool } from "../../local/old-spool.js";
import { RESTART_BACKOFF, RestartBackoff } from "../../local/restart-backoff.js";
import { tempDir } from "../helpers/temp.js";

const BASE: LocalOptions = { port: 8086, replicas: 2, runDir: "/srv/run", databases: ["telegraf"], watch: false };

const PASSWORD = "stats-password-1";
const ADMIN_TOKEN = "relay-admin-token-1";
const SECRETS: LocalSecrets = { statsPassword: PASSWORD, relayAdminToken: ADMIN_TOKEN };
const plan = (options: Partial<LocalOptions> = {}): LocalPlan => planLocalLayout({ ...BASE, ...options }, SECRETS);

describe("planLocalLayout", () => {
  it("lays out the default ports and directories", () => {
    const p = plan();
    expect(p.clientUrl).toBe("http://127.0.0.1:8086");
    expect(p.lockPath).toBe("/srv/run/local.lock");
    expect(p.topology.udpDatabase).toBe("telegraf");
    expect(p.haproxy).toMatchObject({
      dir: "/srv/run/haproxy",
      configPath: "/srv/run/haproxy/haproxy.cfg",
      logPath: "/srv/run/haproxy/haproxy.log",
      statsUrl: "http://127.0.0.1:8090/",
    });
    expect(p.relays.map(({ toml: _toml, ...relay }) => relay)).toEqual([
      {
        name: "relay-0",
        dir: "/srv/run/relay-0",
        httpPort: 8136,
        udpPort: 8089,
        url: "http://127.0.0.1:8136",
        configPath: "/srv/run/relay-0/relay.toml",
        logPath: "/srv/run/relay-0/relay.log",
      },
      {
        name: "relay-1",
        dir: "/srv/run/relay-1",
        httpPort: 8146,
        udpPort: 8099,
        url: "http://127.0.0.1:8146",
        configPath: "/srv/run/relay-1/relay.toml",
        logPath: "/srv/run/relay-1/relay.log",
      },
    ]);
    expect(p.replicas).toEqual([
      {
        name: "influxd-0",
        dir: "/srv/run/influxd-0",
        httpPort: 8186,
        rpcPort: 8187,
        udpPort: 8188,
        url: "http://127.0.0.1:8186",
        logPath: "/srv/run/influxd-0/influxd.log",
      },
      {
        name: "influxd-1",
        dir: "/srv/run/influxd-1",
        httpPort: 8196,
        rpcPort: 8197,
        udpPort: 8198,
        url: "http://127.0.0.1:8196",
        logPath: "/srv/run/influxd-1/influxd.log",
      },
    ]);
    expect(p.tcpPorts).toEqual([8086, 8090, 8136, 8146, 8186, 8187, 8196, 8197]);
    expect(p.udpPorts).toEqual([8089, 8099, 8188, 8198]);
  });

  it("gives every process its own ports, whatever the base and the number of replicas", () => {
    const p = plan({ port: 20000, replicas: 5 });
    expect(new Set(p.tcpPorts).size).toBe(p.tcpPorts.length);
    expect(new Set(p.udpPorts).size).toBe(p.udpPorts.length);
    expect(p.tcpPorts.at(-1)).toBe(20000 + 100 + 40 + 1);
    expect(p.udpPorts.at(-1)).toBe(20000 + 100 + 40 + 2);
    expect(p.replicas.map((r) => r.name)).toEqual(["influxd-0", "influxd-1", "influxd-2", "influxd-3", "influxd-4"]);
  });

  it("writes one relay.toml per relay, which the relay loads: every replica behind both listeners, its own spool, the other relay as its peer, the admin token", () => {
    const p = plan({ replicas: 3 });
    const [first, second] = p.relays.map((relay) => parseConfig(relay.toml, relay.configPath));
    expect([first!.http[0]!.adminToken, second!.http[0]!.adminToken]).toEqual([ADMIN_TOKEN, ADMIN_TOKEN]);
    expect(relayAdminTokenPath(p.runDir)).toBe("/srv/run/relay-admin-token");
    expect(first!.http[0]!.bindAddr).toEqual({ host: "127.0.0.1", port: 8136 });
    expect(second!.http[0]!.bindAddr).toEqual({ host: "127.0.0.1", port: 8146 });
    expect(first!.http[0]!.peers).toEqual(["http://127.0.0.1:8146"]);
    expect(second!.http[0]!.peers).toEqual(["http://127.0.0.1:8136"]);
    expect(first!.http[0]!.peers).toEqual([p.relays[1]!.url]);
    expect([first!.http[0]!.spoolDir, second!.http[0]!.spoolDir]).toEqual(["/srv/run/relay-0/spool", "/srv/run/relay-1/spool"]);
    expect(first!.http[0]!.outputs.map((o) => [o.name, o.location, o.timeoutMs])).toEqual([
      ["influxd-0", "http://127.0.0.1:8186/write", 10_000],
      ["influxd-1", "http://127.0.0.1:8196/write", 10_000],
      ["influxd-2", "http://127.0.0.1:8206/write", 10_000],
    ]);
    expect(second!.udp[0]!.bindAddr).toEqual({ host: "127.0.0.1", port: 8099 });
    expect(second!.udp[0]!.outputs.map((o) => [o.name, o.host, o.port])).toEqual([
      ["influxd-0", "127.0.0.1", 8188],
      ["influxd-1", "127.0.0.1", 8198],
      ["influxd-2", "127.0.0.1", 8208],
    ]);
  });

  it("renders haproxy.cfg from the same topology: the client port, the stats port, and both relays as its only servers", () => {
    const cfg = plan({ replicas: 3 }).haproxy.cfg;
    expect(cfg).toContain("bind 127.0.0.1:8086\n");
    expect(cfg).toContain("bind 127.0.0.1:8090\n");
    expect(cfg).toContain(`insecure-password '${PASSWORD}'`);
    const servers = [...cfg.matchAll(/^ {4}server (\S+ \S+) check maxconn 1000$/gm)].map((m) => m[1]);
    expect(servers).toEqual(["relay-0 127.0.0.1:8136", "relay-1 127.0.0.1:8146"]);
  });

  it("keeps the databases in order; the first one takes the UDP writes", () => {
    const p = plan({ databases: ["metrics", "logs"] });
    expect(p.topology.databases).toEqual(["metrics", "logs"]);
    expect(p.topology.udpDatabase).toBe("metrics");
  });

  it("rejects what cannot be laid out, naming the flag", () => {
    const bad =
      (options: Partial<LocalOptions>): (() => unknown) =>
      () =>
        plan(options);
    expect(bad({ replicas: 1 })).toThrow(PlanError);
    expect(bad({ replicas: 1 })).toThrow("--replicas must be a whole number of at least 2");
    expect(bad({ port: 0 })).toThrow("--port must be a whole number from 1 to 65535");
    expect(bad({ port: 70000 })).toThrow("--port must be a whole number from 1 to 65535");
    expect(bad({ port: 65_430 })).toThrow("--port 65430 with 2 replicas needs ports up to 65542, above 65535");
    expect(bad({ port: 65_000, replicas: 50 })).toThrow("above 65535");
    expect(bad({ runDir: "relative/run" })).toThrow("absolute");
    expect(bad({ databases: [] })).toThrow("at least one --db");
    expect(bad({ databases: ["bad\nname"] })).toThrow("is not a usable database name");
    expect(() => plan({ port: 65_535 - 112 })).not.toThrow();
    expect(() => planLocalLayout(BASE, { ...SECRETS, statsPassword: "short" })).toThrow("stats.password must be at least 8");
    expect(() => planLocalLayout(BASE, { ...SECRETS, relayAdminToken: "too-short" })).toThrow("relayAdminToken must be at least 16");
  });

  it("is pure: the same options give the same plan", () => {
    expect(plan()).toEqual(plan());
  });
});

describe("parseLocalArgs", () => {
  const context = { cwd: "/home/me/project", defaultRunDir: "/home/me/project/.run" };

  it("defaults to port 8086, 2 replicas, .run and telegraf, with restarts", () => {
    expect(parseLocalArgs([], context)).toEqual({
      help: false,
      port: 8086,
      replicas: 2,
      runDir: "/home/me/project/.run",
      databases: ["telegraf"],
      watch: false,
      restart: true,
    });
  });

  it("reads every flag, as --flag value or --flag=value; --db repeats; a relative --run-dir is taken from cwd", () => {
    expect(
      parseLocalArgs(
        ["--port", "9000", "--replicas=3", "--run-dir", "tmp/run", "--db", "a", "--db=b", "--db", "a", "--watch", "--no-restart"],
        context,
      ),
    ).toEqual({
      help: false,
      port: 9000,
      replicas: 3,
      runDir: "/home/me/project/tmp/run",
      databases: ["a", "b"],
      watch: true,
      restart: false,
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
    expect(bad("--watch=yes")).toThrow("--watch takes no value");
    expect(bad("--no-restart=1")).toThrow("--no-restart takes no value");
  });

  it("documents --no-restart in the usage", () => {
    expect(USAGE).toContain("[--watch] [--no-restart]");
    expect(USAGE).toMatch(/^ {2}--no-restart {4}leave a replica, relay or HAProxy that exits on its own down/m);
  });

  it("says where the run dir keeps the secrets", () => {
    expect(USAGE).toContain("haproxy/ (haproxy.cfg, stats-password, haproxy.log), relay-admin-token, local.lock.");
    expect(USAGE).toContain("relay-admin-token (the Bearer token of the relays' POST /admin/flush and /admin/mark-in-sync");
  });
});

describe("RestartBackoff", () => {
  it("waits 1 s, doubling up to 30 s while the process keeps failing, and 1 s again after it stayed up a minute", () => {
    let now = 0;
    const backoff = new RestartBackoff(RESTART_BACKOFF, () => now);
    const pauses = (n: number): number[] => Array.from({ length: n }, () => backoff.nextDelayMs());
    expect(pauses(7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);

    // Up again, but down before a minute has passed: still a crash loop.
    backoff.up();
    now += 59_999;
    expect(backoff.nextDelayMs()).toBe(30_000);

    backoff.up();
    now += 60_000;
    expect(pauses(3)).toEqual([1_000, 2_000, 4_000]);
    // A failed start after a long run counts from the last time it came up, not from the run before.
    now += 120_000;
    expect(backoff.nextDelayMs()).toBe(8_000);
  });
});

describe("describeLayout", () => {
  it("names the endpoints, the stats page, the relays, where their admin token is, the replicas and the logs, and ends with how to stop", () => {
    const text = describeLayout(plan());
    for (const expected of [
      "client endpoint  http://127.0.0.1:8086",
      "stats page       http://127.0.0.1:8090/  (user admin, password in /srv/run/haproxy/stats-password",
      "127.0.0.1:8089",
      "127.0.0.1:8099",
      "relay-0  http://127.0.0.1:8136",
      "influxd-0  http://127.0.0.1:8186",
      "influxd-1  http://127.0.0.1:8196",
      "relay-1/relay.log",
      "influxd-1/influxd.log",
      "run dir          /srv/run",
      "admin token      /srv/run/relay-admin-token  (also in each relay.toml",
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text.split("\n").at(-1)).toBe("Ctrl-C to stop (or kill $(cat /srv/run/local.lock)).");
  });
});

describe("adoptSingleRelaySpool", () => {
  it("moves the single relay's queue of an older run dir to relay-0, and never over an existing one", () => {
    const runDir = tempDir();
    const spoolDir = join(runDir, "relay-0", "spool");
    expect(adoptSingleRelaySpool(runDir, spoolDir)).toBe(false);
    mkdirSync(join(runDir, "relay", "spool", "influxd-1"), { recursive: true });
    writeFileSync(join(runDir, "relay", "spool", "influxd-1", "0000000000000000.seg"), "queued");
    expect(adoptSingleRelaySpool(runDir, spoolDir)).toBe(true);
    expect(readFileSync(join(spoolDir, "influxd-1", "0000000000000000.seg"), "utf8")).toBe("queued");
    expect(existsSync(join(runDir, "relay", "spool"))).toBe(false);

    mkdirSync(join(runDir, "relay", "spool"));
    expect(adoptSingleRelaySpool(runDir, spoolDir)).toBe(false);
    expect(existsSync(join(runDir, "relay", "spool"))).toBe(true);
  });
});
