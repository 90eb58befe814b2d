// The query phase: two real influxd replicas behind a relay of their own, loaded with the same data through
// the relay's /write, then read three ways: straight from a replica (the baseline), through the bare
// pass-through (bench/passthrough.ts: what moving the bytes through one more hop costs), and through the
// relay's /query, which classifies each read, picks a replica in sync and streams its answer back. Small
// queries measure the latency each adds; one large chunked SELECT measures throughput, and the relay's
// memory, which must stay flat however large the answer.
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { request } from "undici";
import type { InfluxdProcess } from "../local/influxd.js";
import { sleep } from "../local/wait.js";
import { cpuSeconds } from "./cpu.js";
import { stopChild, describeExit, type Child } from "./proc.js";
import { BIG_MEASUREMENT, QUERY_DB, QUERY_WRITE_PRECISION, SMALL_MEASUREMENT, queryDataset, type QueryDataset } from "./query-data.js";
import { median, percentile, streamAnswer, timeRequests, type LatencySample, type StreamedAnswer } from "./query-load.js";
import { sampleRss } from "./rss.js";
import { startInfluxd, startRelay, waitInSync, type Paths } from "./services.js";

export interface QueryPhaseOptions {
  /** The relay's command line, as for the write phases. */
  readonly relayArgv: readonly string[];
  /** The bare pass-through's command line. */
  readonly passthroughArgv: readonly string[];
  /** Holds the replicas' data and the relay's config and spool; removed by the caller. */
  readonly tmpDir: string;
  readonly paths: Paths;
  readonly stopGraceMs: number;
}

export interface LatencyStats {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requestsPerSec: number;
  readonly errors: number;
  readonly firstError: string | null;
  /** CPU the proxy in between (pass-through or relay) spent per request, in µs; 0 direct. */
  readonly proxyCpuUsPerRequest: number;
}

/** Where a read is sent: a replica itself, the bare pass-through, or the relay. */
export const QUERY_TARGETS = ["direct", "passthrough", "relay"] as const;
export type QueryTarget = (typeof QUERY_TARGETS)[number];

export interface SmallQueryResult {
  /** The InfluxQL, as sent in q. */
  readonly query: string;
  readonly clients: number;
  readonly targets: Record<QueryTarget, LatencyStats>;
  /** relay p50 − direct p50. */
  readonly p50OverheadMs: number;
  /** pass-through p50 − direct p50: the share of the overhead that any extra hop costs. */
  readonly passthroughP50OverheadMs: number;
}

export interface StreamStats {
  /** Median over the rounds. */
  readonly mbPerSec: number;
  readonly firstByteMs: number;
  /** Each round's MB/s, in order. */
  readonly roundsMbPerSec: number[];
  /** CPU the serving influxd used per second of streaming (1 = one core), median over the rounds. */
  readonly influxdCores: number;
  /** CPU the benchmark's own process used per second of streaming. */
  readonly clientCores: number;
  /** CPU the proxy in between (pass-through or relay) used per second of streaming; 0 direct. */
  readonly proxyCores: number;
  /** The proxy's CPU per MB streamed, in ms: its own ceiling, whatever else the machine is doing. 0 direct. */
  readonly proxyCpuMsPerMb: number;
}

export interface LargeQueryResult {
  readonly query: string;
  /** Size of the answer (identical whichever way it came). */
  readonly bytes: number;
  readonly targets: Record<QueryTarget, StreamStats>;
  /** relay MB/s ÷ direct MB/s (medians). */
  readonly ratio: number;
  /** relay MB/s ÷ pass-through MB/s (medians). */
  readonly passthroughRatio: number;
  /** The relay's VmRSS just before its first large answer, highest while streaming it, and after. */
  readonly relayRss: { readonly beforeMiB: number; readonly peakMiB: number; readonly afterMiB: number };
}

export interface QueryPhaseResult {
  readonly influxdVersion: string;
  readonly load: { readonly points: number; readonly bytes: number; readonly seconds: number; readonly syncSeconds: number };
  readonly small: SmallQueryResult[];
  readonly large: LargeQueryResult;
  /** What went wrong without spoiling the figures: a child that exited, a forced stop. */
  readonly problems: string[];
}

