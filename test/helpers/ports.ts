// Port allocation and bounded polling for tests. Everything binds to 127.0.0.1 only.
import dgram from 'node:dgram';
import net from 'node:net';

const LOOPBACK = '127.0.0.1';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. There is an unavoidable
 * race between closing our probe and the real user binding it, so callers
 * that spawn other processes should be ready to retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        server.close();
        reject(new Error('freePort: unexpected server address'));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(addr.port)));
    });
  });
}

/** A UDP port that was free on 127.0.0.1 a moment ago (same race as freePort). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.unref();
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: LOOPBACK, port: 0, exclusive: true }, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between attempts; default 50 ms. */
  intervalMs?: number;
  /** Human description used in the timeout error. */
  what: string;
  /** Abort the wait early (e.g. the process being waited on has exited). */
  signal?: AbortSignal;
}

/**
 * Polls `check` until it resolves true. A check that throws counts as "not
 * yet" (typical while a server is still starting: ECONNREFUSED); the last
 * error is appended to the timeout message to make failures debuggable.
 * Bounded both in time (each attempt is raced against the deadline, so a
 * hanging check cannot stall us) and in number of attempts.
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
      if (await withDeadline(check(), remaining)) return;
    } catch (err) {
      lastError = err;
    }
    throwIfAborted(opts.signal, opts.what);
    const pause = Math.min(intervalMs, deadline - Date.now());
    if (pause <= 0) break;
    await sleep(pause, opts.signal);
  }
  throwIfAborted(opts.signal, opts.what);
  const detail = lastError === undefined ? '' : ` (last error: ${errorMessage(lastError)})`;
  throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}${detail}`);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

const TIMED_OUT = Symbol('timed out');

/** Resolves like `p`, or to false once `ms` have passed (the check is then abandoned). */
async function withDeadline(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    const result = await Promise.race([p, timeout]);
    return result === true;
  } finally {
    clearTimeout(timer);
  }
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof Error) throw reason;
  throw new Error(`aborted while waiting for ${what}`);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    // undici and node:net put the useful bit (ECONNREFUSED) on .code / .cause.
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${err.message} [${code}]` : err.message;
  }
  return String(err);
}
