// What the alerting rules in observability/prometheus/ need from /metrics beyond the running totals: each
// output's queue bounds (buffer-size-mb, max-queue-age) as gauges beside the queue's bytes and age, so a rule
// divides one by the other without knowing relay.toml; and the stale-read counters there at 0 from the first
// scrape, so increase() counts the first stale read.
import type { FastifyInstance } from "fastify";
import { afterEach, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { captureLog } from "../helpers/capture-log.js";
import { startScriptedBackend, type ScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function backend(): Promise<ScriptedBackend> {
  const started = await startScriptedBackend();
  cleanup.push(() => started.close());
  return started;
}

/** A relay over two backends: "bounded" with its own queue bounds, "defaults" with the relay's. */
async function relay(): Promise<FastifyInstance> {
  const [bounded, defaults] = [await backend(), await backend()];
  const config = parseConfig(
    [
      "[[http]]",
      'bind-addr = "127.0.0.1:9096"',
      `spool-dir = "${tempDir()}"`,
      "output = [",
      `  { name = "bounded", location = "${bounded.writeUrl}", buffer-size-mb = 5, max-queue-age = "90m" },`,
      `  { name = "defaults", location = "${defaults.writeUrl}" },`,
      "]",
    ].join("\n"),
    "metrics-for-alerts.toml",
  );
  const app = await buildApp({ listener: config.http[0]!, logger: captureLog().logger });
  cleanup.push(() => app.close());
  return app;
}

it("exports every output's buffer-size-mb in bytes and max-queue-age in seconds, the defaults included", async () => {
  const metrics = (await (await relay()).inject("/metrics")).body;
  for (const line of [
    "# TYPE influx_relay_queue_limit_bytes gauge",
    `influx_relay_queue_limit_bytes{output="bounded",listener="http-0"} ${5 * 1024 * 1024}`,
    `influx_relay_queue_limit_bytes{output="defaults",listener="http-0"} ${1024 * 1024 * 1024}`,
    "# TYPE influx_relay_queue_max_age_seconds gauge",
    `influx_relay_queue_max_age_seconds{output="bounded",listener="http-0"} ${90 * 60}`,
    `influx_relay_queue_max_age_seconds{output="defaults",listener="http-0"} ${24 * 3600}`,
  ]) {
    expect(metrics).toContain(`${line}\n`);
  }
});

it("shows every output's read counters, stale and not, at 0 before any read, and counts reads on top", async () => {
  const app = await relay();
  const before = (await app.inject("/metrics")).body;
  for (const output of ["bounded", "defaults"]) {
    for (const stale of ["true", "false"]) {
      expect(before).toContain(`influx_relay_reads_total{output="${output}",stale="${stale}",listener="http-0"} 0\n`);
    }
  }
  // The scripted backends answer 204: the relay passes on what the replica it chose answered.
  expect((await app.inject("/query?q=SHOW%20DATABASES")).statusCode).toBe(204);
  const after = (await app.inject("/metrics")).body;
  const reads = [...after.matchAll(/^influx_relay_reads_total\{output="(\w+)",stale="(\w+)",listener="http-0"\} (\d+)$/gm)].map(
    ([, output, stale, n]) => `${output} ${stale} ${n}`,
  );
  // One read, not stale, to one of the two outputs; the other three series stay at 0.
  expect(reads.sort()).toEqual(
    reads.includes("bounded false 1")
      ? ["bounded false 1", "bounded true 0", "defaults false 0", "defaults true 0"]
      : ["bounded false 0", "bounded true 0", "defaults false 1", "defaults true 0"],
  );
});
