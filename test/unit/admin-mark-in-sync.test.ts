// POST /admin/mark-in-sync through buildApp, which influx-ha repair calls once it has copied what a replica
// lacked: it clears the out-of-sync marking but keeps the queue, and refuses while the output dropped a write
// after the repair began (known from lastDropAt, kept in the OUT-OF-SYNC file across restarts). Also the mark
// a new output gets when it joins a spool-dir that already queues for other outputs.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/ports.js";
import { ADMIN_TOKEN, useRelayApps } from "../helpers/relay-app.js";
import { tempDir } from "../helpers/temp.js";

const { relayOver, backends } = useRelayApps();

const write = (app: FastifyInstance, body: string) => app.inject({ method: "POST", url: "/write?db=d", payload: body });
const markInSync = (app: FastifyInstance, query: string, token: string | null = ADMIN_TOKEN) =>
  app.inject({
    method: "POST",
    url: `/admin/mark-in-sync${query}`,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
const statusOf = async (app: FastifyInstance, output: string) =>
  (await app.inject("/status")).json().outputs.find((o: { name: string }) => o.name === output);
const markerIn = (spoolDir: string, output: string) => join(spoolDir, output, "OUT-OF-SYNC");
const readMarker = (spoolDir: string, output: string) => JSON.parse(readFileSync(markerIn(spoolDir, output), "utf8"));
const iso = (ms: number) => new Date(ms).toISOString();

describe("POST /admin/mark-in-sync: guard and arguments", () => {
  it("answers 401, 400 and 404 as /admin/flush does, and 400 for a missing or unreadable before", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const unauthorised = await markInSync(app, "?output=out2&before=2025-03-10T00:00:00Z", null);
    expect(unauthorised.statusCode).toBe(401);
    expect(unauthorised.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(unauthorised.json().error).toBe("/admin/mark-in-sync needs the header Authorization: Bearer <admin-token>");
    expect((await markInSync(app, "?output=out2&before=2025-03-10T00:00:00Z", "wrong-token-0123456789")).statusCode).toBe(401);
    const unnamed = await markInSync(app, "?before=2025-03-10T00:00:00Z");
    expect(unnamed.statusCode).toBe(400);
    expect(unnamed.json().error).toBe("name the output to mark in sync: ?output=NAME, one of out1, out2");
    const unknown = await markInSync(app, "?output=nope&before=2025-03-10T00:00:00Z");
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('no output named "nope" on this listener: its outputs are out1, out2');
    for (const before of ["", "&before=", "&before=yesterday", "&before=2025-03-10T00:00:00", "&before=2025-13-01T00:00:00Z"]) {
      const res = await markInSync(app, `?output=out2${before}`);
      expect(res.statusCode, before).toBe(400);
      expect(res.json().error).toMatch(/^give the moment the repair's comparison began: \?before=TIME/);
    }
    expect((await app.inject({ method: "GET", url: "/admin/mark-in-sync?output=out2" })).statusCode).toBe(405);
  });

  it("is off (403) without an admin-token", async () => {
    const [a] = await backends(1);
    const { app } = await relayOver([a!], { adminToken: false });
    const res = await markInSync(app, "?output=out1&before=2025-03-10T00:00:00Z");
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe("/admin/mark-in-sync is off: set admin-token in this [[http]] block to use it");
  });
});

describe("POST /admin/mark-in-sync: clearing", () => {
  it("clears the marking and keeps the queue, whose writes still reach the replica", async () => {
    const [a, b] = await backends(2);
    const { app, log, spoolDir } = await relayOver([a!, b!], { output: { out2: 'max-queue-age = "300ms"' } });
    b!.reply = { status: 500 };
    await write(app, "cpu v=1 1"); // queued for out2
    await new Promise((resolve) => setTimeout(resolve, 400));
    await write(app, "cpu v=2 2"); // dropped: the queue's oldest write is past max-queue-age
    const marked = await statusOf(app, "out2");
    expect(marked.outOfSync).toMatchObject({ reason: "its oldest queued write is older than max-queue-age (0.3s)" });
    expect(marked.outOfSync.lastDropAt).toBe(marked.outOfSync.since);
    expect(log.lines.find((l) => l.level === 50)?.msg).toMatch(
      /Run influx-ha repair: .* POST \/admin\/mark-in-sync and keeps the queue\. POST \/admin\/flush clears it too, but drops the queue\.$/,
    );

    const res = await markInSync(app, `?output=out2&before=${iso(Date.now() + 1)}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ output: "out2", cleared: true, queue: { entries: 1, bytes: marked.queue.bytes } });
    const cleared = await statusOf(app, "out2");
    expect(cleared.outOfSync).toBeUndefined();
    expect(cleared.queue.entries).toBe(1);
    expect(existsSync(markerIn(spoolDir, "out2"))).toBe(false);
    expect(log.lines.filter((l) => l.level === 40 && l.msg === "out-of-sync mark cleared by an operator (repair)")).toHaveLength(1);

    const again = await markInSync(app, `?output=out2&before=${iso(Date.now() + 1)}`);
    expect(again.json()).toEqual({ output: "out2", cleared: false, queue: { entries: 1, bytes: marked.queue.bytes } });

    b!.reply = { status: 204 };
    await waitFor(async () => (await statusOf(app, "out2")).queue.entries === 0, { timeoutMs: 10_000, what: "out2's queue to drain" });
    expect(b!.requests.at(-1)!.body.toString()).toBe("cpu v=1 1");
  });

  it("answers 409 and keeps the marking while a write was dropped at or after before; 200 once before is past it", async () => {
    const [a, b] = await backends(2);
    const { app, spoolDir } = await relayOver([a!, b!], { output: { out2: "buffer-size-mb = 0" } });
    b!.reply = { status: 500 };
    const repairBegan = Date.now();
    expect((await write(app, "cpu v=1 1")).statusCode).toBe(204); // out1 took it; dropped for out2
    const { lastDropAt } = (await statusOf(app, "out2")).outOfSync;

    const refused = await markInSync(app, `?output=out2&before=${iso(repairBegan)}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toBe(
      `output out2 last dropped a write at ${lastDropAt}, at or after before=${iso(repairBegan)}: ` +
        "the repair did not cover that gap, so the output stays out of sync; run the repair again",
    );
    expect((await markInSync(app, `?output=out2&before=${lastDropAt}`)).statusCode).toBe(409); // "at" counts
    expect((await statusOf(app, "out2")).outOfSync).toMatchObject({ lastDropAt });
    expect(readMarker(spoolDir, "out2")).toMatchObject({ lastDropAt });

    const accepted = await markInSync(app, `?output=out2&before=${iso(Date.parse(lastDropAt) + 1)}`);
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ cleared: true, queue: { entries: 0, bytes: 0 } });
    expect((await app.inject("/health")).json().outputs[1].outOfSync).toBe(false);

    // A drop after the clearing marks it again, and a repair that began before that drop cannot clear it.
    await write(app, "cpu v=2 2");
    const again = (await statusOf(app, "out2")).outOfSync;
    expect(Date.parse(again.lastDropAt)).toBeGreaterThan(Date.parse(lastDropAt));
    expect((await markInSync(app, `?output=out2&before=${iso(Date.parse(lastDropAt) + 1)}`)).statusCode).toBe(409);
  });
});

describe("lastDropAt on disk", () => {
  it("keeps the last drop, not only the first, in OUT-OF-SYNC across a restart", async () => {
    const [a, b] = await backends(2);
    const first = await relayOver([a!, b!], { output: { out2: "buffer-size-mb = 0" } });
    b!.reply = { status: 500 };
    await write(first.app, "cpu v=1 1");
    const firstDrop = (await statusOf(first.app, "out2")).outOfSync.lastDropAt;
    expect(readMarker(first.spoolDir, "out2").lastDropAt).toBe(firstDrop); // the first drop is written at once
    await new Promise((resolve) => setTimeout(resolve, 5));
    await write(first.app, "cpu v=2 2");
    const lastDrop = (await statusOf(first.app, "out2")).outOfSync.lastDropAt;
    expect(Date.parse(lastDrop)).toBeGreaterThan(Date.parse(firstDrop));
    await first.app.close(); // within the second after the first drop: closing writes what waits

    expect(readMarker(first.spoolDir, "out2")).toMatchObject({ since: firstDrop, lastDropAt: lastDrop });
    const { app } = await relayOver([a!, b!], { output: { out2: "buffer-size-mb = 0" }, spoolDir: first.spoolDir });
    expect((await statusOf(app, "out2")).outOfSync).toMatchObject({ since: firstDrop, lastDropAt: lastDrop });
    expect((await markInSync(app, `?output=out2&before=${iso(Date.parse(firstDrop) + 1)}`)).statusCode).toBe(409);
    expect((await markInSync(app, `?output=out2&before=${iso(Date.parse(lastDrop) + 1)}`)).json()).toMatchObject({ cleared: true });
  });

  it("rewrites the marker with the latest drop within a second while drops go on", async () => {
    const [a, b] = await backends(2);
    const { app, spoolDir } = await relayOver([a!, b!], { output: { out2: "buffer-size-mb = 0" } });
    b!.reply = { status: 500 };
    await write(app, "cpu v=1 1");
    await new Promise((resolve) => setTimeout(resolve, 5));
    await write(app, "cpu v=2 2");
    const lastDrop = (await statusOf(app, "out2")).outOfSync.lastDropAt;
    await waitFor(async () => readMarker(spoolDir, "out2").lastDropAt === lastDrop, {
      timeoutMs: 2_000,
      what: "the marker to hold the last drop",
    });
  });

  it("takes an older marker's since as its last drop", async () => {
    const [a, b] = await backends(2);
    const spoolDir = tempDir();
    for (const output of ["out1", "out2"]) mkdirSync(join(spoolDir, output));
    const since = "2025-01-01T00:00:00.000Z";
    writeFileSync(markerIn(spoolDir, "out2"), `${JSON.stringify({ since, reason: "its queue is full (buffer-size-mb = 1)" })}\n`);
    const { app } = await relayOver([a!, b!], { spoolDir });
    expect((await statusOf(app, "out2")).outOfSync).toEqual({ since, reason: "its queue is full (buffer-size-mb = 1)", lastDropAt: since });
    const refused = await markInSync(app, "?output=out2&before=2024-12-31T23:00:00Z");
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatch(/^output out2 last dropped a write at 2025-01-01T00:00:00\.000Z, /);
    expect((await markInSync(app, "?output=out2&before=2025-01-01T01:00:00%2B01:00")).statusCode).toBe(409); // the same moment
    expect((await markInSync(app, "?output=out2&before=2025-01-01T00:00:01Z")).json()).toMatchObject({ cleared: true });
    expect(existsSync(markerIn(spoolDir, "out2"))).toBe(false);
  });

  it("takes an unreadable marker's last drop as the start, since it recorded nothing later", async () => {
    const [a, b] = await backends(2);
    const spoolDir = tempDir();
    for (const output of ["out1", "out2"]) mkdirSync(join(spoolDir, output));
    writeFileSync(markerIn(spoolDir, "out2"), '{"since":"2025-01-');
    const beforeStart = Date.now();
    const { app } = await relayOver([a!, b!], { spoolDir });
    expect((await statusOf(app, "out2")).outOfSync.reason).toMatch(/^the OUT-OF-SYNC marker is unreadable/);
    expect((await markInSync(app, `?output=out2&before=${iso(beforeStart - 1)}`)).statusCode).toBe(409);
    expect((await markInSync(app, `?output=out2&before=${iso(Date.now() + 1)}`)).json()).toMatchObject({ cleared: true });
  });
});

describe("a new output", () => {
  it("is out of sync from its first start when the spool-dir already queues for other outputs", async () => {
    const [a, b] = await backends(2);
    const before = await relayOver([a!]);
    await before.app.close();
    const startedAt = Date.now();
    const { app, spoolDir } = await relayOver([a!, b!], { spoolDir: before.spoolDir });

    expect((await statusOf(app, "out1")).outOfSync).toBeUndefined();
    const marked = (await statusOf(app, "out2")).outOfSync;
    expect(marked.reason).toBe("a new output: its replica may lack what the others hold; run influx-ha repair");
    expect(marked.lastDropAt).toBe(marked.since);
    expect(Date.parse(marked.since)).toBeGreaterThanOrEqual(startedAt);
    expect(readMarker(spoolDir, "out2")).toEqual(marked);
    expect((await app.inject("/health")).json()).toMatchObject({
      status: "degraded",
      outputs: [{ outOfSync: false }, { outOfSync: true }],
    });
    expect(readdirSync(spoolDir).sort()).toEqual(["out1", "out2"]);

    expect((await markInSync(app, `?output=out2&before=${iso(startedAt - 1)}`)).statusCode).toBe(409);
    expect((await markInSync(app, `?output=out2&before=${iso(Date.now() + 1)}`)).json()).toMatchObject({ cleared: true });
    await app.close();
    const restarted = await relayOver([a!, b!], { spoolDir });
    expect((await statusOf(restarted.app, "out2")).outOfSync).toBeUndefined();
  });

  it("marks nothing on a fresh spool-dir, even beside files and a lost+found directory", async () => {
    const [a, b] = await backends(2);
    const spoolDir = tempDir();
    writeFileSync(join(spoolDir, "relay.pid"), "12345\n");
    mkdirSync(join(spoolDir, "lost+found"));
    const { app } = await relayOver([a!, b!], { spoolDir });
    expect((await app.inject("/health")).json()).toMatchObject({ status: "ok", outputs: [{ outOfSync: false }, { outOfSync: false }] });
    for (const output of ["out1", "out2"]) expect(existsSync(markerIn(spoolDir, output))).toBe(false);
  });
});