const MB = 1_000_000;
const BIG_POINTS = 400_000;
const PAYLOAD_CHARS = 256;
const SMALL_POINTS = 1_000;
const LINES_PER_BODY = 10_000;
const LOAD_CLIENTS = 4;
const LOAD_DEADLINE_MS = 180_000;

/** The answer of the large query must be at least this big, or it measures set-up rather than streaming. */
export const MIN_LARGE_ANSWER_BYTES = 100 * MB;
const LARGE_QUERY = `SELECT * FROM ${BIG_MEASUREMENT}`;
const LARGE_CHUNK_SIZE = 10_000;
const LARGE_ROUNDS = 5;
const LARGE_TIMEOUT_MS = 120_000;
/** Quiet time before and after the relay's large answers, so RSS "before" and "after" are at rest. */
const RSS_SETTLE_MS = 2_000;
const RSS_INTERVAL_MS = 50;

const SMALL_QUERIES = [
  { q: "SHOW DATABASES", db: undefined },
  { q: `SELECT last(v) FROM ${SMALL_MEASUREMENT} WHERE host='h1'`, db: QUERY_DB },
] as const;
const SMALL_CLIENTS = [1, 4] as const;
/** The targets take turns in blocks, so a drift of the machine's speed hits them all alike. */
const SMALL_ROUNDS = 4;
const SMALL_REQUESTS_PER_BLOCK = 500;
const SMALL_WARMUP_PER_BLOCK = 25;
const SMALL_WARMUP = 1_000;
const SMALL_BLOCK_DEADLINE_MS = 15_000;

