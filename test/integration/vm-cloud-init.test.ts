// A node's cloud-init, checked by the real tools: cloud-init's schema, PyYAML (what cloud-init parses
// with), haproxy -c, the relay's own config loader, systemd-analyze verify and shellcheck; and the setup
// script's data-disk step run for real against a loop device, and its step that lets the relay read its config.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig } from "../../infra/config.js";
import { CUSTOM_DATA_MAX_BYTES, renderCloudInit, type NodeCloudInitArgs } from "../../infra/vm/cloud-init.js";
import { planVmLayout, TLS_CERTIFICATE_PATH, type VmPlan } from "../../infra/vm/plan.js";
import { loadConfig } from "../../relay/config.js";
import { checkHaproxyConfig } from "../helpers/haproxy.js";
import { stackReader } from "../helpers/stack-config.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

const SETUP_SCRIPT = new URL("../../infra/vm/influx-ha-setup.sh", import.meta.url).pathname;
// YAML 1.1 would read these as a number and a base-60 number if they were not quoted.
const TRICKY_PASSWORD = "1:20:30:40:50";
const ADMIN_PASSWORD = `it's a "long" \\ secret`;
// What YAML and TOML would read as syntax if the token were not kept inside relay.toml's string.
const RELAY_ADMIN_TOKEN = "#:{relay}[admin]&token*=1";

let plan: VmPlan;
let args: NodeCloudInitArgs;
let userData: string;

beforeAll(() => {
  const config = parseStackConfig(
    stackReader({
      "influx-ha:udpDatabase": "telegraf",
      "influx-ha:publicEndpoint": "false",
      "influx-ha:influxAdminPassword": ADMIN_PASSWORD,
      "influx-ha:statsPassword": TRICKY_PASSWORD,
      "influx-ha:relayAdminToken": RELAY_ADMIN_TOKEN,
    }),
  );
  plan = planVmLayout(config, config.vm!, config.statsPassword);
  args = {
    plan,
    node: plan.nodes[1]!,
    influxAdminUser: "admin",
    influxAdminPassword: ADMIN_PASSWORD,
    tlsCertificate: undefined,
    relayBundle: {
      url: "https://acct.blob.core.windows.net/relay/influx-relay.mjs",
      sha256: "ab".repeat(32),
      identityClientId: "client-1",
    },
  };
  userData = renderCloudInit(args);
});

/** write_files as cloud-init will see them: parsed by PyYAML's safe_load. */
function filesAsCloudInitReadsThem(text: string): Map<string, { permissions: string; content: string }> {
  const json = execFileSync("python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"], {
    input: text,
    encoding: "utf8",
  });
  const parsed = JSON.parse(json) as { write_files: Array<{ path: string; permissions: string; content: string }>; runcmd: unknown };
  expect(parsed.runcmd).toEqual([["/usr/local/sbin/influx-ha-setup"]]);
  return new Map(parsed.write_files.map((f) => [f.path, f]));
}

