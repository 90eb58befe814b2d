// drift-check-interval: a relay in front of two real influxd compares their recent points on its timer and
// shows on /metrics and /status which output lacks how many, and that the gap is gone once it is filled.
// Points older than drift-check-window are not its business.
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { waitFor } from "../helpers/ports.js";
import { startRelayOverInfluxd, type RelayOverInfluxd } from "../helpers/relay-over-influxd.js";

let replicas: Influxd[] = [];
let relay: RelayOverInfluxd;

beforeAll(async () => {
  replicas = await Promise.all([startInfluxd(), startInfluxd()]);
  for (const r of replicas) await r.createDatabase("watched");
  relay = await startRelayOverInfluxd(replicas, ['drift-check-interval = "1s"', 'drift-check-window = "1h"']);
});
afterAll(async () => {
  await relay?.relay.close();
  await Promise.all(replicas.map((r) => r.stop()));
});

async function writeDirect(replica: Influxd, body: string): Promise<void> {
  const res = await request(`${replica.writeUrl}?db=watched&precision=ns`, { method: "POST", body });
  if (res.statusCode !== 204) throw new Error(`${res.statusCode} ${await res.body.text()}`);
  await res.body.dump();
}

/** The drift gauges for each output, read from /metrics. */
async function driftMetrics(): Promise<Record<string, { buckets: number; missing: number }>> {
  const text = await (await request(`${relay.url}/metrics`)).body.text();
  const found: Record<string, { buckets: number; missing: number }> = {};
  for (const [, name, output, value] of text.matchAll(
    /^influx_relay_drift_(buckets|missing_points)\{[^}]*output="([^"]+)"[^}]*\} (\d+)$/gm,
  )) {
    const entry = (found[output!] ??= { buckets: 0, missing: 0 });
    if (name === "buckets") entry.buckets = Number(value);
    else entry.missing = Number(value);
  }
  return found;
}

describe("the relay's drift check", () => {
  it("finds the points one replica lacks in the window, and sees the gap closed", async () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const recent = Array.from({ length: 10 }, (_, i) => `cpu,host=h${i % 2} v=${i} ${now - BigInt(10 + i) * 1_000_000_000n}`).join("\n");
    // Two hours back, outside the window: never counted.
    await writeDirect(replicas[0]!, `old v=1 ${now - 7_200_000_000_000n}`);
    await writeDirect(replicas[0]!, recent);
    await waitFor(async () => (await driftMetrics()).influx1?.missing === 10, {
      timeoutMs: 15_000,
      what: "the drift check to see influx1 lack 10 points",
    });
    const lacking = await driftMetrics();
    expect(lacking.influx0).toEqual({ buckets: 0, missing: 0 });
    expect(lacking.influx1!.buckets).toBeGreaterThanOrEqual(1);
    const status = (await (await request(`${relay.url}/status`)).body.json()) as {
      driftCheck: { outputs: Record<string, unknown>; lastCheckAt: string };
    };
    expect(status.driftCheck.outputs.influx1).toEqual({ buckets: lacking.influx1!.buckets, missingPoints: 10 });

    await writeDirect(replicas[1]!, recent);
    await waitFor(async () => (await driftMetrics()).influx1?.missing === 0, {
      timeoutMs: 15_000,
      what: "the drift check to see the gap closed",
    });
    expect(await driftMetrics()).toEqual({ influx0: { buckets: 0, missing: 0 }, influx1: { buckets: 0, missing: 0 } });
    const metrics = await (await request(`${relay.url}/metrics`)).body.text();
    expect(metrics).toMatch(/^influx_relay_drift_checks_total\{[^}]*result="ok"[^}]*\} [1-9]\d*$/m);
  });
});
