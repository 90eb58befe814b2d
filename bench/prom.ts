// The remote write phase: Prometheus remote write (POST /api/v1/prom/write) straight at one real influxd (the
// baseline), then the same load through the relay, which decodes each body and fans it out unchanged to both
// replicas (ack "one", the default). Both runs send the same bodies (bench/prom-data.ts), each into a fresh
// database of its own, so neither finds the other's series or points. Afterwards both replicas must hold every
// sample the relay accepted, and the baseline's replica every sample it accepted: a mismatch fails the phase.
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import type { InfluxdProcess } from "../local/influxd.js";
import { cpuSeconds } from "./cpu.js";
import { describeExit, stopChild, type Child } from "./proc.js";
import { REMOTE_WRITE_HEADERS } from "../relay/prompb.js";
import { SAMPLES_PER_BODY, SERIES, remoteWriteBody } from "./prom-data.js";
import { runLoad, type LoadResult } from "./load.js";
import { sampleRss, type RssStats } from "./rss.js";
import { startInfluxd, startRelay, waitInSync, type Paths } from "./services.js";

export interface PromPhaseOptions {
  /** The relay's command line, as for the write phases. */
  readonly relayArgv: readonly string[];
  /** Holds the replicas' data and the relay's config and spool; removed by the caller. */
  readonly tmpDir: string;
  readonly paths: Paths;
  readonly stopGraceMs: number;
  /** Measured seconds of each run, after the warm-up. */
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly clients: number;
}

/** A remote write run: points and pointsPerSec count samples. */
export interface PromLoadResult extends LoadResult {
  /** Samples of every request answered 2xx, warm-up included: what each replica must hold afterwards. */
  readonly acceptedSamples: number;
}

export interface PromPhaseResult {
  readonly series: number;
  readonly samplesPerBody: number;
  readonly bodies: number;
  readonly meanBodyBytes: number;
  /** Straight at one influxd. */
  readonly direct: PromLoadResult & { readonly cpu: CpuPerSample };
  /** Through the relay to both replicas; rss is the relay's. */
  readonly relay: PromLoadResult & { readonly cpu: CpuPerSample; readonly rss: RssStats };
  /** relay samples/s ÷ direct samples/s */
  readonly ratio: number;
  /** Seconds after the relay's run until both its outputs were in sync with nothing queued. */
  readonly syncSeconds: number;
  /** Samples each replica holds of the relay's run, in replica order. */
  readonly replicaSamples: readonly number[];
  /** Failed requests, lost samples, a child that exited: each fails the phase. */
  readonly problems: string[];
}

/** CPU µs per accepted sample over a whole run (warm-up included): where a run's cores went. */
export interface CpuPerSample {
  /** Both influxd together (the idle one adds next to nothing to the direct run). */
  readonly influxdUs: number;
  /** 0 direct. */
  readonly relayUs: number;
}

const DIRECT_DB = "prom_direct";
const RELAY_DB = "prom_relay";
/**
 * Bodies are made before the runs (encoding them would otherwise take the CPU the runs measure), about 1.3 ms
 * and 10 KiB each, and each is sent once: enough for a run at this rate, over twice what one influxd took here.
 */
const MAX_SAMPLES_PER_SEC = 300_000;

