// The relay as the front of the whole API (relay/query.ts, fanout.ts, peers.ts) through buildApp, against
// scripted backends: reads to one replica in sync, statements to every replica in order, refusals, /ping,
// the race of a write with a queued CREATE DATABASE, and peers telling each other who is behind.
import { gunzipSync, gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { STALE_HEADER } from "../../relay/query.js";
import { captureLog } from "../helpers/capture-log.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { useRelayApps, type RelayApp } from "../helpers/relay-app.js";
import type { RecordedRequest, Reply, ScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

const RESULTS_OK = '{"results":[{"statement_id":0}]}';
const SERIES = '{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","v"],"values":[[1,1]]}]}]}';

/** Answers like InfluxDB: reads with a series, statements with empty results, writes with 204. */
const influxLike =
  (version: string) =>
  (req: RecordedRequest): Reply => {
    const headers = { "X-Influxdb-Version": version, "X-Influxdb-Build": "OSS" };
    if (req.path === "/write") return { status: 204, headers };
    if (req.path === "/query" && req.method === "POST" && /^q=/.test(req.body.toString()))
      return { status: 200, body: RESULTS_OK, headers };
    return { status: 200, body: SERIES, headers };
  };

const { relayOver, backends: startBackends, onCleanup } = useRelayApps({ adminToken: false, maxDelayInterval: "300ms" });
/** Backends answering like InfluxDB 1.8.0, 1.8.1, ... */
const backends = (count: number) => startBackends(count, (i) => influxLike(`1.8.${i}`));

const query = (app: FastifyInstance, q: string, extra = "db=d") =>
  app.inject({ method: "GET", url: `/query?${extra}&q=${encodeURIComponent(q)}` });
const statement = (app: FastifyInstance, q: string, extra = "db=d") =>
  app.inject({
    method: "POST",
    url: `/query?${extra}`,
    payload: new URLSearchParams({ q }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
const reads = (b: ScriptedBackend) => b.requests.filter((r) => r.method === "GET" && r.path === "/query");
const statementsOn = (b: ScriptedBackend) =>
  b.requests.filter((r) => r.method === "POST" && r.path === "/query").map((r) => new URLSearchParams(r.body.toString()).get("q"));

describe("reads", () => {
  it("go to one replica, spread over those in sync, as the client sent them, and stream back with InfluxDB's headers", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const res = await app.inject({
      method: "GET",
      url: `/query?db=d&epoch=ns&chunked=true&q=${encodeURIComponent("SELECT * FROM cpu; SHOW MEASUREMENTS")}`,
      headers: { authorization: "Token abc", accept: "application/json" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(SERIES);
    expect(res.headers["x-influxdb-build"]).toBe("OSS");
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers[STALE_HEADER]).toBeUndefined();
    await query(app, "SELECT 1");
    expect([reads(a!).length, reads(b!).length]).toEqual([1, 1]);
    const [sent] = [...reads(a!), ...reads(b!)];
    expect(sent!.url).toBe(`/query?db=d&epoch=ns&chunked=true&q=${encodeURIComponent("SELECT * FROM cpu; SHOW MEASUREMENTS")}`);
    expect(sent!.headers.authorization).toBe("Token abc");
  });

  it("pass a gzipped answer through with its Content-Encoding, as a Go client that asked for gzip expects", async () => {
    const [a] = await backends(1);
    const gzipped = gzipSync(SERIES);
    a!.reply = { status: 200, body: gzipped, headers: { "Content-Encoding": "gzip" } };
    const { app } = await relayOver([a!]);
    const res = await app.inject({ method: "GET", url: "/query?q=SELECT+1", headers: { "accept-encoding": "gzip" } });
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(a!.requests[0]!.headers["accept-encoding"]).toBe("gzip");
    expect(gunzipSync(res.rawPayload).toString()).toBe(SERIES);
  });

  it("take q from a form body, which wins over the URL's, and pass the body on", async () => {
    const [a] = await backends(1);
    const { app } = await relayOver([a!]);
    const res = await app.inject({
      method: "POST",
      url: "/query?q=DROP%20DATABASE%20d",
      payload: "q=SELECT+*+FROM+cpu&db=d",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.statusCode).toBe(200);
    expect(a!.requests).toHaveLength(1);
    expect(a!.requests[0]!.body.toString()).toBe("q=SELECT+*+FROM+cpu&db=d");
  });

  it("route Flux and Prometheus remote read as reads, to one replica", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const flux = await app.inject({
      method: "POST",
      url: "/api/v2/query",
      payload: '{"query":"from(bucket:\\"d\\")"}',
      headers: { "content-type": "application/json" },
    });
    const prom = await app.inject({
      method: "POST",
      url: "/api/v1/prom/read?db=d",
      payload: Buffer.from([1, 2, 3]),
      // As Prometheus sends it: the body is a snappy block, passed on as it came.
      headers: { "content-type": "application/x-protobuf", "content-encoding": "snappy" },
    });
    expect([flux.statusCode, prom.statusCode]).toEqual([200, 200]);
    const paths = [...a!.requests, ...b!.requests].map((r) => `${r.method} ${r.path} ${r.body.length}`).sort();
    expect(paths).toEqual(["POST /api/v1/prom/read 3", "POST /api/v2/query 30"]);
    const promRead = [...a!.requests, ...b!.requests].find((r) => r.path === "/api/v1/prom/read")!;
    expect(promRead.headers["content-encoding"]).toBe("snappy");
  });

  it("skip a replica that refuses the connection, and answer 503 when none answers", async () => {
    const [a] = await backends(1);
    const closed = `http://127.0.0.1:${await freePort()}/write`;
    const outputs = [`{ name = "dead", location = "${closed}" }`, `{ name = "live", location = "${a!.writeUrl}" }`];
    const config = parseConfig(`[[http]]\nbind-addr = ":1"\nspool-dir = "${tempDir()}"\noutput = [${outputs.join(", ")}]`, "t.toml");
    const app = await buildApp({ listener: config.http[0]!, logger: captureLog().logger });
    onCleanup(() => app.close());
    for (let i = 0; i < 4; i++) expect((await query(app, "SELECT 1")).statusCode).toBe(200);
    expect(reads(a!)).toHaveLength(4);
    await a!.close();
    const none = await query(app, "SELECT 1");
    expect(none.statusCode).toBe(503);
    expect(none.json().error).toMatch(/^no replica answered: .*ECONNREFUSED/);
  });
});

describe("statements that change state", () => {
  it("go to every replica as POST /query with the form body, and answer with the results", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const res = await statement(
      app,
      "CREATE DATABASE x; CREATE RETENTION POLICY week ON x DURATION 7d REPLICATION 1",
      "u=bob&p=pw&chunked=true",
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(RESULTS_OK);
    expect(res.headers["x-influxdb-version"]).toMatch(/^1\.8\./);
    for (const backend of [a!, b!]) {
      expect(backend.requests).toHaveLength(1);
      const sent = backend.requests[0]!;
      expect(sent.url).toBe("/query?u=bob&p=pw");
      expect(sent.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(statementsOn(backend)).toEqual(["CREATE DATABASE x; CREATE RETENTION POLICY week ON x DURATION 7d REPLICATION 1"]);
    }
    for (const q of ["DROP MEASUREMENT cpu", "DELETE FROM cpu WHERE time < 5", "SELECT * INTO b FROM a", 'GRANT ALL ON "x" TO "bob"']) {
      expect((await query(app, q)).statusCode).toBe(200);
    }
    expect(statementsOn(a!)).toHaveLength(5);
    expect(statementsOn(b!)).toHaveLength(5);
  });

  it("are never silent when one replica applies a statement another refuses: the refusal is the answer, logged, counted and in /status", async () => {
    const [a, b] = await backends(2);
    b!.reply = { status: 200, body: '{"results":[{"statement_id":0,"error":"user not found"}]}' };
    const { app, log } = await relayOver([a!, b!]);
    const res = await statement(app, "SET PASSWORD FOR bob = 's3cret'");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ results: [{ statement_id: 0, error: "user not found" }] });
    const status = (await app.inject("/status")).json();
    expect(status.divergences.total).toBe(1);
    expect(status.divergences.recent[0]).toMatchObject({
      statement: "SET PASSWORD FOR bob = '[redacted]'",
      appliedOn: ["out1"],
      refusedBy: [{ output: "out2", error: "user not found" }],
      via: "live",
    });
    expect(log.lines.some((l) => l.level === 50 && /REPLICAS DIFFER/.test(l.msg))).toBe(true);
    expect(JSON.stringify(log.lines)).not.toContain("s3cret");
    expect((await app.inject("/metrics")).body).toContain('influx_relay_statement_divergences_total{listener="http-0"} 1');
  });

  it("refuse what only makes sense on one server, and a query that mixes reads with changes, forwarding nothing", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const cases: Array<[string, RegExp]> = [
      ["DROP SHARD 1", /^DROP SHARD is not served through influx-ha: /],
      ["KILL QUERY 3", /^KILL QUERY is not served/],
      ["SHOW SHARDS", /^SHOW SHARDS is not served/],
      ["CREATE DATABASE x; SELECT * FROM cpu", /mixes reads \(SELECT\) with statements that change every replica \(CREATE DATABASE\)/],
      ["SELECT 'unterminated", /^error parsing query: /],
    ];
    for (const [q, message] of cases) {
      const res = await query(app, q);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error, q).toMatch(message);
    }
    const multipart = await app.inject({
      method: "POST",
      url: "/query",
      payload: "--x--",
      headers: { "content-type": "multipart/form-data; boundary=x" },
    });
    expect(multipart.statusCode).toBe(415);
    expect([a!.requests.length, b!.requests.length]).toEqual([0, 0]);
  });

  it("queue behind the writes a down replica missed, replay in order once it is back, and keep reads off it until then", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const up = b!.reply;
    b!.reply = { status: 503, body: "down" };
    expect((await app.inject({ method: "POST", url: "/write?db=d", payload: "cpu v=1 1" })).statusCode).toBe(204);
    expect((await statement(app, "DROP MEASUREMENT cpu")).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: "/write?db=d", payload: "cpu v=2 2" })).statusCode).toBe(204);
    const before = b!.requests.length;
    for (let i = 0; i < 4; i++) expect((await query(app, "SELECT * FROM cpu")).headers[STALE_HEADER]).toBeUndefined();
    expect(reads(a!)).toHaveLength(4);
    b!.reply = up;
    await waitFor(async () => (await app.inject("/health")).json().outputs[1].queue.entries === 0, {
      timeoutMs: 10_000,
      what: "out2's queue to drain",
    });
    const replayed = b!.requests
      .slice(before)
      .filter((r) => r.method === "POST")
      .map((r) => `${r.path} ${r.body.toString()}`);
    expect(replayed).toEqual(["/write cpu v=1 1", "/query q=DROP+MEASUREMENT+cpu", "/write cpu v=2 2"]);
    await query(app, "SELECT 1");
    await query(app, "SELECT 1");
    expect(reads(b!).length).toBeGreaterThan(0);
  });

  it("pin now() in a DELETE to the moment it was accepted, so a replica that applies it later deletes the same", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const up = b!.reply;
    b!.reply = { status: 503 };
    const before = BigInt(Date.now()) * 1_000_000n;
    expect((await statement(app, "DELETE FROM cpu WHERE time < now() - 30d; CREATE USER bob WITH PASSWORD 'now()'")).statusCode).toBe(200);
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    await new Promise((resolve) => setTimeout(resolve, 50));
    b!.reply = up;
    await waitFor(async () => statementsOn(b!).length === 1, { timeoutMs: 10_000, what: "the DELETE's replay" });
    const [live] = statementsOn(a!);
    expect(statementsOn(b!)).toEqual([live]);
    const match = /^DELETE FROM cpu WHERE time < (\d+) - 30d;\nCREATE USER bob WITH PASSWORD 'now\(\)'$/.exec(live!);
    expect(match, live!).not.toBeNull();
    const pinned = BigInt(match![1]!);
    expect(pinned >= before && pinned <= after).toBe(true);
  });

  it("send a read to the least behind replica when none is in sync, and say so", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    const up = a!.reply;
    a!.reply = { status: 503 };
    b!.reply = { status: 503 };
    // Both outputs fail the first write; a second one accepted by a queues a bigger backlog on b.
    expect((await app.inject({ method: "POST", url: "/write?db=d", payload: "cpu v=1 1" })).statusCode).toBe(503);
    const readsOnly = (req: RecordedRequest): Reply =>
      req.path === "/query" ? (up as (r: RecordedRequest) => Reply)(req) : { status: 503 };
    a!.reply = readsOnly;
    b!.reply = readsOnly;
    const res = await query(app, "SELECT 1");
    expect(res.statusCode).toBe(200);
    expect(res.headers[STALE_HEADER]).toMatch(/no replica is in sync/);
    expect((await app.inject("/metrics")).body).toMatch(/influx_relay_reads_total\{output="out[12]",stale="true",listener="http-0"\} 1/);
  });
});

