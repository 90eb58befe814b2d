// Bounded polling: every wait in the local layout ends, in time and in number of attempts.

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between attempts; default 50 ms. */
  intervalMs?: number;
  /** Human description used in the timeout error. */
  what: string;
  /** Ends the wait early with the signal's reason (e.g. the process being waited on has exited). */
  signal?: AbortSignal;
}

/**
 * Polls `check` until it resolves true. A check that throws counts as "not yet" (a server still
 * starting answers ECONNREFUSED); the last error goes into the timeout message. Each attempt is
 * raced against the deadline and the signal, so a hanging check can stall neither the wait nor its abort.
 */
export async function waitFor(check: () => Promise<boolean>, opts: WaitForOptions): Promise<void> {
  const intervalMs = Math.max(1, opts.intervalMs ?? 50);
  const deadline = Date.now() + opts.timeoutMs;
  const maxAttempts = Math.ceil(opts.timeoutMs / intervalMs) + 1;
  let lastError: unknown;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    throwIfAborted(opts.signal, opts.what);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      if (await withDeadline(check(), remaining, opts.signal)) return;
    } catch (err) {
      lastError = err;
    }
    throwIfAborted(opts.signal, opts.what);
    const pause = Math.min(intervalMs, deadline - Date.now());
    if (pause <= 0) break;
    await sleep(pause, opts.signal);
  }
  throwIfAborted(opts.signal, opts.what);
  const detail = lastError === undefined ? "" : ` (last error: ${errorMessage(lastError)})`;
  throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}${detail}`);
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves like `p`, or rejects with a timeout error naming `what` once `ms` have passed. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    // undici and node:net put the useful bit (ECONNREFUSED) on .code.
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${err.message} [${code}]` : err.message;
  }
  return String(err);
}

const GAVE_UP = Symbol("gave up");

/** `p`'s value, or false once `ms` have passed or `signal` aborts (the caller then looks at the signal). */
async function withDeadline(p: Promise<boolean>, ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const timeout = new Promise<typeof GAVE_UP>((resolve) => {
    timer = setTimeout(() => resolve(GAVE_UP), ms);
    onAbort = () => resolve(GAVE_UP);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return (await Promise.race([p, timeout])) === true;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof Error) throw reason;
  throw new Error(`aborted while waiting for ${what}`);
}