export async function runPromPhase(opts: PromPhaseOptions): Promise<PromPhaseResult> {
  const replicas: InfluxdProcess[] = [];
  let relayChild: Child | undefined;
  const problems: string[] = [];
  try {
    const runSeconds = opts.warmupSeconds + opts.seconds;
    const bodyCount = Math.ceil((MAX_SAMPLES_PER_SEC * runSeconds) / SAMPLES_PER_BODY);
    console.log(`remote write phase: making ${int(bodyCount)} bodies of ${SAMPLES_PER_BODY} samples (${int(SERIES)} series)…`);
    const madeFrom = performance.now();
    const bodies = Array.from({ length: bodyCount }, (_, i) => remoteWriteBody(i));
    const meanBodyBytes = Math.round(bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length);
    console.log(`  ${((performance.now() - madeFrom) / 1000).toFixed(1)} s`);

    console.log("  two influxd replicas…");
    replicas.push(...(await Promise.all([1, 2].map((n) => startInfluxd(join(opts.tmpDir, `prom-influxd${n}`))))));
    await replicas[0]!.createDatabase(DIRECT_DB);
    await Promise.all(replicas.map((r) => r.createDatabase(RELAY_DB)));
    const load = async (origin: string, db: string, relayPid?: number): Promise<PromLoadResult & { cpu: CpuPerSample }> => {
      const influxdBefore = influxdCpuSeconds(replicas);
      const relayBefore = relayPid === undefined ? 0 : cpuSeconds(relayPid);
      const loaded = await runLoad({
        origin,
        path: `/api/v1/prom/write?db=${db}`,
        bodies,
        pointsPerBody: SAMPLES_PER_BODY,
        clients: opts.clients,
        warmupMs: opts.warmupSeconds * 1000,
        measureMs: opts.seconds * 1000,
        headers: REMOTE_WRITE_HEADERS,
        order: "once",
      });
      const result = { ...loaded, acceptedSamples: loaded.accepted * SAMPLES_PER_BODY };
      const perSample = (seconds: number) => (result.acceptedSamples > 0 ? (seconds * 1e6) / result.acceptedSamples : 0);
      const cpu = {
        influxdUs: perSample(influxdCpuSeconds(replicas) - influxdBefore),
        relayUs: relayPid === undefined ? 0 : perSample(cpuSeconds(relayPid) - relayBefore),
      };
      return { ...result, cpu };
    };

    console.log(`  direct: ${opts.seconds} s at ${replicas[0]!.url}…`);
    const direct = await load(replicas[0]!.url, DIRECT_DB);
    console.log(progress(direct));

    const relay = await startRelay(
      opts.relayArgv,
      replicas.map((r) => r.httpPort),
      join(opts.tmpDir, "prom-relay.toml"),
      opts.paths,
      "prom-relay",
      "influxd",
    );
    relayChild = relay.child;
    const relayOrigin = `http://127.0.0.1:${relay.port}`;
    console.log(`  relay: ${opts.seconds} s at the relay (port ${relay.port}, pid ${relay.child.pid}) in front of both…`);
    const rss = sampleRss(relay.child.pid);
    const relayLoad = await load(relayOrigin, RELAY_DB, relay.child.pid);
    const relayResult = { ...relayLoad, rss: rss.stop() };
    console.log(progress(relayResult));

    const syncStarted = performance.now();
    await waitInSync(relayOrigin);
    const syncSeconds = (performance.now() - syncStarted) / 1000;
    const directSamples = await countSamples(replicas[0]!, DIRECT_DB);
    const replicaSamples = await Promise.all(replicas.map((r) => countSamples(r, RELAY_DB)));
    console.log(
      `  both outputs in sync ${syncSeconds.toFixed(1)} s after the load; samples held: ${replicaSamples.map(int).join(" and ")} ` +
        `(relay accepted ${int(relayResult.acceptedSamples)}), ${int(directSamples)} direct (accepted ${int(direct.acceptedSamples)})`,
    );

    for (const [run, result] of [
      ["direct", direct],
      ["relay", relayResult],
    ] as const) {
      if (result.errors > 0) problems.push(`${run}: ${result.errors} requests failed, first: ${result.firstError}`);
      if (result.ranOutOfBodies)
        problems.push(`${run}: sent all ${int(bodyCount)} bodies before the window ended: raise MAX_SAMPLES_PER_SEC in bench/prom.ts`);
    }
    if (directSamples !== direct.acceptedSamples)
      problems.push(`${replicas[0]!.url} holds ${directSamples} samples of the direct run, not the ${direct.acceptedSamples} it accepted`);
    replicaSamples.forEach((held, i) => {
      if (held !== relayResult.acceptedSamples)
        problems.push(`${replicas[i]!.url} holds ${held} samples of the relay's run, not the ${relayResult.acceptedSamples} it accepted`);
    });
    return {
      series: SERIES,
      samplesPerBody: SAMPLES_PER_BODY,
      bodies: bodyCount,
      meanBodyBytes,
      direct,
      relay: relayResult,
      ratio: direct.pointsPerSec > 0 ? relayResult.pointsPerSec / direct.pointsPerSec : 0,
      syncSeconds,
      replicaSamples,
      problems,
    };
  } finally {
    if (relayChild) {
      if (relayChild.exit)
        problems.push(`${relayChild.name} exited during the run (${describeExit(relayChild.exit)}); see ${relayChild.logPath}`);
      const stop = await stopChild(relayChild, opts.stopGraceMs);
      if (stop.forced) problems.push(`${relayChild.name} did not exit within ${opts.stopGraceMs} ms of SIGTERM; killed`);
    }
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

/** Samples in `db`: influxd stores each as one point, its value in the field "value", one measurement per metric. */
async function countSamples(replica: InfluxdProcess, db: string): Promise<number> {
  const json = await replica.query("SELECT count(value) FROM /.*/", db);
  const series: Array<{ values: Array<[unknown, number]> }> = json?.results?.[0]?.series ?? [];
  return series.reduce((sum, s) => sum + Number(s.values[0]?.[1] ?? 0), 0);
}

function influxdCpuSeconds(replicas: readonly InfluxdProcess[]): number {
  return replicas.reduce((sum, r) => sum + (r.pid === undefined ? 0 : cpuSeconds(r.pid)), 0);
}

function progress(r: PromLoadResult & { cpu: CpuPerSample }): string {
  return (
    `  ${int(r.pointsPerSec)} samples/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ${r.errors} errors; ` +
    `CPU per sample: influxd ${r.cpu.influxdUs.toFixed(1)} µs, relay ${r.cpu.relayUs.toFixed(1)} µs`
  );
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
