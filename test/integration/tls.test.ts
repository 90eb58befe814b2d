// HTTPS on both sides: ssl-combined-pem serves the relay over TLS, skip-tls-verification governs outputs.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../relay/config.js";
import { startRelay, type RunningRelay } from "../../relay/relay.js";
import { captureLog } from "../helpers/capture-log.js";
import { freePort } from "../helpers/ports.js";
import { tempDir } from "../helpers/temp.js";
import { selfSignedPem } from "../helpers/tls.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

async function httpsBackend(pem: string): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const combined = readFileSync(pem);
  const server: Server = createServer({ key: combined, cert: combined }, (req, res) => {
    req.resume().on("end", () => {
      if (req.method === "POST") hits++; // not the relay's GET /ping probes
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  const { port } = server.address() as { port: number };
  return { url: `https://127.0.0.1:${port}/write`, hits: () => hits };
}

async function relayWith(listener: string, output: string): Promise<{ relay: RunningRelay; port: number }> {
  const port = await freePort();
  const config = parseConfig(
    `[[http]]\nbind-addr = "127.0.0.1:${port}"\nspool-dir = "${tempDir()}"\n${listener}\noutput = [${output}]`,
    "tls.toml",
  );
  const relay = await startRelay(config, captureLog().logger);
  cleanup.unshift(() => relay.close());
  return { relay, port };
}

describe("TLS", () => {
  it("serves HTTPS with ssl-combined-pem", async () => {
    const { file, cert } = selfSignedPem();
    const backend = await httpsBackend(file);
    const { port, relay } = await relayWith(
      `ssl-combined-pem = "${file}"`,
      `{ name = "tls", location = "${backend.url}", skip-tls-verification = true }`,
    );
    expect(relay.addresses).toEqual([`http http-0 https://127.0.0.1:${port}`]);
    const dispatcher = new Agent({ connect: { ca: cert } });
    cleanup.push(() => dispatcher.close());
    const res = await request(`https://127.0.0.1:${port}/write?db=d`, { method: "POST", body: "cpu v=1 1", dispatcher });
    await res.body.dump();
    expect(res.statusCode).toBe(204);
    expect(backend.hits()).toBe(1);
  });

  it("verifies an output's certificate unless skip-tls-verification is set", async () => {
    const { file } = selfSignedPem();
    const backend = await httpsBackend(file);
    const { port } = await relayWith("", `{ name = "strict", location = "${backend.url}" }`);
    const res = await request(`http://127.0.0.1:${port}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
    expect(res.statusCode).toBe(503);
    expect(((await res.body.json()) as { error: string }).error).toMatch(
      /^no backend took the write, and nothing was kept: strict: self[- ]signed certificate/,
    );
    expect(backend.hits()).toBe(0);
  });
});
