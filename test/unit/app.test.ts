// The HTTP write path through buildApp (app.inject) to real sockets of scripted backends.
import { gzipSync } from "node:zlib";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { captureLog, type CapturedLog } from "../helpers/capture-log.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { startScriptedBackend, type Reply, type ScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

// Run in order: backends close first, so an app never waits on a hanging one while it closes.
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup) await step();
  cleanup = [];
});

interface Setup {
  app: FastifyInstance;
  backends: ScriptedBackend[];
  log: CapturedLog;
}

async function setup(
  replies: Reply[],
  extra: { listener?: string; timeout?: string; locations?: string[]; output?: string } = {},
): Promise<Setup> {
  const backends = await Promise.all(replies.map((reply) => startScriptedBackend(reply)));
  cleanup.push(() => Promise.all(backends.map((b) => b.close())));
  const locations = extra.locations ?? backends.map((b) => b.writeUrl);
  const outputs = locations.map(
    (location, i) =>
      `{ name = "out${i + 1}", location = "${location}", timeout = "${extra.timeout ?? "20s"}"${extra.output ? `, ${extra.output}` : ""} }`,
  );
  const config = parseConfig(
    `[[http]]\nbind-addr = "127.0.0.1:9096"\nspool-dir = "${tempDir()}"\n${extra.listener ?? ""}\noutput = [${outputs.join(", ")}]`,
    "test.toml",
  );
  const log = captureLog();
  const app = await buildApp({ listener: config.http[0]!, logger: log.logger });
  cleanup.push(() => app.close());
  return { app, backends, log };
}

const write = (app: FastifyInstance, url: string, payload: string | Buffer, headers: Record<string, string> = {}) =>
  app.inject({ method: "POST", url, payload, headers });

describe("POST /write", () => {
  it("forwards the body, the documented parameters and Authorization to every output", async () => {
    const { app, backends } = await setup([{ status: 204 }, { status: 204 }]);
    const body = "cpu,host=a v=1 1700000000000000000\n";
    const res = await write(app, "/write?db=telegraf&rp=week&precision=ns&consistency=all&u=bob&p=secret&junk=1", body, {
      authorization: "Basic Ym9iOnNlY3JldA==",
    });
    expect(res.statusCode).toBe(204);
    for (const backend of backends) {
      expect(backend.requests).toHaveLength(1);
      const [req] = backend.requests;
      expect(req!.path).toBe("/write");
      expect(req!.query.toString()).toBe("db=telegraf&rp=week&precision=ns&consistency=all&u=bob&p=secret");
      expect(req!.headers.authorization).toBe("Basic Ym9iOnNlY3JldA==");
      expect(req!.body.toString()).toBe(body);
    }
  });

  it("takes a write with an empty Content-Type header, as Debian's influx CLI sends it", async () => {
    const { app, backends } = await setup([{ status: 204 }]);
    const res = await write(app, "/write?db=d", "cpu v=1 1", { "content-type": "" });
    expect(res.statusCode, res.body).toBe(204);
    expect(backends[0]!.requests[0]!.body.toString()).toBe("cpu v=1 1");
  });

  it("passes an empty body on, as influxd answers it with 204", async () => {
    const { app, backends } = await setup([{ status: 204 }, { status: 204 }]);
    const res = await write(app, "/write?db=d", "");
    expect(res.statusCode, res.body).toBe(204);
    for (const backend of backends) expect(backend.requests.map((r) => r.body.length)).toEqual([0]);
  });

  it("fills in rp from default-retention-policy only when the request has none", async () => {
    const { app, backends } = await setup([{ status: 204 }], { listener: 'default-retention-policy = "autogen"' });
    await write(app, "/write?db=d", "cpu v=1 1");
    await write(app, "/write?db=d&rp=year", "cpu v=1 1");
    expect(backends[0]!.requests.map((r) => r.query.get("rp"))).toEqual(["autogen", "year"]);
  });

  it("answers a missing db with 400 in InfluxDB's wording and forwards nothing", async () => {
    const { app, backends } = await setup([{ status: 204 }]);
    const res = await write(app, "/write?rp=x", "cpu v=1");
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: "database is required" });
    expect(backends[0]!.requests).toHaveLength(0);
  });

  it("refuses an unknown precision as InfluxDB does", async () => {
    const { app } = await setup([{ status: 204 }]);
    const res = await write(app, "/write?db=d&precision=us", "cpu v=1");
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid precision "us" (use n, u, ms, s, m or h)' });
  });

  it("refuses malformed line protocol before fan-out, naming the line and the fault", async () => {
    const { app, backends } = await setup([{ status: 204 }, { status: 204 }]);
    const res = await write(app, "/write?db=d", "cpu v=1 1\ncpu v=2 2\ncpu,host=a v=\ncpu v=4 4");
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: "unable to parse line 3 'cpu,host=a v=': missing field value; nothing was written" });
    expect(backends.flatMap((b) => b.requests)).toHaveLength(0);
  });

  it("gives lines without a timestamp the relay's receive time in the request's precision, the same on every output", async () => {
    const { app, backends } = await setup([{ status: 204 }, { status: 204 }]);
    const before = BigInt(Date.now());
    await write(app, "/write?db=d&precision=ms", "cpu v=1\ncpu v=2 1234\ncpu v=3\n");
    const after = BigInt(Date.now());
    const [first, second] = backends.map((b) => b.requests[0]!.body.toString());
    expect(first).toBe(second);
    const match = /^cpu v=1 (\d+)\ncpu v=2 1234\ncpu v=3 (\d+)\n$/.exec(first!);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(match![2]);
    const stamped = BigInt(match![1]!);
    expect(stamped >= before && stamped <= after).toBe(true);
  });
});

