// The relay's line protocol parser against a real influxd (Debian's 1.6) on the corpus of tricky bodies in
// test/fixtures/line-protocol-corpus.json: each body goes straight to influxd and through the relay to the
// same influxd, each into a fresh database, and both must answer alike (2xx or 4xx) and, when they take it,
// store the same points. Where the relay is deliberately stricter the corpus says so and why, and the last
// tests here show the influxd breakage behind each such choice.
import { readFileSync } from "node:fs";
import http from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRelay } from "../../relay/relay.js";
import { startInfluxd, type Influxd } from "../helpers/influxd.js";
import { startRelayOverInfluxd } from "../helpers/relay-over-influxd.js";

interface CorpusEntry {
  readonly group: string;
  readonly body: string;
  readonly latin1?: boolean;
  readonly precision?: string;
  readonly expect: "accept" | "refuse" | "stricter";
  /** "influxd" when the relay forwards the body and passes influxd's refusal back. */
  readonly refusedBy?: "influxd";
  /** influxd's error (refusedBy) or status (stricter). */
  readonly influxd?: string | number;
  /** The reason in the relay's 400 (stricter). */
  readonly relay?: string;
  readonly why?: string;
}

const corpus = JSON.parse(readFileSync(new URL("../fixtures/line-protocol-corpus.json", import.meta.url), "utf8")) as {
  readonly entries: readonly CorpusEntry[];
};
/** Databases written at once: enough to keep influxd busy, few enough for two cores. */
const CONCURRENCY = 4;
/** Points stamped by influxd or the relay at write time, rather than by the body, are within this of now. */
const NOW_WINDOW_NS = 86_400_000_000_000n;

let influxd: Influxd;
let relay: RunningRelay;
let relayPort: number;

beforeAll(async () => {
  influxd = await startInfluxd();
  ({ relay, port: relayPort } = await startRelayOverInfluxd([influxd]));
});

afterAll(async () => {
  await relay?.close();
  await influxd?.stop();
});

interface Answer {
  readonly status: number;
  /** The "error" of a JSON answer, else the body. */
  readonly error: string;
}

/**
 * POST through node:http with its lenient parser: influxd 1.6 echoes refused lines in X-Influxdb-Error,
 * control bytes included, which strict HTTP parsers (undici's) refuse to read.
 */
function post(port: number, path: string, body: Buffer | string, contentType?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = contentType === undefined ? {} : { "content-type": contentType };
    const request = http.request(
      { host: "127.0.0.1", port, path, method: "POST", headers, insecureHTTPParser: true, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let error = text;
          try {
            error = (JSON.parse(text) as { error?: string }).error ?? text;
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: res.statusCode ?? 0, error });
        });
      },
    );
    request.on("timeout", () => request.destroy(new Error(`POST ${path} timed out`)));
    request.on("error", reject);
    request.end(body);
  });
}

function statement(q: string): Promise<Answer> {
  return post(influxd.httpPort, "/query", new URLSearchParams({ q }).toString(), "application/x-www-form-urlencoded");
}

function bytesOf(entry: CorpusEntry): Buffer {
  const text = entry.body.replace(/\{(.)\*(\d+)\}/gu, (_, char: string, count: string) => char.repeat(Number(count)));
  return Buffer.from(text, entry.latin1 ? "latin1" : "utf8");
}

/** Everything a database holds: its series keys, field types and points, with write-time timestamps as "now". */
async function stored(db: string): Promise<unknown> {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const [series, fields, points] = await Promise.all(
    ["SHOW SERIES", "SHOW FIELD KEYS", "SELECT * FROM /.*/"].map((q) => influxd.query(q, db)),
  );
  for (const result of points.results ?? []) {
    for (const one of result.series ?? []) {
      for (const row of one.values ?? []) {
        const time = BigInt(row[0]);
        if (time > nowNs - NOW_WINDOW_NS && time < nowNs + NOW_WINDOW_NS) row[0] = "now";
      }
    }
  }
  return { series, fields, points };
}

/** What went wrong with one entry, or undefined when both answers and stores agree with the corpus. */
async function mismatch(entry: CorpusEntry, index: number): Promise<string | undefined> {
  const direct = `direct${index}`;
  const relayed = `relayed${index}`;
  for (const db of [direct, relayed]) await statement(`CREATE DATABASE ${db}`);
  try {
    const body = bytesOf(entry);
    const precision = entry.precision === undefined ? "" : `&precision=${entry.precision}`;
    const [fromInfluxd, fromRelay] = await Promise.all([
      post(influxd.httpPort, `/write?db=${direct}${precision}`, body),
      post(relayPort, `/write?db=${relayed}${precision}`, body),
    ]);
    const answers = `influxd ${fromInfluxd.status} ${fromInfluxd.error}; relay ${fromRelay.status} ${fromRelay.error}`;
    const accepted = (a: Answer) => a.status >= 200 && a.status < 300;
    const refused = (a: Answer) => a.status >= 400 && a.status < 500;
    if (entry.expect === "accept") {
      if (!accepted(fromInfluxd) || !accepted(fromRelay)) return answers;
      const [straight, through] = await Promise.all([stored(direct), stored(relayed)]);
      if (JSON.stringify(straight) !== JSON.stringify(through))
        return `stored ${JSON.stringify(straight)} straight, ${JSON.stringify(through)} through the relay`;
    } else if (entry.expect === "refuse") {
      if (!refused(fromInfluxd) || !refused(fromRelay)) return answers;
      // The relay refuses it itself, naming the line, unless the corpus says influxd does: then the relay
      // forwarded it and passes influxd's answer back.
      const relayOwn = fromRelay.error.startsWith("unable to parse line ");
      if (relayOwn === (entry.refusedBy === "influxd")) return `${answers} (refusedBy: ${entry.refusedBy})`;
      if (!relayOwn && fromRelay.error !== fromInfluxd.error) return answers;
    } else {
      if (fromRelay.status !== 400 || !fromRelay.error.endsWith(`: ${entry.relay}; nothing was written`)) return answers;
      if (fromInfluxd.status !== entry.influxd) return answers;
    }
    return undefined;
  } finally {
    for (const db of [direct, relayed]) await statement(`DROP DATABASE ${db}`);
  }
}

