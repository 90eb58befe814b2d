// The query phase's two ways of asking: many small GET /query requests timed one by one (latency), and one
// large chunked answer streamed and counted, never kept (throughput). Every loop is bounded in count and time.
import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export interface LatencyRun {
  /** e.g. ["http://127.0.0.1:8086"]; requests go round-robin over them, as the relay spreads its reads. */
  readonly origins: readonly string[];
  /** e.g. /query?db=x&q=SHOW%20DATABASES */
  readonly path: string;
  readonly clients: number;
  readonly warmupRequests: number;
  readonly requests: number;
  readonly deadlineMs: number;
}

export interface LatencySample {
  /** Milliseconds of each measured request, from sending it to the last byte of its answer. */
  readonly latenciesMs: number[];
  /** Wall-clock seconds of the measured requests. */
  readonly seconds: number;
  /** Requests answered well, warm-up included. */
  readonly answered: number;
  readonly errors: number;
  readonly firstError: string | null;
}

// A broken target ends the run quickly instead of spinning on failures until the deadline.
const MAX_ERRORS = 20;
const REQUEST_TIMEOUT_MS = 30_000;

export async function timeRequests(run: LatencyRun): Promise<LatencySample> {
  const pools = run.origins.map(
    (origin) => new Pool(origin, { connections: run.clients, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS }),
  );
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let issued = 0;
  let answered = 0;
  const total = run.warmupRequests + run.requests;
  const deadline = performance.now() + run.deadlineMs;
  let measuredFrom = Number.NaN;
  let measuredTo = 0;

  async function client(): Promise<void> {
    while (issued < total && errors < MAX_ERRORS && performance.now() < deadline) {
      const n = issued++;
      const measured = n >= run.warmupRequests;
      const pool = pools[n % pools.length]!;
      const start = performance.now();
      if (measured && Number.isNaN(measuredFrom)) measuredFrom = start;
      try {
        const res = await pool.request({ method: "GET", path: run.path });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        if (text.includes('"error"')) throw new Error(`error in the answer: ${text.slice(0, 200)}`);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        continue;
      }
      const end = performance.now();
      answered++;
      if (measured) {
        latenciesMs.push(end - start);
        measuredTo = Math.max(measuredTo, end);
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: run.clients }, () => client()));
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
  const seconds = Number.isNaN(measuredFrom) ? 0 : (measuredTo - measuredFrom) / 1000;
  return { latenciesMs, seconds, answered, errors, firstError };
}

export interface StreamedAnswer {
  readonly bytes: number;
  readonly seconds: number;
  /** From sending the request to the first byte of the answer's body. */
  readonly firstByteMs: number;
}

/**
 * GETs `origin + path` and counts the answer's bytes as they come. Throws on a non-200 status, on an
 * answer whose end is not a complete JSON chunk, or one whose end carries an error, so a truncated or
 * failed stream never passes for a fast one.
 */
export async function streamAnswer(origin: string, path: string, timeoutMs: number): Promise<StreamedAnswer> {
  const pool = new Pool(origin, { connections: 1, headersTimeout: timeoutMs, bodyTimeout: REQUEST_TIMEOUT_MS });
  try {
    const start = performance.now();
    const res = await pool.request({ method: "GET", path, signal: AbortSignal.timeout(timeoutMs) });
    if (res.statusCode !== 200) throw new Error(`${origin}: HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
    let bytes = 0;
    // Headers alone say little: influxd sends them before it has rows, a proxy may send them with the first.
    let firstByteMs = Number.NaN;
    let tail: Buffer = Buffer.alloc(0);
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (bytes === 0) firstByteMs = performance.now() - start;
      bytes += chunk.length;
      // Only the last few hundred bytes are kept: enough to see how the answer ended.
      tail = chunk.length >= TAIL_BYTES ? chunk.subarray(chunk.length - TAIL_BYTES) : Buffer.concat([tail, chunk]).subarray(-TAIL_BYTES);
    }
    const seconds = (performance.now() - start) / 1000;
    // Every chunk but the last says "partial":true; an error comes as a chunk of its own.
    const end = tail.toString("utf8");
    if (!end.endsWith("}]}\n") || end.endsWith('"partial":true}]}\n') || end.includes('"error"')) {
      throw new Error(`${origin}: the answer ends badly: …${end.slice(-200)}`);
    }
    return { bytes, seconds, firstByteMs };
  } finally {
    await pool.destroy();
  }
}

const TAIL_BYTES = 512;

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
