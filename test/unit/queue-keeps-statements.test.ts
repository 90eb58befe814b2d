// A queued statement is never dropped for the queue's bounds (relay/durable-output.ts enqueue): a lost
// DELETE or DROP would leave points that influx-ha repair copies back onto every replica, and a lost
// CREATE DATABASE fails every later write. Writes past buffer-size-mb or max-queue-age are still dropped and
// mark the output out of sync; a statement past them is queued, marks nothing, and replays in its place.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/ports.js";
import { useRelayApps, type RelayApp } from "../helpers/relay-app.js";
import type { RecordedRequest, Reply, ScriptedBackend } from "../helpers/scripted-backend.js";

/** Answers like InfluxDB: a statement with its (empty) results, a write with 204. */
const influxLike = (req: RecordedRequest): Reply =>
  req.path === "/query" ? { status: 200, body: '{"results":[{"statement_id":0}]}' } : { status: 204 };
const DOWN: Reply = { status: 503, body: "down" };

const relays = useRelayApps({ adminToken: false, maxDelayInterval: "300ms" });

/** A relay over two backends answering like InfluxDB, out1 and out2; `out2` adds keys (the bounds) to the second output only. */
async function relayOver(out2: string): Promise<RelayApp & { a: ScriptedBackend; b: ScriptedBackend }> {
  const [a, b] = await relays.backends(2, () => influxLike);
  return { ...(await relays.relayOver([a!, b!], { output: { out2 } })), a: a!, b: b! };
}

const write = (app: FastifyInstance, body: string) => app.inject({ method: "POST", url: "/write?db=d", payload: body });
const statement = (app: FastifyInstance, q: string) =>
  app.inject({
    method: "POST",
    url: "/query?db=d",
    payload: new URLSearchParams({ q }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
const out2Status = async (app: FastifyInstance) =>
  (await app.inject("/status")).json().outputs.find((o: { name: string }) => o.name === "out2");

/** Brings the backend back and waits for out2's queue to drain; returns what reached the backend meanwhile. */
async function replayOnceBack(app: FastifyInstance, backend: ScriptedBackend): Promise<string[]> {
  const before = backend.requests.length;
  backend.reply = influxLike;
  await waitFor(async () => (await out2Status(app)).queue.entries === 0, { timeoutMs: 15_000, what: "out2's queue to drain" });
  return backend.requests.slice(before).flatMap(describeDelivery);
}

/** A statement as its text; a write (replay may merge several) as "write N" for each value v=N in it, in order. */
function describeDelivery(req: RecordedRequest): string[] {
  if (req.path === "/query") return [new URLSearchParams(req.body.toString()).get("q") ?? ""];
  const values = [...req.body.toString().matchAll(/ v=(\d+) /g)].map((match) => `write ${match[1]}`);
  return values.filter((value, i) => value !== values[i - 1]);
}

/** A write of exactly `bytes` bytes, in lines of about 1,000 (a series key may not pass 64 KiB), all with v=N. */
function bodyOfBytes(n: number, bytes: number): string {
  const line = (length: number) => `cpu,pad=${"p".repeat(length - `cpu,pad= v=${n} ${n}`.length)} v=${n} ${n}`;
  const lines: string[] = [];
  let left = bytes;
  for (; left > 2_001; left -= 1_001) lines.push(line(1_000));
  lines.push(line(left));
  return lines.join("\n");
}

describe("statements past buffer-size-mb", () => {
  it("are queued after the writes dropped for a full queue, and replayed in order after the writes queued before them", async () => {
    const { app, log, b } = await relayOver("buffer-size-mb = 1");
    b.reply = DOWN;
    const first = bodyOfBytes(1, 300_000);
    expect((await write(app, first)).statusCode).toBe(204);
    const { bytes: firstFrame, limitBytes } = (await out2Status(app)).queue;
    // The second write fills the queue to the byte, so not even the smallest entry fits after it.
    const frameOverhead = firstFrame - first.length;
    expect((await write(app, bodyOfBytes(2, limitBytes - firstFrame - frameOverhead))).statusCode).toBe(204);
    expect((await out2Status(app)).queue).toMatchObject({ entries: 2, bytes: limitBytes });
    expect((await write(app, "cpu v=3 3")).statusCode).toBe(204);
    const full = await out2Status(app);
    expect(full.outOfSync.reason).toBe("its queue is full (buffer-size-mb = 1)");
    expect(full.totals.dropped.writes).toBe(1);

    expect((await statement(app, "DROP MEASUREMENT cpu")).statusCode).toBe(200);
    expect((await statement(app, "CREATE DATABASE x")).statusCode).toBe(200);
    expect((await write(app, "cpu v=4 4")).statusCode).toBe(204); // the bound for writes is as it was
    const after = await out2Status(app);
    expect(after.queue.entries).toBe(4);
    expect(after.totals.dropped.writes).toBe(2);
    expect(after.totals.queued.writes).toBe(4);
    expect(after.outOfSync.since).toBe(full.outOfSync.since);
    expect(log.lines.filter((l) => l.level === 50 && /IS OUT OF SYNC/.test(l.msg))).toHaveLength(1);

    expect(await replayOnceBack(app, b)).toEqual(["write 1", "write 2", "DROP MEASUREMENT cpu", "CREATE DATABASE x"]);
  });

  it("do not mark the output out of sync on their own, even with buffer-size-mb = 0; a write still does", async () => {
    const { app, log, spoolDir, b } = await relayOver("buffer-size-mb = 0");
    b.reply = DOWN;
    expect((await statement(app, "CREATE DATABASE x")).statusCode).toBe(200);
    expect((await statement(app, "DELETE FROM cpu WHERE time < 5")).statusCode).toBe(200);
    const kept = await out2Status(app);
    expect(kept.outOfSync).toBeUndefined();
    expect(kept.queue.entries).toBe(2);
    expect(kept.queue.bytes).toBeGreaterThan(kept.queue.limitBytes);
    expect(kept.totals.dropped.writes).toBe(0);
    expect((await app.inject("/health")).json().outputs[1].outOfSync).toBe(false);
    expect(existsSync(join(spoolDir, "out2", "OUT-OF-SYNC"))).toBe(false);
    expect(log.lines.filter((l) => l.level >= 50)).toEqual([]);

    expect((await write(app, "cpu v=1 1")).statusCode).toBe(204);
    const marked = await out2Status(app);
    expect(marked.outOfSync.reason).toBe("its queue is full (buffer-size-mb = 0)");
    expect(marked.totals.dropped.writes).toBe(1);

    expect(await replayOnceBack(app, b)).toEqual(["CREATE DATABASE x", "DELETE FROM cpu WHERE time < 5"]);
  });
});

describe("statements past max-queue-age", () => {
  it("are queued behind an entry older than max-queue-age without marking the output, and replayed however old", async () => {
    const { app, b } = await relayOver('max-queue-age = "300ms"');
    b.reply = DOWN;
    expect((await statement(app, "CREATE DATABASE x")).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await statement(app, "DROP MEASUREMENT cpu")).statusCode).toBe(200);
    const kept = await out2Status(app);
    expect(kept.outOfSync).toBeUndefined();
    expect(kept.queue.entries).toBe(2);

    expect((await write(app, "cpu v=1 1")).statusCode).toBe(204);
    const marked = await out2Status(app);
    expect(marked.outOfSync.reason).toBe("its oldest queued write is older than max-queue-age (0.3s)");
    expect(marked.queue.entries).toBe(2);

    expect(await replayOnceBack(app, b)).toEqual(["CREATE DATABASE x", "DROP MEASUREMENT cpu"]);
  });
});
