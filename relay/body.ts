// Reads a request body into one Buffer, inflating gzip, within a size limit that also bounds the inflated size.
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { HttpError } from "./errors.js";

export async function readBody(
  stream: Readable,
  contentEncoding: string | undefined,
  contentLength: number | undefined,
  limit: number,
): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `request body too large: the limit is ${limit} bytes`);
  if (contentLength !== undefined && contentLength > limit) throw tooLarge();
  const encoding = contentEncoding?.trim().toLowerCase() ?? "";
  if (encoding === "" || encoding === "identity") return collect(stream, limit, tooLarge);
  if (encoding !== "gzip") throw new HttpError(415, `unsupported Content-Encoding "${contentEncoding}": send gzip or no encoding`);

  const gunzip = createGunzip();
  stream.on("error", (err) => gunzip.destroy(err));
  stream.pipe(gunzip);
  try {
    return await collect(gunzip, limit, tooLarge);
  } catch (err) {
    stream.unpipe(gunzip);
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, `invalid gzip body: ${(err as Error).message}`);
  }
}

async function collect(stream: Readable, limit: number, tooLarge: () => HttpError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
