// The listener's budget of request bytes in flight (max-inflight-mb). A request body stays in memory from
// the moment it starts to arrive until the request is answered, fan-out and queueing included; past the
// budget a request is refused at once with 503 and Retry-After, before its body is read, instead of
// piling up until the process runs out of memory. Bodies with a Content-Length reserve it up front;
// chunked and gzip bodies grow their hold as their bytes arrive (inflated). The totals live in the
// listener's stats, so /metrics reads them for free.
import { HttpError } from "./errors.js";
import type { ListenerStats } from "./stats.js";

/** Seconds a refused client is asked to wait: bodies in flight are answered within an output timeout, most in milliseconds. */
export const RETRY_AFTER_SECONDS = 1;

const MIB = 1024 * 1024;

/** The 503 for a request that did not fit; the error handler adds Retry-After and closes the connection. */
export class ShedError extends HttpError {
  constructor(limitBytes: number) {
    super(
      503,
      `the relay is holding its limit of request bodies in flight (max-inflight-mb = ${limitBytes / MIB}): retry in ${RETRY_AFTER_SECONDS}s`,
    );
    this.name = "ShedError";
  }
}

export class InflightBudget {
  constructor(
    readonly limitBytes: number,
    private readonly stats: ListenerStats,
  ) {}

  /** A hold on `bytes` of the budget; throws ShedError (and counts the request as shed) when they do not fit. */
  hold(bytes: number): BodyHold {
    this.take(bytes);
    return new BodyHold(this, bytes);
  }

  /** @internal Used by BodyHold. */
  take(bytes: number): void {
    if (this.stats.inflightBytes + bytes > this.limitBytes) {
      this.stats.shed++;
      throw new ShedError(this.limitBytes);
    }
    this.stats.inflightBytes += bytes;
  }

  /** @internal Used by BodyHold. */
  give(bytes: number): void {
    this.stats.inflightBytes -= bytes;
  }
}

/**
 * One request's share of the budget. It is given back once the handler has finished with the body, or,
 * when no handler runs (the body was refused or never arrived), once the answer is sent or the connection
 * is gone: a client that goes away mid-request does not free bytes its fan-out still holds.
 */
export class BodyHold {
  private handling = false;
  private released = false;

  constructor(
    private readonly budget: InflightBudget,
    private bytes: number,
  ) {}

  /** Grows the hold to `total` bytes of body; throws ShedError when the budget has no room for them. */
  cover(total: number): void {
    if (total <= this.bytes || this.released) return;
    this.budget.take(total - this.bytes);
    this.bytes = total;
  }

  handlerStarted(): void {
    this.handling = true;
  }

  /** The answer went out or the connection closed. */
  responseClosed(): void {
    if (!this.handling) this.release();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.bytes);
  }
}