describe("the client's answer", () => {
  it("waits for a hanging output until its timeout, then queues the write for it and answers 204", async () => {
    const { app, backends, log } = await setup([{ status: 204, hang: true }, { status: 204 }], { timeout: "300ms" });
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(204);
    expect(backends[1]!.requests).toHaveLength(1);
    expect(log.lines.find((l) => l.level === 40 && l.status === 0)).toMatchObject({
      output: "out1",
      outcome: "queued",
      msg: "write failed on output out1 (The operation was aborted due to timeout): queued for replay",
    });
    const health = (await app.inject("/health")).json();
    expect(health.outputs[0]).toMatchObject({ name: "out1", up: false, queue: { entries: 1 } });
  });

  it("is 204 when one output fails with a 5xx, which is logged naming the output and queued for it", async () => {
    const { app, log } = await setup([{ status: 204 }, { status: 500, body: '{"error":"engine: disk full"}' }]);
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(204);
    expect(log.lines.find((l) => l.level === 40 && l.status === 500)).toMatchObject({
      output: "out2",
      msg: 'write failed on output out2 (HTTP 500: {"error":"engine: disk full"}): queued for replay',
    });
  });

  it("passes the first 4xx straight back, with its body and Content-Type", async () => {
    const { app } = await setup([
      { status: 400, body: '{"error":"partial write: field type conflict"}', contentType: "application/json" },
      { status: 204, delayMs: 300 },
    ]);
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.body).toBe('{"error":"partial write: field type conflict"}');
  });

  it("passes a 404 for a missing database back as is", async () => {
    const { app } = await setup([
      { status: 404, body: '{"error":"database not found: \\"nope\\""}' },
      { status: 404, body: '{"error":"database not found: \\"nope\\""}' },
    ]);
    const res = await write(app, "/write?db=nope", "cpu v=1 1");
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'database not found: "nope"' });
  });

  it("is the last 5xx when every output fails", async () => {
    const { app } = await setup([
      { status: 500, body: "first", contentType: "text/plain" },
      { status: 503, body: "last", contentType: "text/plain", delayMs: 200 },
    ]);
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe("last");
  });

  it("is 503 naming every output when none answered", async () => {
    const closedPorts = [await freePort(), await freePort()];
    const { app } = await setup([], { locations: closedPorts.map((p) => `http://127.0.0.1:${p}/write`) });
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatch(
      new RegExp(
        `^no backend took the write, and nothing was kept: out1: connect ECONNREFUSED 127.0.0.1:${closedPorts[0]}; out2: connect ECONNREFUSED 127.0.0.1:${closedPorts[1]}$`,
      ),
    );
  });

  it("is 503 when an output times out and the other is down", async () => {
    const backend = await startScriptedBackend({ status: 204, hang: true });
    cleanup.push(() => backend.close());
    const { app } = await setup([], { locations: [backend.writeUrl, `http://127.0.0.1:${await freePort()}/write`], timeout: "300ms" });
    const res = await write(app, "/write?db=d", "cpu v=1 1");
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatch(
      /^no backend took the write, and nothing was kept: out1: .*aborted due to timeout; out2: connect ECONNREFUSED/,
    );
  });
});