export async function runQueryPhase(opts: QueryPhaseOptions): Promise<QueryPhaseResult> {
  const replicas: InfluxdProcess[] = [];
  const proxies: Child[] = [];
  const problems: string[] = [];
  try {
    console.log("query phase: two influxd replicas, the relay and the bare pass-through in front of them…");
    replicas.push(...(await Promise.all([1, 2].map((n) => startInfluxd(join(opts.tmpDir, `influxd${n}`))))));
    const replicaPorts = replicas.map((r) => r.httpPort);
    const relay = await startRelay(
      opts.relayArgv,
      replicaPorts,
      join(opts.tmpDir, "query-relay.toml"),
      opts.paths,
      "query-relay",
      "influxd",
    );
    proxies.push(relay.child);
    const passthrough = await startRelay(
      opts.passthroughArgv,
      replicaPorts,
      join(opts.tmpDir, "query-passthrough.toml"),
      opts.paths,
      "query-passthrough",
      "influxd",
    );
    proxies.push(passthrough.child);
    const relayOrigin = `http://127.0.0.1:${relay.port}`;
    const replicaOrigins = replicas.map((r) => r.url);
    // Reads through a proxy go to either replica in turn; the baseline spreads its own likewise.
    const origins: Record<QueryTarget, readonly string[]> = {
      direct: replicaOrigins,
      passthrough: [`http://127.0.0.1:${passthrough.port}`],
      relay: [relayOrigin],
    };
    const pids: Record<QueryTarget, number | undefined> = { direct: undefined, passthrough: passthrough.child.pid, relay: relay.child.pid };
    const influxdVersion = await versionOf(replicaOrigins[0]!);

    const dataset = queryDataset(BIG_POINTS, SMALL_POINTS, PAYLOAD_CHARS, LINES_PER_BODY);
    await createDatabase(relayOrigin);
    console.log(`  loading ${int(BIG_POINTS + SMALL_POINTS)} points through the relay into both replicas…`);
    const load = await loadThrough(relayOrigin, dataset);
    const syncStarted = performance.now();
    await waitInSync(relayOrigin);
    const syncSeconds = (performance.now() - syncStarted) / 1000;
    console.log(
      `  ${(load.bytes / MB).toFixed(0)} MB in ${load.seconds.toFixed(1)} s, both outputs in sync ${syncSeconds.toFixed(1)} s later`,
    );
    await checkCounts(replicas, dataset);

    const small: SmallQueryResult[] = [];
    for (const { q, db } of SMALL_QUERIES) {
      const path = queryPath(q, db === undefined ? {} : { db });
      // The proxies' read paths are cold (the relay's JIT has seen writes only): warm every target up, untimed.
      for (const target of QUERY_TARGETS) {
        await timeRequests({
          origins: origins[target],
          path,
          clients: 1,
          warmupRequests: SMALL_WARMUP,
          requests: 0,
          deadlineMs: SMALL_BLOCK_DEADLINE_MS,
        });
      }
      for (const clients of SMALL_CLIENTS) {
        const result = await compareSmall(q, path, clients, origins, pids);
        const p50 = (target: QueryTarget) => result.targets[target].p50Ms.toFixed(2);
        console.log(
          `  ${q}, ${clients} client(s): p50 ${p50("direct")} ms direct, ${p50("passthrough")} ms through ` +
            `the pass-through, ${p50("relay")} ms through the relay (+${result.p50OverheadMs.toFixed(2)} ms)`,
        );
        small.push(result);
      }
    }

    const large = await compareLarge(replicas, origins, pids);
    const rss = large.relayRss;
    console.log(
      `  ${LARGE_QUERY}: ${(large.bytes / MB).toFixed(0)} MB; relay RSS ${rss.beforeMiB} MiB before, ${rss.peakMiB} MiB peak, ` +
        `${rss.afterMiB} MiB after`,
    );

    for (const child of proxies) {
      if (child.exit) problems.push(`${child.name} exited during the run (${describeExit(child.exit)}); see ${child.logPath}`);
    }
    return { influxdVersion, load: { ...load, syncSeconds }, small, large, problems };
  } finally {
    for (const child of proxies) {
      const stop = await stopChild(child, opts.stopGraceMs);
      if (stop.forced) problems.push(`${child.name} did not exit within ${opts.stopGraceMs} ms of SIGTERM; killed`);
    }
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

/** GET /query path with q and the given parameters. */
function queryPath(q: string, params: Record<string, string>): string {
  return `/query?${new URLSearchParams({ ...params, q })}`;
}

async function versionOf(origin: string): Promise<string> {
  const res = await request(`${origin}/ping`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  await res.body.dump();
  const version = res.headers["x-influxdb-version"];
  return (Array.isArray(version) ? version[0] : version) ?? "unknown";
}

/** Through the relay, like a client: it reaches every replica by the ordered, durable path of writes. */
async function createDatabase(relayOrigin: string): Promise<void> {
  const res = await request(`${relayOrigin}/query`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ q: `CREATE DATABASE ${QUERY_DB}` }).toString(),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || text.includes('"error"'))
    throw new Error(`CREATE DATABASE through the relay: HTTP ${res.statusCode}: ${text}`);
}

/** POSTs every body of the dataset to the relay's /write, LOAD_CLIENTS at a time. */
async function loadThrough(relayOrigin: string, dataset: QueryDataset): Promise<{ points: number; bytes: number; seconds: number }> {
  const path = `/write?${new URLSearchParams({ db: QUERY_DB, precision: QUERY_WRITE_PRECISION })}`;
  const started = performance.now();
  const deadline = started + LOAD_DEADLINE_MS;
  let next = 0;
  let bytes = 0;
  async function client(): Promise<void> {
    while (next < dataset.bodyCount) {
      if (performance.now() > deadline) throw new Error(`loading the query data took more than ${LOAD_DEADLINE_MS / 1000} s`);
      const body = dataset.body(next++);
      const res = await request(`${relayOrigin}${path}`, {
        method: "POST",
        body,
        headers: { "content-type": "text/plain; charset=utf-8" },
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 204)
        throw new Error(`writing the query data through the relay: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
      bytes += body.length;
    }
  }
  await Promise.all(Array.from({ length: LOAD_CLIENTS }, () => client()));
  return { points: dataset.bigPoints + dataset.smallPoints, bytes, seconds: (performance.now() - started) / 1000 };
}

/** Both replicas hold every point: otherwise the relay's answers would depend on which one it picked. */
async function checkCounts(replicas: readonly InfluxdProcess[], dataset: QueryDataset): Promise<void> {
  for (const replica of replicas) {
    for (const [measurement, expected] of [
      [BIG_MEASUREMENT, dataset.bigPoints],
      [SMALL_MEASUREMENT, dataset.smallPoints],
    ] as const) {
      const json = await replica.query(`SELECT count(v) FROM ${measurement}`, QUERY_DB);
      const count = Number(json?.results?.[0]?.series?.[0]?.values?.[0]?.[1]);
      if (count !== expected) throw new Error(`${replica.url} holds ${count} points of ${measurement}, not ${expected}`);
    }
  }
}

async function compareSmall(
  q: string,
  path: string,
  clients: number,
  origins: Record<QueryTarget, readonly string[]>,
  proxyPids: Record<QueryTarget, number | undefined>,
): Promise<SmallQueryResult> {
  const samples: Record<QueryTarget, ProxiedSample[]> = { direct: [], passthrough: [], relay: [] };
  for (let round = 0; round < SMALL_ROUNDS; round++) {
    for (const target of QUERY_TARGETS) {
      const pid = proxyPids[target];
      const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
      const sample = await timeRequests({
        origins: origins[target],
        path,
        clients,
        warmupRequests: SMALL_WARMUP_PER_BLOCK,
        requests: SMALL_REQUESTS_PER_BLOCK,
        deadlineMs: SMALL_BLOCK_DEADLINE_MS,
      });
      samples[target].push({ ...sample, proxyCpuSeconds: pid === undefined ? 0 : cpuSeconds(pid) - cpuBefore });
    }
  }
  const targets = {
    direct: latencyStats(samples.direct),
    passthrough: latencyStats(samples.passthrough),
    relay: latencyStats(samples.relay),
  };
  return {
    query: q,
    clients,
    targets,
    p50OverheadMs: targets.relay.p50Ms - targets.direct.p50Ms,
    passthroughP50OverheadMs: targets.passthrough.p50Ms - targets.direct.p50Ms,
  };
}

interface ProxiedSample extends LatencySample {
  /** CPU the proxy used during the block (warm-up included); 0 direct. */
  readonly proxyCpuSeconds: number;
}

function latencyStats(samples: readonly ProxiedSample[]): LatencyStats {
  const all = samples.flatMap((s) => s.latenciesMs).sort((a, b) => a - b);
  const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
  const answered = samples.reduce((sum, s) => sum + s.answered, 0);
  const proxyCpuSeconds = samples.reduce((sum, s) => sum + s.proxyCpuSeconds, 0);
  return {
    requests: all.length,
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
    requestsPerSec: seconds > 0 ? all.length / seconds : 0,
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
    firstError: samples.find((s) => s.firstError !== null)?.firstError ?? null,
    proxyCpuUsPerRequest: answered > 0 ? (proxyCpuSeconds * 1e6) / answered : 0,
  };
}

interface MeasuredStream extends StreamedAnswer {
  influxdCpuSeconds: number;
  clientCpuSeconds: number;
  proxyCpuSeconds: number;
}

async function compareLarge(
  replicas: readonly InfluxdProcess[],
  origins: Record<QueryTarget, readonly string[]>,
  proxyPids: Record<QueryTarget, number | undefined>,
): Promise<LargeQueryResult> {
  const path = queryPath(LARGE_QUERY, { db: QUERY_DB, chunked: "true", chunk_size: String(LARGE_CHUNK_SIZE) });
  const relayPid = proxyPids.relay!;
  const measured = async (origin: string, proxyPid: number | undefined): Promise<MeasuredStream> => {
    const influxdBefore = replicas.map((r) => (r.pid === undefined ? 0 : cpuSeconds(r.pid)));
    const proxyBefore = proxyPid === undefined ? 0 : cpuSeconds(proxyPid);
    const clientBefore = process.cpuUsage();
    const answer = await streamAnswer(origin, path, LARGE_TIMEOUT_MS);
    const client = process.cpuUsage(clientBefore);
    const influxdAfter = replicas.map((r) => (r.pid === undefined ? 0 : cpuSeconds(r.pid)));
    return {
      ...answer,
      influxdCpuSeconds: influxdAfter.reduce((sum, after, i) => sum + after - influxdBefore[i]!, 0),
      clientCpuSeconds: (client.user + client.system) / 1e6,
      proxyCpuSeconds: proxyPid === undefined ? 0 : cpuSeconds(proxyPid) - proxyBefore,
    };
  };

  // Warm-up: both replicas read their files once (page cache), and must give the same answer.
  console.log(`  ${LARGE_QUERY} (chunked, ${int(LARGE_CHUNK_SIZE)} rows a chunk): warming up on each replica…`);
  const warm = [];
  for (const replica of replicas) warm.push(await streamAnswer(replica.url, path, LARGE_TIMEOUT_MS));
  const bytes = warm[0]!.bytes;
  if (warm.some((w) => w.bytes !== bytes))
    throw new Error(`the replicas' answers differ in size: ${warm.map((w) => w.bytes).join(" vs ")} bytes`);
  if (bytes < MIN_LARGE_ANSWER_BYTES)
    throw new Error(`the large answer is ${(bytes / MB).toFixed(1)} MB, under ${MIN_LARGE_ANSWER_BYTES / MB} MB: load more points`);

  const streams: Record<QueryTarget, MeasuredStream[]> = { direct: [], passthrough: [], relay: [] };
  let peakMiB = 0;
  await sleep(RSS_SETTLE_MS);
  const beforeMiB = sampleRss(relayPid).stop().endMiB;
  for (let round = 0; round < LARGE_ROUNDS; round++) {
    for (const target of QUERY_TARGETS) {
      const targetOrigins = origins[target];
      const origin = targetOrigins[round % targetOrigins.length]!;
      const rss = target === "relay" ? sampleRss(relayPid, RSS_INTERVAL_MS) : undefined;
      streams[target].push(await measured(origin, proxyPids[target]));
      if (rss) peakMiB = Math.max(peakMiB, rss.stop().sampledPeakMiB);
    }
    const mbPerSec = (target: QueryTarget) => (bytes / MB / streams[target][round]!.seconds).toFixed(1);
    console.log(
      `  round ${round + 1}: ${mbPerSec("direct")} MB/s direct, ${mbPerSec("passthrough")} MB/s through the pass-through, ` +
        `${mbPerSec("relay")} MB/s through the relay`,
    );
  }
  await sleep(RSS_SETTLE_MS);
  const afterMiB = sampleRss(relayPid).stop().endMiB;

  const mismatch = QUERY_TARGETS.flatMap((target) => streams[target]).find((s) => s.bytes !== bytes);
  if (mismatch) throw new Error(`an answer of ${mismatch.bytes} bytes instead of ${bytes}: a stream was cut or altered`);
  const targets = {
    direct: streamStats(streams.direct),
    passthrough: streamStats(streams.passthrough),
    relay: streamStats(streams.relay),
  };
  return {
    query: LARGE_QUERY,
    bytes,
    targets,
    ratio: targets.direct.mbPerSec > 0 ? targets.relay.mbPerSec / targets.direct.mbPerSec : 0,
    passthroughRatio: targets.passthrough.mbPerSec > 0 ? targets.relay.mbPerSec / targets.passthrough.mbPerSec : 0,
    relayRss: { beforeMiB, peakMiB, afterMiB },
  };
}

function streamStats(streams: readonly MeasuredStream[]): StreamStats {
  const roundsMbPerSec = streams.map((s) => s.bytes / MB / s.seconds);
  return {
    mbPerSec: median(roundsMbPerSec),
    firstByteMs: median(streams.map((s) => s.firstByteMs)),
    roundsMbPerSec,
    influxdCores: median(streams.map((s) => s.influxdCpuSeconds / s.seconds)),
    clientCores: median(streams.map((s) => s.clientCpuSeconds / s.seconds)),
    proxyCores: median(streams.map((s) => s.proxyCpuSeconds / s.seconds)),
    proxyCpuMsPerMb: median(streams.map((s) => (s.proxyCpuSeconds * 1000) / (s.bytes / MB))),
  };
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
