// Reads frames from one segment file in large chunks, so a backlog of small writes costs few syscalls
// and memory stays at one chunk (or one frame, when a frame is larger). After a bad frame it finds its
// place again at the next offset where a frame's marker, length and checksum all hold, so one damaged
// stretch costs only the frames it covers.
import type { FileHandle } from "node:fs/promises";
import { FRAME_MARKER, HEADER_BYTES, checkHeader, decodeFrame, type QueueEntry } from "./frame.js";

export interface GoodFrame {
  readonly offset: number;
  readonly bytes: number;
  readonly entry: QueueEntry;
}

/** A stretch that holds no whole frame: from a bad frame's start up to the next good frame, or to the end. */
export interface BadStretch {
  readonly offset: number;
  readonly bytes: number;
  /** What was wrong with the frame that should have started at `offset`. */
  readonly fault: string;
}

export type FrameRead = GoodFrame | BadStretch;

const CHUNK_BYTES = 1 << 20;

/** A read-ahead window over the file up to `to`. */
class Window {
  private buf = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly to: number,
  ) {}

  /** The bytes from `at` to the end of the window, read anew when fewer than `atLeast` are in it (fewer only near `to`). */
  async from(at: number, atLeast: number): Promise<Buffer> {
    const need = Math.min(atLeast, this.to - at);
    if (need <= 0) return Buffer.alloc(0);
    if (at < this.start || at + need > this.start + this.buf.length) {
      // A new buffer every time: entries already handed out keep pointing into the old one.
      const want = Math.min(Math.max(need, CHUNK_BYTES), this.to - at);
      const next = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.file.read(next, 0, want, at);
      this.buf = next.subarray(0, bytesRead);
      this.start = at;
    }
    return this.buf.subarray(at - this.start);
  }
}

/** The whole frame starting at `offset`, or why there is none. */
async function frameAt(window: Window, offset: number, to: number): Promise<GoodFrame | { readonly fault: string }> {
  const header = checkHeader(await window.from(offset, HEADER_BYTES), 0);
  if ("fault" in header) return header;
  if (offset + header.frameBytes > to) return { fault: "a frame cut short" };
  const entry = decodeFrame((await window.from(offset, header.frameBytes)).subarray(0, header.frameBytes));
  return entry ? { offset, bytes: header.frameBytes, entry } : { fault: "a checksum mismatch" };
}

/** The first good frame at or after `from`: a marker alone is not enough, its length and checksum must hold too. */
async function nextGoodFrame(window: Window, from: number, to: number): Promise<GoodFrame | undefined> {
  let scan = from;
  // Every pass moves `scan` forward by at least one byte, so this ends by `to`.
  while (to - scan >= HEADER_BYTES) {
    const view = await window.from(scan, HEADER_BYTES);
    const hit = view.indexOf(FRAME_MARKER);
    if (hit < 0) {
      // A marker may straddle the window's end: look again from its last three bytes.
      scan += Math.max(1, view.length - (FRAME_MARKER.length - 1));
      continue;
    }
    const frame = await frameAt(window, scan + hit, to);
    if ("entry" in frame) return frame;
    scan += hit + 1;
  }
  return undefined;
}

/** Frames from `from` up to `to`, with each damaged stretch between them reported once as a BadStretch. */
export async function* readFrames(file: FileHandle, from: number, to: number): AsyncGenerator<FrameRead> {
  const window = new Window(file, to);
  let pos = from;
  while (pos < to) {
    const frame = await frameAt(window, pos, to);
    if ("entry" in frame) {
      yield frame;
      pos += frame.bytes;
      continue;
    }
    const next = await nextGoodFrame(window, pos + 1, to);
    yield { offset: pos, bytes: (next?.offset ?? to) - pos, fault: frame.fault };
    if (!next) return;
    yield next;
    pos = next.offset + next.bytes;
  }
}
