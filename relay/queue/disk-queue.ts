// A durable FIFO of writes in one directory: numbered segment files of frames, plus a cursor file naming
// the first frame not yet delivered. Appends are group-committed: every append waiting while a write is
// on disk goes out in the next single writev (and fdatasync, under fsync "always").
// Damage costs only the entries it covers: a torn tail (the last segment's end, left by a crash) is cut,
// and any other damaged stretch is moved into a side file by rewriting its segment without it, so every
// later entry is kept and the queue's offsets never point into garbage.
import { mkdirSync, readdirSync } from "node:fs";
import { open, readFile, rename, stat, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { FsyncPolicy } from "../defaults.js";
import type { Logger } from "../logger.js";
import { acquireLock, type Lock } from "../pid-lock.js";
import { HEADER_BYTES, encodeFrame, type QueueEntry } from "./frame.js";
import { readFrames, type BadStretch } from "./frame-reader.js";

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
/** A segment being rewritten without its damage; one left by a crash is deleted on start. */
const REWRITE_SUFFIX = ".tmp";
const COPY_CHUNK_BYTES = 1 << 20;
const MAX_SIDE_FILES_PER_PLACE = 1000;
const CURSOR_FILE = "cursor";
const HEAD_PEEK_BYTES = HEADER_BYTES + 8;

export class DiskQueue {
  /** Entries and bytes waiting, once durably appended. */
  entries = 0;
  bytes = 0;
  /** When the oldest waiting entry was accepted, in ms since the epoch. */
  oldestAcceptedAt: number | undefined;
  /** Bytes cut from torn tails since start: the end of the last segment, left by a crash. */
  cutBytes = 0;
  /** Damaged bytes moved out of the segments into side files since start, the entries after them kept. */
  corruptBytes = 0;

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
    // Damage at the head is moved aside and the head read once more; damage again means the disk is failing
    // as we read, and the caller's next peek goes on from there.
    for (let pass = 0; pass < 2; pass++) {
      const read = await this.readHead(maxBytes, belongs);
      if (read !== "damaged") return read;
    }
    return undefined;
  }

  private async readHead(
    maxBytes: number,
    belongs: (first: QueueEntry, next: QueueEntry) => boolean,
  ): Promise<QueueBatch | "damaged" | undefined> {
    const generation = this.generation;
    const head = this.segments.find((s) => s.seq === this.cursor.seq);
    if (!head || this.cursor.offset >= head.size) return undefined;
    const entries: QueueEntry[] = [];
    let bytes = 0;
    let end = this.cursor.offset;
    let damagedAt: number | undefined;
    const file = await open(this.segmentPath(head.seq), "r");
    try {
      for await (const read of readFrames(file, this.cursor.offset, head.size)) {
        if ("fault" in read) {
          // The batch ends before damage; damage at the head is dealt with before anything is read past it.
          if (entries.length === 0) damagedAt = read.offset;
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
    if (damagedAt !== undefined) {
      const offset = damagedAt;
      await this.serially(() => this.skipDamage(head, offset, generation));
      return "damaged";
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

  /**
   * Damage the head met at `offset`, in frames this process wrote or checked: the disk is failing under us.
   * It and any later damage in the segment are moved aside, and the cursor, unmoved, is at the next whole entry.
   */
  private async skipDamage(segment: Segment, offset: number, generation: number): Promise<void> {
    const stillAtHead = this.cursor.seq === segment.seq && this.cursor.offset === offset;
    if (generation !== this.generation || !this.segments.includes(segment) || !stillAtHead) return;
    // The file is about to be replaced: the next append opens the new one.
    if (segment === this.segments.at(-1)) await this.closeTail();
    const before = { entries: segment.entries, bytes: segment.bytes };
    await this.checkSegment(segment, offset, false);
    const lost = { lostEntries: before.entries - segment.entries, lostBytes: before.bytes - segment.bytes };
    this.entries -= lost.lostEntries;
    this.bytes -= lost.lostBytes;
    this.opts.logger.error(
      { segment: this.segmentPath(segment.seq), ...lost },
      `queue segment was damaged after it was written (is the disk failing?): ${lost.lostEntries} entries lost`,
    );
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

  /** Loads the cursor and every segment after it, checking each frame, cutting a torn tail and moving damage aside. */
  private async recover(): Promise<void> {
    const names = readdirSync(this.opts.dir);
    for (const name of names) {
      if (/^\d{16}\.seg\.tmp$/.test(name)) await unlink(join(this.opts.dir, name)); // a rewrite a crash interrupted
    }
    const seqs = names
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
    for (const [i, seq] of live.entries()) {
      // Only the last segment can be torn by a crash: each older one was synced when the next was started.
      this.segments.push(await this.loadSegment(seq, seq === this.cursor.seq ? this.cursor.offset : 0, i === live.length - 1));
    }
    const head = this.segments[0];
    if (head && this.cursor.offset > head.size) this.cursor = { seq: head.seq, offset: head.size };
    await this.dropConsumedSegments();
    await this.saveCursor();
    await this.readOldest();
  }

  private async loadSegment(seq: number, from: number, isLast: boolean): Promise<Segment> {
    const { size } = await stat(this.segmentPath(seq));
    const segment: Segment = { seq, size, entries: 0, bytes: 0 };
    await this.checkSegment(segment, from, isLast);
    this.entries += segment.entries;
    this.bytes += segment.bytes;
    return segment;
  }

  /**
   * Counts the whole frames from `from` on and moves every damaged stretch among them into a side file, by
   * rewriting the segment without it. Where `mayBeTorn`, a stretch that runs to the end is a crash's torn
   * write and is cut. Offsets up to the first stretch do not change, so a cursor there stays right.
   */
  private async checkSegment(segment: Segment, from: number, mayBeTorn: boolean): Promise<void> {
    const path = this.segmentPath(segment.seq);
    const stretches: BadStretch[] = [];
    let entries = 0;
    let bytes = 0;
    const file = await open(path, "r+");
    try {
      for await (const read of readFrames(file, Math.min(from, segment.size), segment.size)) {
        if ("fault" in read) stretches.push(read);
        else {
          entries++;
          bytes += read.bytes;
        }
      }
      const last = stretches.at(-1);
      const torn = mayBeTorn && last && last.offset + last.bytes === segment.size ? stretches.pop() : undefined;
      const end = torn?.offset ?? segment.size;
      if (torn) {
        this.cutBytes += torn.bytes;
        this.opts.logger.warn(
          { segment: path, offset: torn.offset, cutBytes: torn.bytes },
          `queue segment ends in ${torn.fault}, left by a crash: cutting it there`,
        );
      }
      for (const stretch of stretches) await this.keepAside(file, segment.seq, stretch);
      const movedOut = stretches.reduce((sum, s) => sum + s.bytes, 0);
      if (stretches.length > 0) await this.rewriteWithout(file, segment.seq, stretches, end);
      else if (torn) await file.truncate(end);
      this.corruptBytes += movedOut;
      segment.size = end - movedOut;
      segment.entries = entries;
      segment.bytes = bytes;
    } finally {
      await file.close();
    }
  }

  /** Copies a damaged stretch into its own file beside the queue, for a person to look at: it may hold credentials. */
  private async keepAside(file: FileHandle, seq: number, stretch: BadStretch): Promise<void> {
    const { path: sidePath, file: side } = await this.newSideFile(seq, stretch.offset);
    try {
      await copyRange(file, stretch.offset, stretch.offset + stretch.bytes, side);
      await side.datasync();
    } finally {
      await side.close();
    }
    const range = `bytes ${stretch.offset} to ${stretch.offset + stretch.bytes} (${stretch.bytes} bytes)`;
    this.opts.logger.error(
      { segment: this.segmentPath(seq), offset: stretch.offset, bytes: stretch.bytes, sideFile: sidePath },
      `queue segment has ${stretch.fault} at ${range}: skipping to the next whole entry; the bad bytes are kept in ${sidePath}`,
    );
  }

  /**
   * Creates `corrupt-<segment>-<offset>.bin`, mode 0600. The name can be taken (a rewrite moves later bytes to
   * where damage was, and they may fail too; or a crash came before the rewrite): a number is added, so no bad
   * bytes are ever overwritten.
   */
  private async newSideFile(seq: number, offset: number): Promise<{ path: string; file: FileHandle }> {
    for (let copy = 1; copy <= MAX_SIDE_FILES_PER_PLACE; copy++) {
      const path = join(this.opts.dir, `corrupt-${segmentName(seq)}-${offset}${copy === 1 ? "" : `-${copy}`}.bin`);
      try {
        return { path, file: await open(path, "wx", 0o600) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    throw new Error(`${MAX_SIDE_FILES_PER_PLACE} side files for damage at ${offset} in ${this.segmentPath(seq)} already exist`);
  }

  /** Replaces the segment, through a synced copy and an atomic rename, by its bytes up to `end` without the stretches. */
  private async rewriteWithout(file: FileHandle, seq: number, stretches: readonly BadStretch[], end: number): Promise<void> {
    const path = this.segmentPath(seq);
    const copy = await open(`${path}${REWRITE_SUFFIX}`, "w");
    try {
      let pos = 0;
      for (const stretch of stretches) {
        await copyRange(file, pos, stretch.offset, copy);
        pos = stretch.offset + stretch.bytes;
      }
      await copyRange(file, pos, end, copy);
      await copy.datasync();
    } catch (err) {
      await copy.close();
      await unlink(`${path}${REWRITE_SUFFIX}`).catch(() => undefined);
      throw new Error(`cannot move the damage out of queue segment ${path}: ${(err as Error).message}`);
    }
    await copy.close();
    // The side files are on disk before the only other copy of their bytes goes.
    await this.syncDir();
    await rename(`${path}${REWRITE_SUFFIX}`, path);
    await this.syncDir();
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
    return join(this.opts.dir, `${segmentName(seq)}${SEGMENT_SUFFIX}`);
  }
}

function segmentName(seq: number): string {
  return String(seq).padStart(16, "0");
}

/** Appends bytes [start, end) of one file to another, a chunk at a time. */
async function copyRange(from: FileHandle, start: number, end: number, to: FileHandle): Promise<void> {
  const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(0, end - start)));
  for (let pos = start; pos < end;) {
    const { bytesRead } = await from.read(chunk, 0, Math.min(chunk.length, end - pos), pos);
    if (bytesRead === 0) throw new Error(`the file ended at ${pos}, before ${end}`);
    const { bytesWritten } = await to.write(chunk, 0, bytesRead);
    if (bytesWritten !== bytesRead) throw new Error(`short write: ${bytesWritten} of ${bytesRead} bytes (is the disk full?)`);
    pos += bytesRead;
  }
}
