// A durable FIFO of writes in one directory: numbered segment files of frames, plus a cursor file naming
// the first frame not yet delivered. Appends are group-committed: every append waiting while a write is
// on disk goes out in the next single writev (and fdatasync, under fsync "always").
import { mkdirSync, readdirSync } from "node:fs";
import { open, readFile, rename, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { FsyncPolicy } from "../config.js";
import type { Logger } from "../logger.js";
import { acquireLock, type Lock } from "../pid-lock.js";
import { HEADER_BYTES, encodeFrame, type QueueEntry } from "./frame.js";
import { readFrames } from "./frame-reader.js";

export interface DiskQueueOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  /** Under fsync "interval": how often written data is forced to disk. */
  readonly fsyncIntervalMs: number;
  readonly logger: Logger;
  /** A segment is closed and a new one started once it reaches this size. */
  readonly segmentBytes?: number;
}

/** The head of the queue, read but not yet committed. */
export interface QueueBatch {
  readonly entries: readonly QueueEntry[];
  /** Bytes on disk, frames included. */
  readonly bytes: number;
  readonly end: Position;
  readonly generation: number;
}

interface Position {
  readonly seq: number;
  readonly offset: number;
}

interface Segment {
  readonly seq: number;
  /** Bytes written to the file so far. */
  size: number;
  /** Entries and bytes in it not yet delivered. */
  entries: number;
  bytes: number;
}

interface PendingAppend {
  readonly frame: Buffer;
  readonly acceptedAt: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const SEGMENT_BYTES = 64 << 20;
const SEGMENT_SUFFIX = ".seg";
const CURSOR_FILE = "cursor";
const HEAD_PEEK_BYTES = HEADER_BYTES + 8;

export class DiskQueue {
  /** Entries and bytes waiting, once durably appended. */
  entries = 0;
  bytes = 0;
  /** When the oldest waiting entry was accepted, in ms since the epoch. */
  oldestAcceptedAt: number | undefined;
  /** Bytes cut from torn or corrupt segment tails since start. */
  cutBytes = 0;

  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  private cursor: Position = { seq: 1, offset: 0 };
  private tail: FileHandle | undefined;
  private pending: PendingAppend[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  /** Serialises what changes files: flushes, commits, drops. */
  private exclusive: Promise<unknown> = Promise.resolve();
  /** Bumped by drop(), so a batch read before it cannot be committed after it. */
  private generation = 0;
  private unsynced = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly opts: DiskQueueOptions,
    private readonly lock: Lock,
  ) {
    this.segmentBytes = opts.segmentBytes ?? SEGMENT_BYTES;
  }

  /** Opens (or creates) the queue in `opts.dir`, cutting any torn tail a crash left behind. */
  static async open(opts: DiskQueueOptions): Promise<DiskQueue> {
    mkdirSync(opts.dir, { recursive: true });
    const queue = new DiskQueue(opts, acquireLock(join(opts.dir, "LOCK"), `a relay using the spool ${opts.dir}`));
    try {
      await queue.recover();
    } catch (err) {
      queue.lock.release();
      throw err;
    }
    if (opts.fsync === "interval") {
      queue.syncTimer = setInterval(() => void queue.syncNow(), opts.fsyncIntervalMs);
      queue.syncTimer.unref();
    }
    return queue;
  }

  /** Bytes on disk plus bytes waiting to be written: what a bound must be checked against. */
  get committedAndPendingBytes(): number {
    return this.bytes + this.pendingBytes;
  }

  /** Resolves once the entry is on disk (and synced, under fsync "always"). */
  append(entry: QueueEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the queue is closed"));
    const frame = encodeFrame(entry);
    return new Promise((resolve, reject) => {
      this.pending.push({ frame, acceptedAt: entry.acceptedAt, resolve, reject });
      this.pendingBytes += frame.length;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.serially(() => this.flush());
      }
    });
  }

  /**
   * Reads from the head: the first entry, then the entries after it while `belongs(first, next)` holds and
   * the total stays within `maxBytes`. Nothing is removed until commit().
   */
  async peek(maxBytes: number, belongs: (first: QueueEntry, next: QueueEntry) => boolean): Promise<QueueBatch | undefined> {
    const generation = this.generation;
    const head = this.segments.find((s) => s.seq === this.cursor.seq);
    if (!head || this.cursor.offset >= head.size) return undefined;
    const entries: QueueEntry[] = [];
    let bytes = 0;
    let end = this.cursor.offset;
    const file = await open(this.segmentPath(head.seq), "r");
    try {
      for await (const read of readFrames(file, this.cursor.offset, head.size)) {
        if ("fault" in read) {
          // Written and checked by this process, so this is the disk failing under us: say so, skip the rest.
          if (entries.length === 0) await this.serially(() => this.skipCorrupt(head, read.offset, read.fault, generation));
          break;
        }
        if (entries.length > 0 && (bytes + read.bytes > maxBytes || !belongs(entries[0]!, read.entry))) break;
        entries.push(read.entry);
        bytes += read.bytes;
        end = read.offset + read.bytes;
      }
    } finally {
      await file.close();
    }
    if (entries.length === 0) return undefined;
    return { entries, bytes, end: { seq: head.seq, offset: end }, generation };
  }

