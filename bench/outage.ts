// The outage phases, run against the relay after its both-up phase: one sink stopped so its writes go
// to the queue on disk; the load kept on until the backlog reaches BACKLOG_BYTES; then the sink started
// again on the same port and the replay timed until the queue is empty. RSS is sampled throughout.
import { performance } from "node:perf_hooks";
import { request } from "undici";
import { sleep } from "../local/wait.js";
import type { LoadResult } from "./load.js";
import { stopChild } from "./proc.js";
import { sampleRss } from "./rss.js";
import type { Service } from "./services.js";

export interface OutageResult {
  /** The load with one output down. */
  oneDown: LoadResult;
  /** oneDown points/s ÷ the both-up relay phase's points/s. */
  ratio: number;
  backlog: {
    /** Bytes and entries queued on disk when the load stopped. */
    bytes: number;
    entries: number;
    /** Highest VmRSS while the backlog grew to `bytes`, under full load. */
    rssPeakMiB: number;
    /** VmRSS with the backlog on disk and no load. */
    rssIdleMiB: number;
  };
  replay: {
    seconds: number;
    points: number;
    pointsPerSec: number;
    mibPerSec: number;
    /** Highest VmRSS while replaying the backlog. */
    rssPeakMiB: number;
  };
}

export interface OutageOptions {
  readonly relayPort: number;
  readonly relayPid: number;
  /** The sink to stop; it is started again on the same port for the replay. */
  readonly downSink: Service;
  /** Index of the down sink's output in the relay's /status. */
  readonly downOutput: number;
  readonly restartSink: (port: number) => Promise<Service>;
  /** Runs the load at the relay for `seconds` (no warm-up when `warm` is false). */
  readonly load: (seconds: number, warm: boolean) => Promise<LoadResult>;
  readonly seconds: number;
  readonly bothUpPointsPerSec: number;
  readonly backlogBytes: number;
  readonly stopGraceMs: number;
}

/** Bounds for the fill and replay loops. */
const FILL_CHUNK_SECONDS = 5;
const FILL_DEADLINE_MS = 180_000;
const REPLAY_DEADLINE_MS = 300_000;
const POLL_MS = 250;
const IDLE_SETTLE_MS = 2_000;

export async function runOutage(opts: OutageOptions): Promise<{ result: OutageResult; sink: Service }> {
  await stopChild(opts.downSink.child, opts.stopGraceMs);
  const filling = sampleRss(opts.relayPid);
  console.log(`one output down: ${opts.seconds} s at the relay, its writes queued on disk…`);
  const oneDown = await opts.load(opts.seconds, true);
  const fillDeadline = performance.now() + FILL_DEADLINE_MS;
  let queue = await queueOf(opts);
  while (queue.bytes < opts.backlogBytes && performance.now() < fillDeadline) {
    console.log(`  backlog ${mib(queue.bytes)} of ${mib(opts.backlogBytes)}; loading on…`);
    await opts.load(FILL_CHUNK_SECONDS, false);
    queue = await queueOf(opts);
  }
  const rssPeakMiB = filling.stop().sampledPeakMiB;
  await sleep(IDLE_SETTLE_MS);
  const idle = sampleRss(opts.relayPid).stop();
  console.log(
    `  backlog ${mib(queue.bytes)} in ${queue.entries} entries; RSS ${idle.endMiB} MiB idle, ${rssPeakMiB} MiB peak while filling`,
  );

  const sink = await opts.restartSink(opts.downSink.port);
  const replaying = sampleRss(opts.relayPid);
  const started = performance.now();
  const before = await queueOf(opts);
  for (let now = started; before.entries > 0 && now - started < REPLAY_DEADLINE_MS; now = performance.now()) {
    if ((await queueOf(opts)).entries === 0) break;
    await sleep(POLL_MS);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = await queueOf(opts);
  if (after.entries > 0)
    throw new Error(`the queue still held ${after.entries} entries ${REPLAY_DEADLINE_MS / 1000} s after the sink came back`);
  const points = after.replayedPoints - before.replayedPoints;
  const bytes = after.replayedBytes - before.replayedBytes;
  return {
    sink,
    result: {
      oneDown,
      ratio: opts.bothUpPointsPerSec > 0 ? oneDown.pointsPerSec / opts.bothUpPointsPerSec : 0,
      backlog: { bytes: queue.bytes, entries: queue.entries, rssPeakMiB, rssIdleMiB: idle.endMiB },
      replay: {
        seconds,
        points,
        pointsPerSec: seconds > 0 ? points / seconds : 0,
        mibPerSec: seconds > 0 ? bytes / 1024 / 1024 / seconds : 0,
        rssPeakMiB: replaying.stop().sampledPeakMiB,
      },
    },
  };
}

interface QueueState {
  bytes: number;
  entries: number;
  replayedPoints: number;
  replayedBytes: number;
}

async function queueOf(opts: OutageOptions): Promise<QueueState> {
  const res = await request(`http://127.0.0.1:${opts.relayPort}/status`);
  const status = (await res.body.json()) as {
    outputs: Array<{ queue: { bytes: number; entries: number }; totals: { replayed: { points: number; bytes: number } } }>;
  };
  const output = status.outputs[opts.downOutput];
  if (!output) throw new Error(`the relay's /status has no output #${opts.downOutput}`);
  return { ...output.queue, replayedPoints: output.totals.replayed.points, replayedBytes: output.totals.replayed.bytes };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}