describe("request bodies", () => {
  it("inflates gzip bodies before validating and forwards them inflated", async () => {
    const { app, backends } = await setup([{ status: 204 }]);
    const res = await write(app, "/write?db=d", gzipSync("cpu v=1 1\ncpu v=2 2\n"), { "content-encoding": "gzip" });
    expect(res.statusCode).toBe(204);
    expect(backends[0]!.requests[0]!.body.toString()).toBe("cpu v=1 1\ncpu v=2 2\n");
    expect(backends[0]!.requests[0]!.headers["content-encoding"]).toBeUndefined();
  });

  it("answers a corrupt gzip body with 400", async () => {
    const { app, backends } = await setup([{ status: 204 }]);
    const truncated = gzipSync("cpu v=1 1\n".repeat(100)).subarray(0, 30);
    for (const payload of [Buffer.from("not gzip at all"), truncated]) {
      const res = await write(app, "/write?db=d", payload, { "content-encoding": "gzip" });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatch(/^invalid gzip body: /);
    }
    expect(backends[0]!.requests).toHaveLength(0);
  });

  it("answers 415 for an encoding it cannot read", async () => {
    const { app } = await setup([{ status: 204 }]);
    const res = await write(app, "/write?db=d", "cpu v=1 1", { "content-encoding": "br" });
    expect(res.statusCode).toBe(415);
  });

  it("enforces max-body-size, on plain bodies and on what gzip inflates to", async () => {
    const { app, backends } = await setup([{ status: 204 }], { listener: "max-body-size = 1000" });
    const line = "cpu v=1 1\n"; // 10 bytes
    expect((await write(app, "/write?db=d", line.repeat(100))).statusCode).toBe(204);
    const over = await write(app, "/write?db=d", line.repeat(100) + "x");
    expect(over.statusCode).toBe(413);
    expect(over.json()).toEqual({ error: "request body too large: the limit is 1000 bytes" });
    const bomb = gzipSync(line.repeat(1000));
    expect(bomb.length).toBeLessThan(1000);
    expect((await write(app, "/write?db=d", bomb, { "content-encoding": "gzip" })).statusCode).toBe(413);
    expect(backends[0]!.requests).toHaveLength(1);
  });
});