  /** Removes a batch from the head, once delivered. A batch read before a drop() is ignored. */
  commit(batch: QueueBatch): Promise<void> {
    return this.serially(async () => {
      if (batch.generation !== this.generation) return;
      const head = this.segments.find((s) => s.seq === batch.end.seq);
      if (!head) return;
      head.entries -= batch.entries.length;
      head.bytes -= batch.bytes;
      this.entries -= batch.entries.length;
      this.bytes -= batch.bytes;
      this.cursor = batch.end;
      await this.dropConsumedSegments();
      await this.saveCursor();
      await this.readOldest();
    });
  }

  /** Drops every entry: for when the operator resynced the replica some other way. */
  drop(): Promise<{ entries: number; bytes: number }> {
    return this.serially(async () => {
      const dropped = { entries: this.entries, bytes: this.bytes };
      this.generation++;
      await this.closeTail();
      for (const segment of this.segments) await unlink(this.segmentPath(segment.seq));
      this.cursor = { seq: (this.segments.at(-1)?.seq ?? this.cursor.seq) + 1, offset: 0 };
      this.segments = [];
      this.entries = 0;
      this.bytes = 0;
      this.oldestAcceptedAt = undefined;
      await this.saveCursor();
      return dropped;
    });
  }

  /** Writes what is pending, syncs, closes the files and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.syncTimer);
    await this.serially(() => this.closeTail()); // closing syncs what is unsynced
    this.lock.release();
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(task);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const bytes = batch.reduce((sum, p) => sum + p.frame.length, 0);
    try {
      const tail = await this.writableTail();
      const start = tail.segment.size;
      try {
        const { bytesWritten } = await tail.file.writev(
          batch.map((p) => p.frame),
          start,
        );
        if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes (is the disk full?)`);
        if (this.opts.fsync === "always") await tail.file.datasync();
        else this.unsynced = true;
      } catch (err) {
        await tail.file.truncate(start).catch(() => undefined);
        throw err;
      }
      tail.segment.size += bytes;
      tail.segment.entries += batch.length;
      tail.segment.bytes += bytes;
      this.entries += batch.length;
      this.bytes += bytes;
      this.oldestAcceptedAt ??= batch[0]!.acceptedAt;
      for (const p of batch) p.resolve();
    } catch (err) {
      const failure = new Error(`cannot append to the queue in ${this.opts.dir}: ${(err as Error).message}`);
      for (const p of batch) p.reject(failure);
    } finally {
      this.pendingBytes -= bytes;
    }
  }

  /** The segment being appended to, rolling over to a new one when it is full. */
  private async writableTail(): Promise<{ file: FileHandle; segment: Segment }> {
    const last = this.segments.at(-1);
    if (this.tail && last && last.size < this.segmentBytes) return { file: this.tail, segment: last };
    await this.closeTail();
    await this.dropConsumedSegments();
    // After a restart the last segment takes more appends while it has room.
    let segment = this.segments.at(-1);
    if (!segment || segment.size >= this.segmentBytes) {
      segment = { seq: Math.max(this.cursor.seq, (segment?.seq ?? 0) + 1), size: 0, entries: 0, bytes: 0 };
      this.segments.push(segment);
    }
    this.tail = await open(this.segmentPath(segment.seq), "a");
    if (this.opts.fsync === "always") await this.syncDir();
    return { file: this.tail, segment };
  }

  private async closeTail(): Promise<void> {
    if (!this.tail) return;
    const file = this.tail;
    this.tail = undefined;
    if (this.unsynced) await file.datasync();
    this.unsynced = false;
    await file.close();
  }

  /** Under fsync "interval": forces written data to disk. Appends carry on meanwhile. */
  private async syncNow(): Promise<void> {
    if (!this.unsynced || !this.tail) return;
    this.unsynced = false;
    await this.tail.datasync().catch((err: Error) => {
      this.unsynced = true;
      this.opts.logger.error({ err, dir: this.opts.dir }, "fdatasync of the queue failed");
    });
  }

  /** Deletes fully delivered segments other than the one being appended to. */
  private async dropConsumedSegments(): Promise<void> {
    for (;;) {
      const head = this.segments[0];
      if (!head || head.seq !== this.cursor.seq || this.cursor.offset < head.size) return;
      if (this.tail && head === this.segments.at(-1)) return;
      this.segments.shift();
      await unlink(this.segmentPath(head.seq));
      this.cursor = { seq: this.segments[0]?.seq ?? head.seq + 1, offset: 0 };
    }
  }

