// The relay's process entry: flags, config errors as an operator sees them, and a graceful stop.
import { afterEach, describe, expect, it } from "vitest";
import { request } from "undici";
import { freePort, freeUdpPort, waitFor } from "../helpers/ports.js";
import { exitOf, spawnRelay, startRelayProcess, writeConfig, type RelayProcess } from "../helpers/relay-process.js";
import { startScriptedBackend, type ScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

async function run(args: string[]): Promise<{ code: number | string; output: string }> {
  const relay = spawnRelay(args);
  const code = await exitOf(relay);
  return { code, output: relay.output() };
}

describe("influx-relay command line", () => {
  it("fails a bad config with one message naming the file, the key and the problem, and no stack trace", async () => {
    const file = writeConfig(`[[http]]\nbind-addr = "127.0.0.1:9096"\noutput = [{ name = "a", location = "http//nowhere" }]\n`);
    const { code, output } = await run(["-config", file]);
    expect(code).toBe(1);
    expect(output).toBe(
      `influx-relay: ${file}: invalid configuration:\n  - http[0].output[0].location: "http//nowhere" is not a URL: expected e.g. "http://10.0.0.1:8086/write"\n`,
    );
  });

  it("names the file when it cannot be read", async () => {
    const { code, output } = await run(["--config", "/nonexistent/relay.toml"]);
    expect(code).toBe(1);
    expect(output).toMatch(/^influx-relay: \/nonexistent\/relay\.toml: invalid configuration:\n {2}- cannot read the file: ENOENT/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it("reports an address already in use as a start error naming the key", async () => {
    const backend = await startScriptedBackend();
    cleanup.push(() => backend.close());
    const file = writeConfig(
      `[[http]]\nbind-addr = "127.0.0.1:${backend.port}"\nspool-dir = "${tempDir()}"\noutput = [{ name = "a", location = "${backend.writeUrl}" }]\n`,
    );
    const { code, output } = await run([`--config=${file}`]);
    expect(code).toBe(1);
    expect(output).toContain(
      `influx-relay: ${file}: http[0].bind-addr: cannot listen on 127.0.0.1:${backend.port}: the address is already in use`,
    );
  });

  it("needs -config, and explains its usage", async () => {
    const { code, output } = await run([]);
    expect(code).toBe(2);
    expect(output).toMatch(/^influx-relay: -config is required\n\nUsage: influx-relay -config FILE/);
  });
});

describe("graceful shutdown", () => {
  let backend: ScriptedBackend;
  let relay: RelayProcess;
  let port: number;

  async function start(): Promise<void> {
    backend = await startScriptedBackend({ status: 204, delayMs: 1_500 });
    cleanup.push(() => backend.close());
    port = await freePort();
    const udpPort = await freeUdpPort();
    const file = writeConfig(
      `shutdown-timeout = "10s"
[[http]]
bind-addr = "127.0.0.1:${port}"
spool-dir = "${tempDir()}"
output = [{ name = "slow", location = "${backend.writeUrl}" }]
[[udp]]
bind-addr = "127.0.0.1:${udpPort}"
output = [{ name = "u", location = "127.0.0.1:${udpPort + 1}" }]
`,
    );
    relay = await startRelayProcess(file, port);
    cleanup.push(async () => relay.child.kill("SIGKILL"));
  }

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`on ${signal}: stops accepting, finishes the write in flight, exits 0`, async () => {
      await start();
      const inFlight = request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
      await waitFor(async () => backend.requests.length === 1, { timeoutMs: 5_000, what: "the write to reach the backend" });
      relay.child.kill(signal);
      const response = await inFlight;
      await response.body.dump();
      expect(response.statusCode).toBe(204);
      expect(await exitOf(relay)).toBe(0);
      await expect(request(`http://127.0.0.1:${port}/ping`)).rejects.toThrow(/ECONNREFUSED/);
      expect(relay.output()).toContain("stopping: no new requests; finishing those in flight");
    });
  }
});
