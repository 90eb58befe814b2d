// Reads frames from one segment file in large chunks, so a backlog of small writes costs few syscalls
// and memory stays at one chunk (or one frame, when a frame is larger).
import type { FileHandle } from "node:fs/promises";
import { HEADER_BYTES, checkHeader, decodeFrame, type QueueEntry } from "./frame.js";

export type FrameRead =
  { readonly offset: number; readonly bytes: number; readonly entry: QueueEntry } | { readonly offset: number; readonly fault: string };

const CHUNK_BYTES = 1 << 20;

/** Frames from `from` up to `to`; the first bad frame ends the walk with a fault at its offset. */
export async function* readFrames(file: FileHandle, from: number, to: number): AsyncGenerator<FrameRead> {
  let buf = Buffer.alloc(0);
  let bufStart = from;
  let pos = from;
  const ensure = async (bytes: number) => {
    if (pos + bytes <= bufStart + buf.length) return;
    const want = Math.min(Math.max(bytes, CHUNK_BYTES), to - pos);
    const next = Buffer.allocUnsafe(want);
    const { bytesRead } = await file.read(next, 0, want, pos);
    buf = next.subarray(0, bytesRead);
    bufStart = pos;
  };
  while (pos < to) {
    await ensure(HEADER_BYTES);
    const header = checkHeader(buf, pos - bufStart);
    if ("fault" in header) return yield { offset: pos, fault: header.fault };
    if (pos + header.frameBytes > to) return yield { offset: pos, fault: "a frame cut short" };
    await ensure(header.frameBytes);
    const at = pos - bufStart;
    const entry = decodeFrame(buf.subarray(at, at + header.frameBytes));
    if (!entry) return yield { offset: pos, fault: "a checksum mismatch" };
    yield { offset: pos, bytes: header.frameBytes, entry };
    pos += header.frameBytes;
  }
}