  private async skipCorrupt(segment: Segment, offset: number, fault: string, generation: number): Promise<void> {
    if (generation !== this.generation || !this.segments.includes(segment)) return;
    this.opts.logger.error(
      { dir: this.opts.dir, segment: this.segmentPath(segment.seq), offset, lostEntries: segment.entries, lostBytes: segment.bytes },
      `queue segment is corrupt (${fault}); skipping the rest of it`,
    );
    if (segment === this.segments.at(-1)) await this.closeTail();
    this.cutBytes += segment.size - offset;
    this.entries -= segment.entries;
    this.bytes -= segment.bytes;
    segment.entries = 0;
    segment.bytes = 0;
    this.cursor = { seq: segment.seq, offset: segment.size };
    await this.dropConsumedSegments();
    await this.saveCursor();
    await this.readOldest();
  }

  private async saveCursor(): Promise<void> {
    // Not synced: a cursor lost in a power cut only means some entries are delivered twice, which InfluxDB absorbs.
    const path = join(this.opts.dir, CURSOR_FILE);
    await writeFile(`${path}.tmp`, `${this.cursor.seq} ${this.cursor.offset}\n`);
    await rename(`${path}.tmp`, path);
  }

  private async readOldest(): Promise<void> {
    const head = this.segments.find((s) => s.seq === this.cursor.seq);
    if (!head || this.entries === 0 || this.cursor.offset >= head.size) {
      this.oldestAcceptedAt = this.entries === 0 ? undefined : this.oldestAcceptedAt;
      return;
    }
    const file = await open(this.segmentPath(head.seq), "r");
    try {
      const buf = Buffer.alloc(HEAD_PEEK_BYTES);
      await file.read(buf, 0, HEAD_PEEK_BYTES, this.cursor.offset);
      this.oldestAcceptedAt = buf.readDoubleLE(HEADER_BYTES);
    } finally {
      await file.close();
    }
  }

  /** Loads the cursor and every segment after it, checking each frame and cutting a bad tail. */
  private async recover(): Promise<void> {
    const seqs = readdirSync(this.opts.dir)
      .filter((name) => /^\d{16}\.seg$/.test(name))
      .map((name) => Number(name.slice(0, 16)))
      .sort((a, b) => a - b);
    const saved = await this.loadCursor();
    this.cursor = saved ?? { seq: seqs[0] ?? 1, offset: 0 };
    for (const seq of seqs) {
      // Delivered before a crash that came between saving the cursor and deleting the file.
      if (seq < this.cursor.seq) await unlink(this.segmentPath(seq));
    }
    const live = seqs.filter((seq) => seq >= this.cursor.seq);
    if (live[0] !== undefined && live[0] > this.cursor.seq) this.cursor = { seq: live[0], offset: 0 };
    for (const seq of live) this.segments.push(await this.scanSegment(seq, seq === this.cursor.seq ? this.cursor.offset : 0));
    const head = this.segments[0];
    if (head && this.cursor.offset > head.size) this.cursor = { seq: head.seq, offset: head.size };
    await this.dropConsumedSegments();
    await this.saveCursor();
    await this.readOldest();
  }

  private async scanSegment(seq: number, from: number): Promise<Segment> {
    const path = this.segmentPath(seq);
    const file = await open(path, "r+");
    try {
      const { size } = await file.stat();
      const segment: Segment = { seq, size, entries: 0, bytes: 0 };
      for await (const read of readFrames(file, Math.min(from, size), size)) {
        if ("fault" in read) {
          this.cutBytes += size - read.offset;
          this.opts.logger.warn(
            { segment: path, offset: read.offset, cutBytes: size - read.offset },
            `queue segment ends in ${read.fault}, left by a crash: cutting it there`,
          );
          await file.truncate(read.offset);
          segment.size = read.offset;
          break;
        }
        segment.entries++;
        segment.bytes += read.bytes;
      }
      this.entries += segment.entries;
      this.bytes += segment.bytes;
      return segment;
    } finally {
      await file.close();
    }
  }

  private async loadCursor(): Promise<Position | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.opts.dir, CURSOR_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const match = /^(\d+) (\d+)\n?$/.exec(text);
    if (!match) {
      this.opts.logger.warn(
        { dir: this.opts.dir, cursor: text.slice(0, 60) },
        "queue cursor file is unreadable: replaying from the oldest segment",
      );
      return undefined;
    }
    return { seq: Number(match[1]), offset: Number(match[2]) };
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.opts.dir, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private segmentPath(seq: number): string {
    return join(this.opts.dir, `${String(seq).padStart(16, "0")}${SEGMENT_SUFFIX}`);
  }
}
