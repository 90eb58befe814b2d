// influxdb/bootstrap-replicas.sh (a VM's setup and the Kubernetes Job run it) against real InfluxDBs with
// authentication on: the admin user and the databases are created once, a second run keeps them, and a
// wrong password or an unreachable replica fails with a message that says so.
import { execFile } from "node:child_process";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminStatement, createDatabasesStatement } from "../../influxdb/influxql.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { freePort } from "../helpers/ports.js";
import { tempDir } from "../helpers/temp.js";

const SCRIPT = new URL("../../influxdb/bootstrap-replicas.sh", import.meta.url).pathname;
const ADMIN = "admin";
// Quotes and a backslash: the statement file must carry them through InfluxQL's quoting.
const PASSWORD = `it's a "long" pass\\word`;

interface Run {
  readonly status: number;
  readonly stderr: string;
}

function writeInputs(password: string): Record<string, string> {
  const dir = tempDir();
  const file = (name: string, content: string): string => {
    writeFileSync(join(dir, name), content, { mode: 0o600 });
    return join(dir, name);
  };
  return {
    INFLUX_ADMIN_USER: ADMIN,
    INFLUX_ADMIN_PASSWORD_FILE: file("password", password),
    CREATE_ADMIN_FILE: file("create-admin.influxql", createAdminStatement(ADMIN, password)),
    CREATE_DATABASES_FILE: file("create-databases.influxql", createDatabasesStatement(["telegraf", "app db"])),
  };
}

function bootstrap(urls: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile("bash", [SCRIPT, ...urls], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stderr });
    });
  });
}

async function showAs(server: Influxd, password: string, statement: string): Promise<{ status: number; body: any }> {
  const query = new URLSearchParams({ q: statement, u: ADMIN, p: password });
  const response = await fetch(`${server.url}/query?${query}`);
  return { status: response.status, body: await response.json() };
}

describe("bootstrap-replicas.sh against real InfluxDBs with authentication on", () => {
  let servers: Influxd[] = [];
  beforeAll(async () => {
    servers = await Promise.all([startInfluxd({ authEnabled: true }), startInfluxd({ authEnabled: true })]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("creates the admin user and the databases on every replica, and a second run keeps them", async () => {
    const env = writeInputs(PASSWORD);
    const urls = servers.map((s) => s.url);
    const first = await bootstrap(urls, env);
    expect(first).toEqual({ status: 0, stderr: expect.any(String) });
    if (first.status !== 0) throw new Error(first.stderr);
    expect(first.stderr.match(/created the admin user admin/g)).toHaveLength(2);

    for (const server of servers) {
      const databases = await showAs(server, PASSWORD, "SHOW DATABASES");
      expect(databases.status).toBe(200);
      expect(databases.body.results[0].series[0].values.flat()).toEqual(expect.arrayContaining(["telegraf", "app db"]));
      const users = await showAs(server, PASSWORD, "SHOW USERS");
      expect(users.body.results[0].series[0].values).toEqual([[ADMIN, true]]);
    }

    const second = await bootstrap(urls, env);
    expect(second).toMatchObject({ status: 0 });
    expect(second.stderr.match(/already has users, keeping them/g)).toHaveLength(2);
  });

  it("fails, naming the replica, when the password is not the one the replica's data has", async () => {
    const run = await bootstrap([servers[0]!.url], writeInputs("another password entirely"));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${servers[0]!.url}: creating the databases as admin answered 401`);
    expect(run.stderr).toContain("is influxAdminPassword the password this replica's data has?");
  });

  it("gives up on a replica that does not answer /ping, after PING_ATTEMPTS tries", async () => {
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const run = await bootstrap([unreachable], { ...writeInputs(PASSWORD), PING_ATTEMPTS: "2" });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${unreachable} did not answer /ping after 2 tries`);
  });

  it("passes shellcheck", () => {
    const result = spawnSync("shellcheck", [SCRIPT], { encoding: "utf8" });
    expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
  });
});
