// The relay in front of two real influxd (Debian's influxdb): HTTP and UDP writes land on both replicas, identically.
import { createSocket } from "node:dgram";
import { gzipSync } from "node:zlib";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../relay/config.js";
import { startRelay, type RunningRelay } from "../../relay/relay.js";
import { captureLog } from "../helpers/capture-log.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { freePort, freeUdpPort, waitFor } from "../helpers/ports.js";
import { tempDir } from "../helpers/temp.js";

const DB = "relaytest";
const UDP_DB = "udptest";

let replicas: Influxd[] = [];
let relay: RunningRelay;
let httpPort: number;
let udpPort: number;

beforeAll(async () => {
  replicas = await Promise.all([startInfluxd({ udpDatabase: UDP_DB }), startInfluxd({ udpDatabase: UDP_DB })]);
  await Promise.all(replicas.map((r) => r.createDatabase(DB)));
  httpPort = await freePort();
  udpPort = await freeUdpPort();
  const config = parseConfig(
    `[[http]]
bind-addr = "127.0.0.1:${httpPort}"
spool-dir = "${tempDir()}"
output = [${replicas.map((r, i) => `{ name = "influx${i}", location = "${r.writeUrl}", timeout = "10s" }`).join(", ")}]
[[udp]]
bind-addr = "127.0.0.1:${udpPort}"
precision = "n"
output = [${replicas.map((r, i) => `{ name = "influx${i}", location = "127.0.0.1:${r.udpPort}", mtu = 512 }`).join(", ")}]
`,
    "influxd-test.toml",
  );
  relay = await startRelay(config, captureLog().logger);
});

afterAll(async () => {
  await relay?.close();
  await Promise.all(replicas.map((r) => r.stop()));
});

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${httpPort}${path}`, { method: "POST", body, headers });
  return { status: res.statusCode, text: await res.body.text() };
}

async function pointsOnEveryReplica(db: string, measurement: string, count: number) {
  const all = () => Promise.all(replicas.map((r) => r.points(db, measurement)));
  await waitFor(async () => (await all()).every((points) => points.length === count), {
    timeoutMs: 10_000,
    what: `${count} ${measurement} points on both replicas`,
  });
  return all();
}

describe("relay in front of two real influxd", () => {
  it("writes every point to both replicas, and lines without a timestamp get the same one on both", async () => {
    const lines = [
      "cpu,host=a usage=1.5,count=3i 1700000000000000000",
      "cpu,host=b usage=2.5,count=4i 1700000000000000001",
      "cpu,host=c usage=3.5,count=5i",
      'cpu,host=d usage=4.5,count=6i,note="no time"',
    ];
    const res = await post(`/write?db=${DB}`, lines.join("\n"));
    expect(res).toEqual({ status: 204, text: "" });
    const [first, second] = await pointsOnEveryReplica(DB, "cpu", 4);
    expect(first).toEqual(second);
    const byHost = Object.fromEntries(first!.map((p) => [p.host, p]));
    expect(byHost.a).toMatchObject({ time: "1700000000000000000", usage: 1.5, count: 3 });
    expect(byHost.b).toMatchObject({ time: "1700000000000000001" });
    // Both unstamped lines got the relay's receive time, one per request, recent.
    expect(byHost.c!.time).toBe(byHost.d!.time);
    const ageMs = Date.now() - Number(BigInt(byHost.c!.time as string) / 1_000_000n);
    expect(ageMs).toBeGreaterThanOrEqual(0);
    expect(ageMs).toBeLessThan(60_000);
  });

  it("accepts gzip, honours precision, and passes InfluxDB's own 4xx back", async () => {
    expect(
      (await post(`/write?db=${DB}&precision=s`, gzipSync("mem,host=a free=1i 1700000000\n"), { "content-encoding": "gzip" })).status,
    ).toBe(204);
    const [first, second] = await pointsOnEveryReplica(DB, "mem", 1);
    expect(first).toEqual(second);
    expect(first![0]).toMatchObject({ time: "1700000000000000000", free: 1 });

    const conflict = await post(`/write?db=${DB}`, 'mem,host=a free="text" 1700000000000000000');
    expect(conflict.status).toBe(400);
    expect(JSON.parse(conflict.text).error).toMatch(/field type conflict/);

    const missing = await post("/write?db=nosuchdb", "mem free=1i 1");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text)).toEqual({ error: 'database not found: "nosuchdb"' });
  });

  it("rejects bad line protocol itself, and writes nothing to either replica", async () => {
    const res = await post(`/write?db=${DB}`, "disk,host=a used=1i 1\ndisk,host=b used=\n");
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toBe("unable to parse line 2 'disk,host=b used=': missing field value; nothing was written");
    for (const replica of replicas) expect(await replica.points(DB, "disk")).toEqual([]);
  });

  it("relays UDP lines to both replicas' UDP listeners, stamped identically", async () => {
    const client = createSocket("udp4");
    const lines = Array.from({ length: 40 }, (_, i) => `udp_m,id=${i} v=${i}i${i % 2 === 0 ? ` ${1700000000000000000 + i}` : ""}`);
    await new Promise<void>((resolve, reject) =>
      client.send(lines.join("\n"), udpPort, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
    );
    client.close();
    const [first, second] = await pointsOnEveryReplica(UDP_DB, "udp_m", 40);
    const byId = (points: Array<Record<string, unknown>>) => Object.fromEntries(points.map((p) => [p.id, p]));
    expect(byId(first!)).toEqual(byId(second!));
    expect(relay.udp[0]!.counters).toMatchObject({ points: 40, invalidLines: 0 });
  });
});