describe("a node's cloud-init", () => {
  it("passes the real cloud-init schema check, and fits Azure's customData limit", () => {
    const file = join(tempDir("cloud-init-"), "user-data");
    writeFileSync(file, userData);
    const result = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("Valid cloud-config");
    expect(Buffer.byteLength(Buffer.from(userData).toString("base64"))).toBeLessThan(CUSTOM_DATA_MAX_BYTES);
  });

  it("is caught by the schema check when broken (the check can fail)", () => {
    const file = join(tempDir("cloud-init-"), "user-data");
    writeFileSync(file, userData.replace("runcmd:", "runcmd: 5\nnot_runcmd:"));
    expect(spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" }).status).not.toBe(0);
  });

  it("writes every file byte for byte as rendered, secrets only for root", () => {
    const files = filesAsCloudInitReadsThem(userData);
    expect(files.get("/etc/influx-ha/influx-admin-password")).toEqual({
      path: "/etc/influx-ha/influx-admin-password",
      owner: "root:root",
      permissions: "0600",
      content: ADMIN_PASSWORD,
    });
    expect(files.get("/etc/influx-ha/create-admin.influxql")!.content).toBe(
      `CREATE USER "admin" WITH PASSWORD 'it\\'s a "long" \\\\ secret' WITH ALL PRIVILEGES\n`,
    );
    expect(files.get("/etc/influx-ha/create-databases.influxql")!.content).toBe('CREATE DATABASE "telegraf"; CREATE DATABASE "app"\n');
    expect(files.get("/usr/local/sbin/influx-ha-setup")).toMatchObject({
      permissions: "0755",
      content: readFileSync(SETUP_SCRIPT, "utf8"),
    });
    expect(files.get("/etc/apt/preferences.d/influxdb")!.content).toBe("Package: influxdb\nPin: version 1.8.*\nPin-Priority: 1001\n");
    const haproxy = files.get("/etc/haproxy/haproxy.cfg")!;
    expect(haproxy.permissions).toBe("0600");
    expect(haproxy.content).toContain(`insecure-password '${TRICKY_PASSWORD}'`);
    const env = files.get("/etc/influx-ha/setup.env")!;
    expect(env.permissions).toBe("0600");
    // The env file is sourced by bash: every value comes back exactly.
    const sourced = execFileSync("bash", ["-c", 'eval \"$(cat)\"; printf "%s\\n" "$DATA_DISK" "$RELAY_BUNDLE_URL" "$IDENTITY_CLIENT_ID"'], {
      input: env.content,
      encoding: "utf8",
    });
    expect(sourced).toBe("/dev/disk/azure/scsi1/lun0\nhttps://acct.blob.core.windows.net/relay/influx-relay.mjs\nclient-1\n");
    expect(env.content).toContain("RELAY_CONFIG='/etc/influx-relay/relay.toml'\n");
  });

  it("writes the relays' admin token into relay.toml only, which root alone can read until the setup lets the relay's group", () => {
    const files = filesAsCloudInitReadsThem(userData);
    expect(files.get("/etc/influx-relay/relay.toml")).toMatchObject({ owner: "root:root", permissions: "0640" });
    const holding = [...files].filter(([, f]) => f.content.includes(RELAY_ADMIN_TOKEN)).map(([path]) => path);
    expect(holding).toEqual(["/etc/influx-relay/relay.toml"]);
    // Nowhere else in the user data either: not in the header, the setup's environment or runcmd.
    expect(userData.split(RELAY_ADMIN_TOKEN)).toHaveLength(2);
  });

  it("renders an haproxy.cfg that passes haproxy -c, balancing over every node's relay and never reaching InfluxDB", () => {
    const cfg = filesAsCloudInitReadsThem(userData).get("/etc/haproxy/haproxy.cfg")!.content;
    expect(checkHaproxyConfig(cfg)).toEqual({ status: 0, output: expect.any(String) });
    expect(cfg).toContain("bind 0.0.0.0:8180");
    expect(cfg).toContain("    user haproxy\n    group haproxy\n");
    expect([...cfg.matchAll(/^ {4}server (\S+ \S+) check maxconn 1000$/gm)].map((m) => m[1])).toEqual([
      "relay-0 10.42.1.10:9096",
      "relay-1 10.42.1.11:9096",
    ]);
  });

  it("with tlsCertificate, writes the PEM for root only and terminates TLS with it in a config haproxy -c accepts", () => {
    const pem = selfSignedPem().pem;
    const config = parseStackConfig(stackReader({ "influx-ha:allowPlaintextPublicEndpoint": undefined, "influx-ha:tlsCertificate": pem }));
    const tlsPlan = planVmLayout(config, config.vm!, config.statsPassword);
    const files = filesAsCloudInitReadsThem(
      renderCloudInit({ ...args, plan: tlsPlan, node: tlsPlan.nodes[0]!, tlsCertificate: config.tlsCertificate }),
    );
    expect(files.get(TLS_CERTIFICATE_PATH)).toMatchObject({ permissions: "0600", content: pem });
    const cfg = files.get("/etc/haproxy/haproxy.cfg")!.content;
    expect(cfg).toContain(`bind 0.0.0.0:8180 ssl crt ${TLS_CERTIFICATE_PATH} alpn http/1.1`);
    // haproxy -c loads the certificate (client and stats ports): point it at a copy of the same PEM.
    const copy = join(tempDir("tls-"), "influx-ha.pem");
    writeFileSync(copy, pem);
    expect(checkHaproxyConfig(cfg.replaceAll(TLS_CERTIFICATE_PATH, copy))).toEqual({ status: 0, output: expect.any(String) });
    expect(() => renderCloudInit({ ...args, plan: tlsPlan, node: tlsPlan.nodes[0]! })).toThrow(/no tlsCertificate/);
  });

  it("renders a relay.toml the relay loads, writing to every replica over HTTP and UDP, with the other node's relay as its peer", () => {
    const dir = tempDir("relay-toml-");
    const file = join(dir, "relay.toml");
    writeFileSync(file, filesAsCloudInitReadsThem(userData).get("/etc/influx-relay/relay.toml")!.content);
    const relay = loadConfig(file);
    expect(relay.http[0]!.bindAddr).toEqual({ host: "0.0.0.0", port: 9096 });
    expect(relay.http[0]!.outputs.map((o) => o.location)).toEqual(["http://10.42.1.10:8086/write", "http://10.42.1.11:8086/write"]);
    expect(relay.http[0]!.spoolDir).toBe("/var/lib/influx-relay/relay-1");
    expect(relay.http[0]!.peers).toEqual(["http://10.42.1.10:9096"]);
    expect(relay.udp[0]!.outputs.map((o) => `${o.host}:${o.port}`)).toEqual(["10.42.1.10:8189", "10.42.1.11:8189"]);
    expect(relay.http[0]!.adminToken).toBe(RELAY_ADMIN_TOKEN);
  });

  it("renders an influxdb.conf with auth and Flux (InfluxDB 1.8) on, continuous queries run, data on the data disk and UDP into the UDP database", () => {
    const conf = parseToml(filesAsCloudInitReadsThem(userData).get("/etc/influxdb/influxdb.conf")!.content) as any;
    expect(conf.http).toMatchObject({ "bind-address": "0.0.0.0:8086", "auth-enabled": true, "flux-enabled": true });
    expect(conf.continuous_queries).toEqual({ enabled: true });
    expect(conf.meta.dir).toBe("/var/lib/influxdb/meta");
    expect(conf.udp[0]).toMatchObject({ "bind-address": "0.0.0.0:8189", database: "telegraf" });
  });

  it("renders systemd units that pass systemd-analyze verify without a single warning", () => {
    const files = filesAsCloudInitReadsThem(userData);
    const dir = tempDir("units-");
    const relayUnit = join(dir, "influx-relay.service");
    writeFileSync(relayUnit, files.get("/etc/systemd/system/influx-relay.service")!.content);
    // The drop-in is verified on a stand-in for InfluxData's unit, read from the directory beside it.
    mkdirSync(join(dir, "influxdb.service.d"));
    writeFileSync(
      join(dir, "influxdb.service.d", "influx-ha.conf"),
      files.get("/etc/systemd/system/influxdb.service.d/influx-ha.conf")!.content,
    );
    const influxdbUnit = join(dir, "influxdb.service");
    writeFileSync(
      influxdbUnit,
      "[Unit]\nDescription=InfluxDB\n\n[Service]\nUser=influxdb\nExecStart=/usr/bin/influxd -config /etc/influxdb/influxdb.conf\n",
    );
    for (const unit of [relayUnit, influxdbUnit]) {
      const result = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
      expect({ unit, status: result.status, output: result.stdout + result.stderr }).toEqual({ unit, status: 0, output: "" });
    }
    // A typo would be reported (so the check can fail).
    writeFileSync(relayUnit, files.get("/etc/systemd/system/influx-relay.service")!.content.replace("Restart=always", "Restart=alwyas"));
    expect(spawnSync("systemd-analyze", ["verify", relayUnit], { encoding: "utf8" }).stderr).toContain(
      "restart specifier, ignoring: alwyas",
    );
  });

  it("ships a setup script that shellcheck passes", () => {
    const result = spawnSync("shellcheck", [SETUP_SCRIPT], { encoding: "utf8" });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
  });
});

describe("the setup script's relay config step", () => {
  it("gives relay.toml to root, readable by the relay's group and no one else, before the relay starts", () => {
    const file = join(tempDir("relay-config-"), "relay.toml");
    writeFileSync(file, 'admin-token = "secret-admin-token"\n');
    chmodSync(file, 0o644);
    const result = spawnSync("bash", ["-c", 'source "$1"; protect_relay_config "$2" "$3"', "bash", SETUP_SCRIPT, file, "nogroup"], {
      encoding: "utf8",
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: "" });
    const nogroup = Number(execFileSync("getent", ["group", "nogroup"], { encoding: "utf8" }).split(":")[2]);
    const stat = statSync(file);
    expect({ mode: stat.mode & 0o777, uid: stat.uid, gid: stat.gid }).toEqual({ mode: 0o640, uid: 0, gid: nogroup });
    // install_relay does it once the relay's user exists, and before it starts the relay.
    const script = readFileSync(SETUP_SCRIPT, "utf8");
    const [useradd, protect, start] = [
      "useradd --system",
      'protect_relay_config "$RELAY_CONFIG" influx-relay',
      "systemctl restart influx-relay",
    ].map((step) => script.indexOf(step));
    expect(useradd).toBeGreaterThan(0);
    expect(protect).toBeGreaterThan(useradd!);
    expect(start).toBeGreaterThan(protect!);
  });
});

describe("the setup script's data-disk step, on a real loop device", () => {
  /** Runs prepare_data_disk from the script, sourced, against DEVICE; returns its exit code and stderr. */
  function prepare(device: string, dir: string, fstab: string): { status: number | null; stderr: string } {
    const result = spawnSync("bash", ["-c", 'source "$1"; prepare_data_disk "$2" "$3" "$4"', "bash", SETUP_SCRIPT, device, dir, fstab], {
      encoding: "utf8",
    });
    return { status: result.status, stderr: result.stderr };
  }
  const uuidOf = (device: string): string =>
    execFileSync("blkid", ["-p", "-s", "UUID", "-o", "value", device], { encoding: "utf8" }).trim();

  it("formats an empty disk once, mounts it, records it by UUID with nofail, and never formats it again", () => {
    const work = tempDir("data-disk-");
    const image = join(work, "disk.img");
    execFileSync("truncate", ["-s", "64M", image]);
    const device = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
    const mountDir = join(work, "influxdb");
    const fstab = join(work, "fstab");
    writeFileSync(fstab, "UUID=1111 / ext4 defaults 0 1\nUUID=2222 " + mountDir + " ext4 defaults 0 2\n");
    try {
      const first = prepare(device, mountDir, fstab);
      expect(first).toEqual({ status: 0, stderr: expect.stringContaining("is empty: formatting it ext4") });
      const uuid = uuidOf(device);
      expect(readFileSync(fstab, "utf8")).toBe(
        `UUID=1111 / ext4 defaults 0 1\nUUID=${uuid} ${mountDir} ext4 defaults,nofail,noatime,x-systemd.device-timeout=60s 0 2\n`,
      );
      expect(spawnSync("mountpoint", ["-q", mountDir]).status).toBe(0);
      writeFileSync(join(mountDir, "kept"), "data");
      execFileSync("umount", [mountDir]);

      const second = prepare(device, mountDir, fstab);
      expect(second.status).toBe(0);
      expect(second.stderr).not.toContain("formatting");
      expect(uuidOf(device)).toBe(uuid);
      expect(readFileSync(join(mountDir, "kept"), "utf8")).toBe("data");
      expect(readFileSync(fstab, "utf8").match(new RegExp(mountDir, "g"))).toHaveLength(1);
    } finally {
      spawnSync("umount", [mountDir]);
      spawnSync("losetup", ["--detach", device]);
    }
  });

  it("refuses a disk that holds something other than a filesystem, and leaves it untouched", () => {
    const work = tempDir("data-disk-");
    const image = join(work, "disk.img");
    execFileSync("truncate", ["-s", "64M", image]);
    execFileSync("sfdisk", ["--quiet", image], { input: "label: gpt\n,\n" });
    const before = readFileSync(image);
    const result = prepare(image, join(work, "influxdb"), join(work, "fstab"));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("holds 'a partition table', not an ext4 or xfs filesystem; not touching it");
    expect(readFileSync(image).equals(before)).toBe(true);
  });
});
