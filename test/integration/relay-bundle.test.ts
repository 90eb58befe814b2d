// The relay bundle the VMs download and relay/Dockerfile copies into the image: built here and run by
// plain node, with no node_modules beside it, writing to two real InfluxDBs. (No Docker engine runs here,
// so the image itself is not built; the Dockerfile is checked for what the pods rely on.)
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRelayBundle, RELAY_BUNDLE_FILE, type RelayBundle } from "../../infra/relay-bundle.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { freePort } from "../helpers/ports.js";
import { exitOf, startRelayProcess, writeConfig, type RelayProcess } from "../helpers/relay-process.js";
import { tempDir } from "../helpers/temp.js";

let bundle: RelayBundle;
let replicas: Influxd[] = [];
let relay: RelayProcess | undefined;

beforeAll(async () => {
  bundle = buildRelayBundle(tempDir("bundle-"));
  replicas = await Promise.all([startInfluxd(), startInfluxd()]);
  for (const r of replicas) await r.createDatabase("telegraf");
});

afterAll(async () => {
  relay?.child.kill("SIGKILL");
  await Promise.all(replicas.map((r) => r.stop()));
});

describe("the relay bundle", () => {
  it("is what relay/Dockerfile copies and runs, on Node 22 as a non-root user, with the pods' -config flag", () => {
    const dockerfile = readFileSync(new URL("../../relay/Dockerfile", import.meta.url), "utf8");
    const instructions = dockerfile.split("\n").filter((line) => /^[A-Z]+ /.test(line));
    expect(instructions).toEqual([
      "FROM gcr.io/distroless/nodejs22-debian12:nonroot",
      `COPY ${RELAY_BUNDLE_FILE} /app/${RELAY_BUNDLE_FILE}`,
      "USER nonroot",
      "EXPOSE 9096",
      `ENTRYPOINT ["/nodejs/bin/node", "/app/${RELAY_BUNDLE_FILE}"]`,
      'CMD ["-config", "/etc/influx-relay/relay.toml"]',
    ]);
  });

  it("is one file, named by a SHA-256 of its bytes, and the same bytes on every build", () => {
    expect(bundle.path.endsWith(RELAY_BUNDLE_FILE)).toBe(true);
    expect(execFileSync("sha256sum", [bundle.path], { encoding: "utf8" }).split(" ")[0]).toBe(bundle.sha256);
    expect(buildRelayBundle(tempDir("bundle-")).sha256).toBe(bundle.sha256);
    expect(bundle.version).toBe(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version);
  });

  it("runs alone from an empty directory: reports its version and relays a write to every replica", async () => {
    const alone = join(tempDir("bundle-alone-"), RELAY_BUNDLE_FILE);
    copyFileSync(bundle.path, alone);
    expect(execFileSync(process.execPath, [alone, "-version"], { encoding: "utf8" })).toBe(`influx-relay ${bundle.version}\n`);

    const port = await freePort();
    const config = writeConfig(`[[http]]
name = "http"
bind-addr = "127.0.0.1:${port}"
spool-dir = "${tempDir("bundle-spool-")}"
output = [
  { name = "a", location = "${replicas[0]!.writeUrl}" },
  { name = "b", location = "${replicas[1]!.writeUrl}" },
]
`);
    relay = await startRelayProcess(config, port, [alone]);
    const res = await request(`http://127.0.0.1:${port}/write?db=telegraf`, {
      method: "POST",
      body: "bundle,from=test value=42 1700000000000000000",
    });
    await res.body.dump();
    expect(res.statusCode).toBe(204);
    for (const replica of replicas) {
      expect(await replica.points("telegraf", "bundle")).toEqual([{ time: "1700000000000000000", from: "test", value: 42 }]);
    }
    relay.child.kill("SIGTERM");
    expect(await exitOf(relay)).toBe(0);
  });
});
