// Reads a request body into one Buffer, inflating gzip, within a size limit that also bounds the inflated
// size: a Content-Length over the limit is refused before a byte is read, and any other body as soon as
// its bytes pass the limit. Prometheus remote write and read bodies are snappy blocks: they are read as they
// are, and their route decodes them. A refused body is left unread (the answer closes the connection): destroying
// the request would destroy the socket and the client would never see the answer.
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { HttpError } from "./errors.js";

export interface BodyOptions {
  readonly contentEncoding: string | undefined;
  readonly contentLength: number | undefined;
  /** The Content-Encoding the route takes besides none: gzip is inflated here, snappy is left to the route. */
  readonly encoding: "gzip" | "snappy";
  /** Largest body in bytes, after gzip inflation. */
  readonly limit: number;
  /** Told the body's size so far (inflated) as it grows; throws to refuse the rest. */
  readonly cover?: (total: number) => void;
}

/** The connection closed before the whole body arrived: the client went away, or request-timeout closed it. */
export class BodyAbortedError extends Error {
  constructor(readonly received: number) {
    super(`the connection closed after ${received} bytes of the body`);
    this.name = "BodyAbortedError";
  }
}

export function readBody(request: Readable, opts: BodyOptions): Promise<Buffer> {
  const { limit } = opts;
  const tooLarge = () => new HttpError(413, `request body too large: the limit is ${limit} bytes`);
  if (opts.contentLength !== undefined && opts.contentLength > limit) return Promise.reject(tooLarge());
  const encoding = opts.contentEncoding?.trim().toLowerCase() ?? "";
  const asItIs = encoding === "" || encoding === "identity" || (encoding === "snappy" && opts.encoding === "snappy");
  if (asItIs) return collect(request, request, opts.contentLength, limit, opts.cover, tooLarge);
  if (encoding !== opts.encoding) {
    return Promise.reject(
      new HttpError(415, `unsupported Content-Encoding "${opts.contentEncoding}": send ${opts.encoding} or no encoding`),
    );
  }
  const gunzip = createGunzip();
  request.pipe(gunzip);
  return collect(request, gunzip, undefined, limit, opts.cover, tooLarge).finally(() => {
    request.unpipe(gunzip);
    gunzip.destroy();
  });
}

/**
 * Collects `body`, which is `request` itself or its inflated form. With the size known (a plain body with
 * a Content-Length), the bytes go straight into one Buffer of that size: no list of chunks, no second copy.
 */
function collect(
  request: Readable,
  body: Readable,
  expected: number | undefined,
  limit: number,
  cover: ((total: number) => void) | undefined,
  tooLarge: () => HttpError,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const whole = expected === undefined ? undefined : Buffer.allocUnsafe(expected);
    const chunks: Buffer[] = [];
    let size = 0;
    let received = 0;

    const stop = (): void => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onBodyError);
      request.off("data", countReceived);
      request.off("error", onAborted);
      request.off("close", onClose);
    };
    const fail = (err: unknown): void => {
      stop();
      request.pause(); // the rest stays unread; the answer closes the connection
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      const total = size + chunk.length;
      if (total > limit || (whole !== undefined && total > whole.length)) return fail(tooLarge());
      try {
        cover?.(total);
      } catch (err) {
        return fail(err);
      }
      if (whole === undefined) chunks.push(chunk);
      else chunk.copy(whole, size);
      size = total;
    };
    const onEnd = (): void => {
      stop();
      if (whole !== undefined) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const countReceived = (chunk: Buffer): void => {
      received += chunk.length;
    };
    const onAborted = (): void => fail(new BodyAbortedError(body === request ? size : received));
    const onClose = (): void => {
      if (!request.readableEnded) onAborted();
    };
    // An error of the request stream is the connection's; one of gunzip's is the body's.
    const onBodyError = (err: Error): void => fail(body === request ? new BodyAbortedError(size) : invalidGzip(err));

    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", onBodyError);
    if (body !== request) {
      request.on("data", countReceived);
      request.on("error", onAborted);
    }
    request.on("close", onClose);
  });
}

function invalidGzip(err: Error): HttpError {
  return new HttpError(400, `invalid gzip body: ${err.message}`);
}
