// One queued record on disk: a 12-byte header (magic, payload length, CRC-32 of the payload) and the
// exact request: when it was accepted, its kind, query string, auth header, point count and body.
// The magic catches zero-filled tails and the checksum catches torn or corrupt ones; together they let a
// reader find the next whole frame after damage.
// The kind byte was the write API before InfluxQL statements and Prometheus remote writes were queued too;
// codes only ever get added, so a spool written by an older relay reads as it did.
import { crc32 } from "node:zlib";
import type { RecordKind } from "../output.js";

export interface QueueEntry {
  /** When the relay accepted the write, in ms since the epoch: the queue's age is measured from it. */
  readonly acceptedAt: number;
  /** A line-protocol write to /write or /api/v2/write, a remote write to /api/v1/prom/write, or InfluxQL statements to /query. */
  readonly api: RecordKind;
  /** Query string without the '?'. */
  readonly query: string;
  readonly authorization: string | undefined;
  /** Points in a line-protocol write, samples in a remote write, 0 for statements. */
  readonly points: number;
  readonly body: Buffer;
}

export const HEADER_BYTES = 12;
const MAGIC = 0x49485131; // "IHQ1"
/** The magic as it lies on disk: what a reader that lost its place looks for to find the next frame. */
export const FRAME_MARKER = Buffer.alloc(4);
FRAME_MARKER.writeUInt32LE(MAGIC);
const NO_AUTH = 0xffffffff;
/** acceptedAt f64, kind u8, points u32, query length u32, auth length u32. */
const FIXED_PAYLOAD_BYTES = 8 + 1 + 4 + 4 + 4;
/** Append only: a code's meaning never changes, so every older spool stays readable. */
const API_CODES: readonly RecordKind[] = ["v1", "v2", "influxql", "influxql-after-writes", "prom-write"];

/** The size of the entry's frame on disk: what counts against buffer-size-mb. */
export function frameBytes(entry: QueueEntry): number {
  const authBytes = entry.authorization === undefined ? 0 : Buffer.byteLength(entry.authorization);
  return HEADER_BYTES + FIXED_PAYLOAD_BYTES + Buffer.byteLength(entry.query) + authBytes + entry.body.length;
}

export function encodeFrame(entry: QueueEntry): Buffer {
  const frame = Buffer.allocUnsafe(frameBytes(entry));
  let pos = HEADER_BYTES;
  pos = frame.writeDoubleLE(entry.acceptedAt, pos);
  pos = frame.writeUInt8(API_CODES.indexOf(entry.api), pos);
  pos = frame.writeUInt32LE(entry.points, pos);
  // The query and auth strings are written in place, after the two length fields that precede them.
  const queryBytes = frame.write(entry.query, pos + 8, "utf8");
  pos = frame.writeUInt32LE(queryBytes, pos);
  const authBytes = entry.authorization === undefined ? 0 : frame.write(entry.authorization, pos + 4 + queryBytes, "utf8");
  pos = frame.writeUInt32LE(entry.authorization === undefined ? NO_AUTH : authBytes, pos);
  entry.body.copy(frame, pos + queryBytes + authBytes);
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt32LE(frame.length - HEADER_BYTES, 4);
  frame.writeUInt32LE(crc32(frame.subarray(HEADER_BYTES)), 8);
  return frame;
}

/** What the header at `offset` says, or why it is not a frame's start. */
export type HeaderCheck = { readonly frameBytes: number } | { readonly fault: string };

export function checkHeader(buf: Buffer, offset: number): HeaderCheck {
  if (buf.length - offset < HEADER_BYTES) return { fault: "a header cut short" };
  if (buf.readUInt32LE(offset) !== MAGIC) return { fault: "no frame marker" };
  const payloadBytes = buf.readUInt32LE(offset + 4);
  if (payloadBytes < FIXED_PAYLOAD_BYTES) return { fault: `an impossible length (${payloadBytes})` };
  return { frameBytes: HEADER_BYTES + payloadBytes };
}

/** Decodes a whole frame whose header passed checkHeader; undefined when the checksum or the layout is wrong. */
export function decodeFrame(frame: Buffer): QueueEntry | undefined {
  const payload = frame.subarray(HEADER_BYTES);
  if (crc32(payload) !== frame.readUInt32LE(8)) return undefined;
  const api = API_CODES[payload.readUInt8(8)];
  const queryBytes = payload.readUInt32LE(13);
  const authField = payload.readUInt32LE(17);
  const authBytes = authField === NO_AUTH ? 0 : authField;
  const bodyStart = FIXED_PAYLOAD_BYTES + queryBytes + authBytes;
  if (api === undefined || bodyStart > payload.length) return undefined;
  return {
    acceptedAt: payload.readDoubleLE(0),
    api,
    points: payload.readUInt32LE(9),
    query: payload.toString("utf8", FIXED_PAYLOAD_BYTES, FIXED_PAYLOAD_BYTES + queryBytes),
    authorization: authField === NO_AUTH ? undefined : payload.toString("utf8", FIXED_PAYLOAD_BYTES + queryBytes, bodyStart),
    body: payload.subarray(bodyStart),
  };
}