describe("a write that races a queued CREATE DATABASE", () => {
  const missing = { status: 404, body: '{"error":"database not found: \\"x\\""}' };

  it("is kept for the replica that lacks the database and retried until it has it, not dead-lettered", async () => {
    const [a, b] = await backends(2);
    const { app } = await relayOver([a!, b!]);
    b!.reply = missing;
    expect((await app.inject({ method: "POST", url: "/write?db=x", payload: "cpu v=1 1" })).statusCode).toBe(204);
    await waitFor(async () => b!.requests.length >= 3, { timeoutMs: 10_000, what: "the write to be retried on out2" });
    const status = (await app.inject("/status")).json();
    expect(status.outputs[1]).toMatchObject({ queue: { entries: 1 }, deadLetter: { entriesSinceStart: 0 } });
    b!.reply = { status: 204 };
    await waitFor(async () => (await app.inject("/status")).json().outputs[1].queue.entries === 0, {
      timeoutMs: 10_000,
      what: "the retry",
    });
  });

  it("answers the 404 and keeps nothing when every replica lacks the database", async () => {
    const [a, b] = await backends(2);
    a!.reply = missing;
    b!.reply = missing;
    const { app } = await relayOver([a!, b!]);
    const res = await app.inject({ method: "POST", url: "/write?db=x", payload: "cpu v=1 1" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'database not found: "x"' });
    expect((await app.inject("/status")).json().outputs.map((o: { queue: { entries: number } }) => o.queue.entries)).toEqual([0, 0]);
  });
});