describe("POST /api/v2/write", () => {
  it("forwards org, bucket, precision and the Token header to each output's /api/v2/write", async () => {
    const backend = await startScriptedBackend();
    cleanup.push(() => backend.close());
    const { app } = await setup([], { locations: [`${backend.url}/write`, `${backend.url}/influx/write`] });
    const res = await write(app, "/api/v2/write?org=acme&bucket=telegraf/autogen&precision=s&extra=1", "cpu v=1", {
      authorization: "Token bob:secret",
    });
    expect(res.statusCode).toBe(204);
    await waitFor(async () => backend.requests.length === 2, { timeoutMs: 5_000, what: "both outputs' requests" });
    expect(backend.requests.map((r) => r.path).sort()).toEqual(["/api/v2/write", "/influx/api/v2/write"]);
    for (const req of backend.requests) {
      expect(req.query.toString()).toBe("org=acme&bucket=telegraf%2Fautogen&precision=s");
      expect(req.headers.authorization).toBe("Token bob:secret");
      expect(req.body.toString()).toMatch(/^cpu v=1 \d{10}$/);
    }
  });

  it("adds default-retention-policy to a bucket that names only a database", async () => {
    const { app, backends } = await setup([{ status: 204 }], { listener: 'default-retention-policy = "week"' });
    await write(app, "/api/v2/write?bucket=telegraf", "cpu v=1 1");
    expect(backends[0]!.requests[0]!.query.get("bucket")).toBe("telegraf/week");
  });

  it("refuses a missing bucket, a bucket without a database and a v1-only precision", async () => {
    const { app, backends } = await setup([{ status: 204 }]);
    expect((await write(app, "/api/v2/write?org=o", "cpu v=1 1")).json()).toEqual({ error: "bucket is required" });
    const noDb = await write(app, "/api/v2/write?bucket=%2Fautogen", "cpu v=1 1");
    expect(noDb.statusCode).toBe(404);
    expect(noDb.json()).toEqual({ error: 'bucket name "/autogen" is in db/rp form but has an empty database' });
    const res = await write(app, "/api/v2/write?bucket=b&precision=h", "cpu v=1 1");
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid precision "h" (use ns, us, ms or s)' });
    expect(backends[0]!.requests).toHaveLength(0);
  });

  it('with write-api = "v2", passes the request as it came, even to a backend that says it is 1.6', async () => {
    const { app, backends } = await setup([{ status: 204, headers: { "X-Influxdb-Version": "1.6.7~rc0" } }], {
      output: 'write-api = "v2"',
    });
    for (let n = 1; n <= 2; n++) {
      const res = await write(app, "/api/v2/write?org=o&bucket=db/rp&precision=ms", `cpu v=${n} ${n}`, { authorization: "Token u:p" });
      expect(res.statusCode).toBe(204);
    }
    expect(backends[0]!.requests.map((r) => [r.path, r.query.toString(), r.headers.authorization])).toEqual([
      ["/api/v2/write", "org=o&bucket=db%2Frp&precision=ms", "Token u:p"],
      ["/api/v2/write", "org=o&bucket=db%2Frp&precision=ms", "Token u:p"],
    ]);
  });

  it('with write-api = "v1", sends it to /write: bucket to db and rp, v2 precision to v1, Token user:password to Basic', async () => {
    const { app, backends } = await setup([{ status: 204 }], { output: 'write-api = "v1"' });
    const cases: Array<[string, string | undefined, string, string | undefined]> = [
      // [v2 query, Authorization sent, v1 query expected, Authorization expected]
      ["org=acme&bucket=telegraf/autogen&precision=ns", "Token bob:s3cr:et", "db=telegraf&rp=autogen&precision=n", basic("bob:s3cr:et")],
      ["bucket=telegraf/a%2Fb&precision=us", "token  bob:x", "db=telegraf&rp=a%2Fb&precision=u", basic("bob:x")],
      ["bucket=telegraf&precision=ms", "Token just-a-token", "db=telegraf&precision=ms", undefined],
      ["bucket=telegraf/&precision=s", "Basic Ym9iOnM=", "db=telegraf&precision=s", "Basic Ym9iOnM="],
      ["bucket=telegraf", undefined, "db=telegraf", undefined],
    ];
    for (const [v2Query, authorization] of cases) {
      const res = await write(app, `/api/v2/write?${v2Query}`, "cpu v=1 1", authorization === undefined ? {} : { authorization });
      expect(res.statusCode, v2Query).toBe(204);
    }
    const sent = backends[0]!.requests;
    expect(sent.map((r) => [r.path, r.query.toString(), r.headers.authorization])).toEqual(
      cases.map(([, , v1Query, authorization]) => ["/write", v1Query, authorization]),
    );
    expect(sent.every((r) => r.body.toString() === "cpu v=1 1")).toBe(true);
  });

  it('with write-api = "auto" (the default), sends to /write once the backend says it is older than 1.8, and to /api/v2/write from 1.8', async () => {
    // Like influxd 1.6: no /api/v2/write, and every answer says its version.
    const influx16: Reply = { status: 204, headers: { "X-Influxdb-Version": "1.6.7~rc0" } };
    const old = await startScriptedBackend((r) =>
      r.path === "/api/v2/write" ? { ...influx16, status: 404, body: "404 page not found\n" } : influx16,
    );
    const new18 = await startScriptedBackend({ status: 204, headers: { "X-Influxdb-Version": "1.8.10" } });
    cleanup.push(() => Promise.all([old.close(), new18.close()]));
    const { app } = await setup([], { locations: [old.writeUrl, new18.writeUrl] });
    for (let n = 1; n <= 2; n++) {
      const res = await write(app, "/api/v2/write?org=o&bucket=db/rp&precision=s", `cpu v=${n} ${n}`, { authorization: "Token u:p" });
      expect(res.statusCode, res.body).toBe(204);
    }
    // The scripted /ping says "scripted", not a version: the first write learns 1.6 from its 404, and is sent again.
    expect(old.requests.map((r) => [r.path, r.query.toString(), r.headers.authorization, r.body.toString()])).toEqual([
      ["/api/v2/write", "org=o&bucket=db%2Frp&precision=s", "Token u:p", "cpu v=1 1"],
      ["/write", "db=db&rp=rp&precision=s", basic("u:p"), "cpu v=1 1"],
      ["/write", "db=db&rp=rp&precision=s", basic("u:p"), "cpu v=2 2"],
    ]);
    expect(new18.requests.map((r) => r.path)).toEqual(["/api/v2/write", "/api/v2/write"]);
  });
});

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials).toString("base64")}`;
}

describe("other routes", () => {
  it("answers GET and HEAD /ping with 204 and its own X-Influxdb-Version while no replica answers", async () => {
    const { app } = await setup([], { locations: [`http://127.0.0.1:${await freePort()}/write`] });
    for (const method of ["GET", "HEAD"] as const) {
      const res = await app.inject({ method, url: "/ping" });
      expect(res.statusCode).toBe(204);
      expect(res.headers["x-influxdb-version"]).toMatch(/^influx-ha-relay-\d+\.\d+\.\d+/);
    }
  });

  it("answers 405 for a wrong method on a known path and 404 elsewhere, in JSON", async () => {
    const { app } = await setup([{ status: 204 }]);
    const get = await app.inject({ method: "GET", url: "/write?db=d" });
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe("POST");
    const put = await app.inject({ method: "PUT", url: "/query?q=show+databases" });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe("GET, POST");
    const other = await app.inject({ method: "GET", url: "/debug/vars" });
    expect(other.statusCode).toBe(404);
    expect(other.json().error).toMatch(
      /^\/debug\/vars not found: the relay takes POST \/write, .*GET or POST \/query, POST \/api\/v2\/query/,
    );
  });
});
