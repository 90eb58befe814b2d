// A bounded write load for fault tests: numbered batches of points with distinct timestamps, each
// retried as a client would until it is acknowledged (204), by one or more concurrent writers, while a
// fault script (kill this, wait for that, restart it) runs alongside at chosen points of the load.
import { request } from "undici";
import { sleep } from "./ports.js";

export interface LoadProgress {
  /** Batches acknowledged so far. */
  readonly acked: number;
  /** Resolves once `n` batches are acknowledged; rejects if the load ends first. */
  reached(n: number): Promise<void>;
}

export interface WriteLoadOptions {
  /** Full write URL, e.g. http://127.0.0.1:8086/write?db=faults */
  readonly url: string;
  /** The load stops at this many batches, or as soon as the script is done, whichever is first. */
  readonly maxBatches: number;
  readonly pointsPerBatch: number;
  readonly measurement?: string;
  /** Writers in flight at once; default 1 (batches are then written in order). */
  readonly concurrency?: number;
  /** Pause of each writer between its batches; default 0. */
  readonly pauseMs?: number;
  readonly attemptsPerBatch?: number;
  readonly deadlineMs?: number;
}

export interface WriteLoadResult {
  readonly acked: number;
  /** Attempts that were not acknowledged (and so were retried). */
  readonly failedAttempts: number;
}

const LOAD_MEASUREMENT = "load";

export function batchBody(batch: number, pointsPerBatch: number, measurement = LOAD_MEASUREMENT): string {
  return Array.from(
    { length: pointsPerBatch },
    (_, i) => `${measurement},batch=b${batch} v=${batch * 1000 + i} ${1_700_000_000_000_000_000n + BigInt(batch * 1000 + i)}`,
  ).join("\n");
}

/** POSTs one body; the status, or 0 when there was no answer at all. */
export async function post(url: string, body: string): Promise<number> {
  try {
    const res = await request(url, { method: "POST", body, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return 0;
  }
}

/** Runs the load and `script` together; the load ends when the script is done (or at maxBatches). */
export async function writeLoad(opts: WriteLoadOptions, script: (load: LoadProgress) => Promise<void>): Promise<WriteLoadResult> {
  const attemptsPerBatch = opts.attemptsPerBatch ?? 200;
  const deadline = Date.now() + (opts.deadlineMs ?? 60_000);
  let next = 0;
  let acked = 0;
  let failedAttempts = 0;
  let ended = false;
  const waiters = new Set<{ n: number; resolve: () => void; reject: (err: Error) => void }>();
  const settleWaiters = (): void => {
    for (const w of waiters) {
      if (acked >= w.n) w.resolve();
      else if (ended) w.reject(new Error(`the load ended at ${acked} batches, before ${w.n}`));
      else continue;
      waiters.delete(w);
    }
  };
  const progress: LoadProgress = {
    get acked() {
      return acked;
    },
    reached: (n) =>
      new Promise<void>((resolve, reject) => {
        waiters.add({ n, resolve, reject });
        settleWaiters();
      }),
  };

  const writer = async (): Promise<void> => {
    while (next < opts.maxBatches && !ended) {
      const batch = next++;
      const body = batchBody(batch, opts.pointsPerBatch, opts.measurement);
      for (let attempt = 1; (await post(opts.url, body)) !== 204; attempt++) {
        failedAttempts++;
        if (attempt >= attemptsPerBatch || Date.now() > deadline) throw new Error(`batch ${batch} never acknowledged`);
        await sleep(50);
      }
      acked++;
      settleWaiters();
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  };
  const end = (): void => {
    ended = true; // the other writers stop at their next batch, and the script's waits fail
    settleWaiters();
  };
  const writers = Array.from({ length: opts.concurrency ?? 1 }, () =>
    writer().catch((err: unknown) => {
      end();
      throw err;
    }),
  );
  const writersDone = Promise.allSettled(writers).then((results) => {
    end();
    return results;
  });
  const [writerResults, scriptResult] = await Promise.all([writersDone, Promise.allSettled([script(progress).finally(end)])]);
  // A writer's failure explains the script's ("the load ended ...") too, so it goes first.
  const failure = [...writerResults, ...scriptResult].find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
  return { acked, failedAttempts };
}
