// The load: N clients, each POSTing one pre-generated body after another over
// its own keep-alive connection, for a warm-up and then a measured window. Bodies are
// cycled (line protocol), or each sent once in order (remote write: every request then
// writes new points, since overwriting a point costs influxd less than writing one).
import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export interface LoadOptions {
  /** e.g. http://127.0.0.1:8086 */
  origin: string;
  /** e.g. /write?db=bench&precision=ns */
  path: string;
  bodies: readonly Buffer[];
  pointsPerBody: number;
  clients: number;
  warmupMs: number;
  measureMs: number;
  /** Default: line protocol's text/plain. */
  headers?: Readonly<Record<string, string>>;
  /** "cycle" (default): each client starts at its own body and goes round; "once": every body once, then stop. */
  order?: "cycle" | "once";
}

export interface LoadResult {
  seconds: number;
  requests: number;
  points: number;
  pointsPerSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed or non-2xx requests, warm-up included. */
  errors: number;
  firstError: string | null;
  /** Requests answered 2xx, warm-up included. */
  accepted: number;
  /** order "once": every body was sent before the window ended. */
  ranOutOfBodies: boolean;
}

// A broken target ends the phase quickly instead of spinning on failures until the deadline.
const MAX_ERRORS = 100;
// Bounds each request, so a stalled target cannot hang the benchmark.
const REQUEST_TIMEOUT_MS = 30_000;

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  if (opts.bodies.length === 0) throw new Error("runLoad: no bodies");
  const pool = new Pool(opts.origin, {
    connections: opts.clients,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let accepted = 0;
  let next = 0;
  let ranOutOfBodies = false;
  const headers = opts.headers ?? { "content-type": "text/plain; charset=utf-8" };
  const nextBody = (n: number): Buffer | undefined => {
    if (opts.order !== "once") return opts.bodies[n % opts.bodies.length];
    if (next < opts.bodies.length) return opts.bodies[next++];
    ranOutOfBodies = true;
    return undefined;
  };

  const measureFrom = performance.now() + opts.warmupMs;
  const deadline = measureFrom + opts.measureMs;
  let lastEnd = measureFrom;

  async function client(id: number): Promise<void> {
    // Each client starts at a different body so they do not send the same data in lockstep.
    for (let n = id; errors < MAX_ERRORS && performance.now() < deadline; n++) {
      const body = nextBody(n);
      if (body === undefined) return;
      const start = performance.now();
      try {
        const res = await pool.request({ method: "POST", path: opts.path, body, headers });
        if (res.statusCode < 200 || res.statusCode > 299) {
          const text = await res.body.text();
          throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        }
        await res.body.dump();
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        continue;
      }
      accepted++;
      const end = performance.now();
      // Only requests issued inside the measured window count; the window ends
      // when the last of them completes.
      if (start >= measureFrom) {
        latencies.push(end - start);
        lastEnd = Math.max(lastEnd, end);
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: opts.clients }, (_, id) => client(id)));
  } finally {
    await pool.close();
  }

  const seconds = (lastEnd - measureFrom) / 1000;
  const requests = latencies.length;
  const points = requests * opts.pointsPerBody;
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    requests,
    points,
    pointsPerSec: seconds > 0 ? points / seconds : 0,
    requestsPerSec: seconds > 0 ? requests / seconds : 0,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
    firstError,
    accepted,
    ranOutOfBodies,
  };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}