describe("/ping", () => {
  it("answers like the replica, with its X-Influxdb-Version, and 204 with the last version seen when none answers", async () => {
    const [a] = await backends(1);
    const { app } = await relayOver([a!]);
    const res = await app.inject({ method: "GET", url: "/ping" });
    expect(res.statusCode).toBe(204);
    expect(res.headers["x-influxdb-version"]).toBe("scripted");
    await a!.close();
    const alone = await app.inject({ method: "GET", url: "/ping" });
    expect(alone.statusCode).toBe(204);
    expect(alone.headers["x-influxdb-version"]).toBe("scripted");
  });
});

describe("peers", () => {
  /** Two relays over the same replicas, listening on 127.0.0.1, each the other's peer. */
  async function pair(targets: readonly ScriptedBackend[], pollInterval = "100ms"): Promise<[RelayApp, RelayApp, string[]]> {
    const ports = [await freePort(), await freePort()];
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    const relays: RelayApp[] = [];
    for (const [i, port] of ports.entries()) {
      const relay = await relayOver(targets, {
        listener: `peers = ["${urls[1 - i]}"]\npeer-poll-interval = "${pollInterval}"\npeer-timeout = "300ms"`,
      });
      await relay.app.listen({ host: "127.0.0.1", port });
      relays.push(relay);
    }
    return [relays[0]!, relays[1]!, urls];
  }

  it("keep a client's reads off a replica one relay queues for, even when the next read goes to the other relay", async () => {
    const [a, b] = await backends(2);
    // Polling is slow here on purpose: only the fence can keep relay 1's read off b in time.
    const [, , urls] = await pair([a!, b!], "1h");
    const up = b!.reply;
    b!.reply = (req) => (req.method === "GET" && req.path === "/query" ? (up as (r: RecordedRequest) => Reply)(req) : { status: 503 });
    for (let i = 0; i < 6; i++) {
      const via = urls[i % 2]!;
      const write = await request(`${via}/write?db=d`, { method: "POST", body: `cpu v=${i} ${i}` });
      await write.body.dump();
      expect(write.statusCode).toBe(204);
      const read = await request(`${urls[(i + 1) % 2]}/query?db=d&q=SELECT+*+FROM+cpu`);
      await read.body.dump();
      expect(read.headers[STALE_HEADER]).toBeUndefined();
    }
    expect(reads(b!)).toHaveLength(0);
    expect(reads(a!)).toHaveLength(6);
  });

  it("hold a DROP back on a replica until the writes another relay took before it have reached that replica", async () => {
    const [a, b] = await backends(2);
    const [first, second, urls] = await pair([a!, b!]);
    const up = b!.reply as (r: RecordedRequest) => Reply;
    b!.reply = { status: 503 };
    const write = await request(`${urls[0]}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
    await write.body.dump();
    expect(write.statusCode).toBe(204);
    // Relay 1 has nothing queued for b, but relay 0 does: the DROP must not overtake relay 0's write there.
    const drop = await statement(second.app, "DROP MEASUREMENT cpu");
    expect(drop.statusCode).toBe(200);
    expect(statementsOn(b!)).toEqual([]);
    // Back, but slow to take writes: a DROP sent as soon as b answers would land first.
    b!.reply = (req) => (req.path === "/write" ? { ...up(req), delayMs: 400 } : up(req));
    for (const relay of [first, second]) {
      await waitFor(async () => (await relay.app.inject("/health")).json().outputs[1].queue.entries === 0, {
        timeoutMs: 10_000,
        what: "every queue for out2 to drain",
      });
    }
    expect(
      b!.requests
        .filter((r) => r.method === "POST")
        .map((r) => `${r.path} ${r.body.toString()}`)
        .slice(-2),
    ).toEqual(["/write cpu v=1 1", "/query q=DROP+MEASUREMENT+cpu"]);
  });

  it("do not hold a DROP back for a peer that cannot be reached and held nothing for the replica when last heard", async () => {
    const [a, b] = await backends(2);
    const [first, second] = await pair([a!, b!]);
    await waitFor(async () => (await second.app.inject("/status")).json().peers[0].reachable === true, {
      timeoutMs: 5_000,
      what: "relay 1 to hear from relay 0",
    });
    await first.app.close();
    await waitFor(async () => (await second.app.inject("/status")).json().peers[0].reachable === false, {
      timeoutMs: 5_000,
      what: "relay 0 to be gone",
    });
    const up = b!.reply;
    b!.reply = { status: 503 };
    expect((await statement(second.app, "DROP MEASUREMENT cpu")).statusCode).toBe(200);
    b!.reply = up;
    await waitFor(async () => statementsOn(b!).length === 1, { timeoutMs: 10_000, what: "the DROP's replay to b" });
  });

  it("learn a peer's backlog from its /status, and keep the last known state of a peer that cannot be reached", async () => {
    const [a, b] = await backends(2);
    const [first, second, urls] = await pair([a!, b!]);
    const up = b!.reply;
    b!.reply = { status: 503 };
    const write = await request(`${urls[0]}/write?db=d`, { method: "POST", body: "cpu v=1 1" });
    await write.body.dump();
    await waitFor(async () => (await second.app.inject("/status")).json().peers[0].behind.includes("out2"), {
      timeoutMs: 5_000,
      what: "relay 1 to see relay 0's backlog for out2",
    });
    await first.app.close();
    b!.reply = up;
    await waitFor(async () => (await second.app.inject("/status")).json().peers[0].reachable === false, {
      timeoutMs: 5_000,
      what: "the peer to be gone",
    });
    for (let i = 0; i < 4; i++) await query(second.app, "SELECT 1");
    expect(reads(b!)).toHaveLength(0);
    const status = (await second.app.inject("/status")).json();
    expect(status.peers[0]).toMatchObject({ url: urls[0], reachable: false, behind: ["out2"] });
    expect((await second.app.inject("/metrics")).body).toContain(`influx_relay_peer_up{peer="${urls[0]}",listener="http-0"} 0`);
  });
});