describe("line protocol: the relay and influxd 1.6 on the corpus", () => {
  it("holds a few hundred bodies of every kind", () => {
    const groups = new Set(corpus.entries.map((e) => e.group));
    expect(corpus.entries.length).toBeGreaterThanOrEqual(400);
    for (const group of [
      "escapes",
      "quoting",
      "integers",
      "floats",
      "booleans",
      "timestamps",
      "precision",
      "comments",
      "utf8-invalid-names",
    ]) {
      expect(groups, group).toContain(group);
    }
    for (const kind of ["accept", "refuse", "stricter"] as const) {
      expect(corpus.entries.filter((e) => e.expect === kind).length, kind).toBeGreaterThan(20);
    }
    // Every deliberate difference is explained.
    for (const entry of corpus.entries.filter((e) => e.expect === "stricter")) expect(entry.why, entry.body).toBeTruthy();
  });

  it("answers every body as influxd does, stores the same points, and differs only where the corpus says", async () => {
    const failures: string[] = [];
    let next = 0;
    // A fixed number of workers over a shared cursor: every entry is taken exactly once.
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let index = next++; index < corpus.entries.length; index = next++) {
          const entry = corpus.entries[index]!;
          const problem = await mismatch(entry, index);
          if (problem !== undefined)
            failures.push(`${JSON.stringify(entry.body).slice(0, 160)} (${entry.expect}): ${problem.slice(0, 600)}`);
        }
      }),
    );
    expect(failures).toEqual([]);
  }, 300_000);
});

/** The raw bytes of an answer's headers, read off the socket: no HTTP parser in the way. */
function rawHeaders(port: number, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer")));
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      const end = received.indexOf("\r\n\r\n");
      if (end >= 0) {
        socket.destroy();
        resolve(received.subarray(0, end));
      }
    });
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    socket.write(body);
  });
}

describe("where influxd 1.6 breaks itself, and the relay is stricter", () => {
  it("keeps string values with invalid UTF-8 and control bytes across a restart, but not a field key with invalid UTF-8", async () => {
    for (const db of ["strings", "fieldkey"]) await statement(`CREATE DATABASE ${db}`);
    // A string value with invalid UTF-8, NUL and other control bytes: the relay forwards it, as influxd takes it.
    const value = Buffer.from('m,t=a s="x\xff\xc3(\x00\x01\x1b\x7fy",n=1i 1600000000000000001', "latin1");
    expect(await post(relayPort, "/write?db=strings", value)).toEqual({ status: 204, error: "" });
    const before = await influxd.query("SELECT * FROM m", "strings");
    // The same field key with invalid UTF-8: the relay refuses it, naming the line; influxd takes it.
    const badKey = Buffer.from("m f\xff=2 1600000000000000002", "latin1");
    expect(await post(relayPort, "/write?db=fieldkey", badKey)).toEqual({
      status: 400,
      error: "unable to parse line 1 'm f\uFFFD=2 1600000000000000002': invalid UTF-8 in field key; nothing was written",
    });
    expect((await post(influxd.httpPort, "/write?db=fieldkey", "m f=1 1600000000000000001")).status).toBe(204);
    expect((await post(influxd.httpPort, "/write?db=fieldkey", badKey)).status).toBe(204);

    await influxd.restart();

    // The string values read back as before, and the shard takes more writes.
    expect(await influxd.query("SELECT * FROM m", "strings")).toEqual(before);
    expect((await post(influxd.httpPort, "/write?db=strings", 'm,t=a s="z",n=2i 1600000000000000003')).status).toBe(204);
    expect((await influxd.points("strings", "m")).length).toBe(2);
    // The shard with the bad field key lost what it held, and refuses every write with a 500.
    expect(await influxd.points("fieldkey", "m")).toEqual([]);
    const after = await post(influxd.httpPort, "/write?db=fieldkey", "m f=3 1600000000000000003");
    expect(after.status).toBe(500);
    expect(after.error).toMatch(/contains invalid UTF-8/);
  }, 120_000);

  it("refuses control bytes in names: influxd echoes them raw in the header of a later refusal, which HTTP forbids", async () => {
    await statement("CREATE DATABASE control");
    const name = "c\x01d";
    expect((await post(influxd.httpPort, "/write?db=control", `${name} v=1 1600000000000000001`)).status).toBe(204);
    // A field type conflict: influxd's answer carries the measurement name, control byte and all, in a header.
    const headers = await rawHeaders(influxd.httpPort, "/write?db=control", Buffer.from(`${name} v="s" 1600000000000000002`));
    const errorHeader = headers
      .toString("latin1")
      .split("\r\n")
      .find((line) => line.startsWith("X-Influxdb-Error:"));
    expect(errorHeader).toContain(`measurement "${name}"`);
    expect(await post(relayPort, "/write?db=control", `${name} v=2 1600000000000000003`)).toEqual({
      status: 400,
      error: `unable to parse line 1 '${name} v=2 1600000000000000003': control character in measurement; nothing was written`,
    });
  });
});
