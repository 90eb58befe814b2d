// The on-disk queue: framing, order, restart, torn tails, damage inside segments, segment files, drop.
import { appendFileSync, closeSync, openSync, readFileSync, readdirSync, readSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { DiskQueue, type DiskQueueOptions } from "../../relay/queue/disk-queue.js";
import { FRAME_MARKER, decodeFrame, encodeFrame, type QueueEntry } from "../../relay/queue/frame.js";
import { mergeBodies, sameTarget } from "../../relay/queue/batch.js";
import { captureLog, type CapturedLog } from "../helpers/capture-log.js";
import { waitFor } from "../helpers/ports.js";
import { startScriptedBackend } from "../helpers/scripted-backend.js";
import { tempDir } from "../helpers/temp.js";

let open: DiskQueue[] = [];
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(open.map((q) => q.close()));
  open = [];
  for (const step of cleanup) await step();
  cleanup = [];
});

function entry(n: number, extra: Partial<QueueEntry> = {}): QueueEntry {
  return {
    acceptedAt: 1_700_000_000_000 + n,
    api: "v1",
    query: "db=d",
    authorization: undefined,
    points: 1,
    body: Buffer.from(`cpu v=${n} ${n}\n`),
    ...extra,
  };
}

async function openQueue(dir: string, extra: Partial<DiskQueueOptions> = {}, log: CapturedLog = captureLog()): Promise<DiskQueue> {
  const queue = await DiskQueue.open({ dir, fsync: "always", fsyncIntervalMs: 1_000, logger: log.logger, ...extra });
  open.push(queue);
  return queue;
}

async function closeQueue(queue: DiskQueue): Promise<void> {
  await queue.close();
  open = open.filter((q) => q !== queue);
}

/** Reads and commits everything, one batch at a time, and returns the bodies in order. */
async function drain(queue: DiskQueue, maxBytes = 1 << 20): Promise<string[]> {
  const bodies: string[] = [];
  for (let batch = await queue.peek(maxBytes, sameTarget); batch; batch = await queue.peek(maxBytes, sameTarget)) {
    bodies.push(...batch.entries.map((e) => e.body.toString()));
    await queue.commit(batch);
  }
  return bodies;
}

const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".seg"));
/** Where a frame's payload length sits in its header, after the marker. */
const HEADER_OFFSET_OF_LENGTH = 4;

describe("frames", () => {
  it("round-trip the exact request: API, query, auth, points and body", () => {
    const original = entry(1, { api: "v2", query: "org=o&bucket=b", authorization: "Token t", points: 3 });
    expect(decodeFrame(encodeFrame(original))).toEqual(original);
    expect(decodeFrame(encodeFrame(entry(2)))?.authorization).toBeUndefined();
  });

  it("read a frame an older relay wrote, before statements were queued, as it was written", () => {
    // encodeFrame's bytes for a /write at 0.1.0, kept as they were on disk.
    const old = Buffer.from(
      "315148492a000000bfbfc76600008056febc78420001000000040000000700000064623d64546f6b656e207463707520763d3120310a",
      "hex",
    );
    expect(decodeFrame(old)).toEqual({
      acceptedAt: 1_700_000_000_000,
      api: "v1",
      query: "db=d",
      authorization: "Token t",
      points: 1,
      body: Buffer.from("cpu v=1 1\n"),
    });
  });

  it("round-trip an InfluxQL record, which is never merged with its neighbours", () => {
    const statement = entry(1, { api: "influxql", query: "db=d&u=bob", points: 0, body: Buffer.from("q=DROP+MEASUREMENT+cpu") });
    expect(decodeFrame(encodeFrame(statement))).toEqual(statement);
    expect(sameTarget(statement, statement)).toBe(false);
  });

  it("keep a Prometheus remote write as kind 4, its binary body exact, never merged with its neighbours", () => {
    const remoteWrite = entry(1, {
      api: "prom-write",
      query: "db=prom",
      points: 2,
      body: Buffer.from("0b280a090a070a016e12027570", "hex"),
    });
    // The bytes this relay writes for it: the kind byte after acceptedAt is 04, the next free code.
    const onDisk = Buffer.from(
      "31514849290000003e8ba01b00108056febc7842040200000007000000ffffffff64623d70726f6d0b280a090a070a016e12027570",
      "hex",
    );
    expect(encodeFrame(remoteWrite)).toEqual(onDisk);
    expect(decodeFrame(onDisk)).toEqual(remoteWrite);
    expect(sameTarget(remoteWrite, remoteWrite)).toBe(false);
  });

  it("fail their checksum when a byte changes", () => {
    const frame = encodeFrame(entry(1));
    frame.writeUInt8(frame.readUInt8(frame.length - 2) ^ 1, frame.length - 2);
    expect(decodeFrame(frame)).toBeUndefined();
  });
});

describe("DiskQueue", () => {
  it("gives entries back in order, merging only those with the same target, within the size limit", async () => {
    const queue = await openQueue(tempDir());
    await Promise.all([entry(1), entry(2), entry(3, { query: "db=other" }), entry(4, { query: "db=other" })].map((e) => queue.append(e)));
    expect(queue.entries).toBe(4);
    const first = await queue.peek(1 << 20, sameTarget);
    expect(first!.entries.map((e) => e.body.toString())).toEqual(["cpu v=1 1\n", "cpu v=2 2\n"]);
    await queue.commit(first!);
    const single = await queue.peek(0, sameTarget);
    expect(single!.entries).toHaveLength(1);
    expect(await drain(queue)).toEqual(["cpu v=3 3\n", "cpu v=4 4\n"]);
    expect(queue.entries).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(queue.oldestAcceptedAt).toBeUndefined();
  });

  it("tracks the oldest entry's acceptance time as the head moves", async () => {
    const queue = await openQueue(tempDir());
    await queue.append(entry(1));
    await queue.append(entry(2, { query: "db=x" }));
    expect(queue.oldestAcceptedAt).toBe(1_700_000_000_001);
    await queue.commit((await queue.peek(0, sameTarget))!);
    expect(queue.oldestAcceptedAt).toBe(1_700_000_000_002);
  });

  it("resumes after a restart from the first entry not committed", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir);
    for (let n = 1; n <= 5; n++) await queue.append(entry(n, { query: `db=d${n}` }));
    await queue.commit((await queue.peek(0, sameTarget))!);
    await closeQueue(queue);
    const reopened = await openQueue(dir);
    expect(reopened.entries).toBe(4);
    expect(await drain(reopened)).toEqual([2, 3, 4, 5].map((n) => `cpu v=${n} ${n}\n`));
  });

  it("cuts a torn tail left by a crash, counts and logs it, and keeps every whole entry before it", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir);
    for (let n = 1; n <= 3; n++) await queue.append(entry(n));
    await closeQueue(queue);
    const [segment] = segments(dir);
    const path = join(dir, segment!);
    const whole = statSync(path).size;
    appendFileSync(path, encodeFrame(entry(4)).subarray(0, 20)); // a frame cut short
    const log = captureLog();
    const reopened = await openQueue(dir, {}, log);
    expect(reopened.entries).toBe(3);
    expect(reopened.cutBytes).toBe(20);
    expect(statSync(path).size).toBe(whole);
    expect(log.lines.find((l) => l.level === 40)?.msg).toBe("queue segment ends in a frame cut short, left by a crash: cutting it there");
    await reopened.append(entry(5));
    expect(await drain(reopened)).toEqual([1, 2, 3, 5].map((n) => `cpu v=${n} ${n}\n`));
  });

  it("cuts a tail that fails its checksum or is zero-filled", async () => {
    for (const damage of ["checksum", "zeros"] as const) {
      const dir = tempDir();
      const queue = await openQueue(dir);
      for (let n = 1; n <= 2; n++) await queue.append(entry(n));
      await closeQueue(queue);
      const path = join(dir, segments(dir)[0]!);
      const size = statSync(path).size;
      if (damage === "zeros") appendFileSync(path, Buffer.alloc(4096));
      else {
        const last = encodeFrame(entry(2)).length;
        const frame = encodeFrame(entry(3));
        frame.writeUInt8(frame.readUInt8(frame.length - 1) ^ 0xff, frame.length - 1);
        appendFileSync(path, frame);
        expect(size).toBeGreaterThan(last);
      }
      const reopened = await openQueue(dir);
      expect(reopened.entries, damage).toBe(2);
      expect(statSync(path).size, damage).toBe(size);
      expect(await drain(reopened)).toEqual(["cpu v=1 1\n", "cpu v=2 2\n"]);
      await closeQueue(reopened);
    }
  });

  it("rolls over to new segment files and deletes each one once delivered", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    for (let n = 1; n <= 20; n++) await queue.append(entry(n));
    expect(segments(dir).length).toBeGreaterThan(3);
    const bodies = await drain(queue, 0);
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `cpu v=${i + 1} ${i + 1}\n`));
    expect(segments(dir).length).toBeLessThanOrEqual(1);
    await queue.append(entry(21));
    await closeQueue(queue);
    const reopened = await openQueue(dir, { segmentBytes: 200 });
    expect(await drain(reopened)).toEqual(["cpu v=21 21\n"]);
  });

  it("group-commits concurrent appends and survives fsync interval", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { fsync: "interval", fsyncIntervalMs: 50 });
    await Promise.all(Array.from({ length: 500 }, (_, i) => queue.append(entry(i + 1))));
    expect(queue.entries).toBe(500);
    await closeQueue(queue);
    const reopened = await openQueue(dir);
    expect((await drain(reopened)).length).toBe(500);
  });

  it("drops everything on drop(), and a batch read before the drop is not committed after it", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir);
    for (let n = 1; n <= 3; n++) await queue.append(entry(n, { query: `db=${n}` }));
    const stale = await queue.peek(0, sameTarget);
    expect(await queue.drop()).toEqual({ entries: 3, bytes: expect.any(Number) });
    await queue.commit(stale!);
    await queue.append(entry(9));
    expect(await drain(queue)).toEqual(["cpu v=9 9\n"]);
    expect(segments(dir).length).toBeLessThanOrEqual(1);
  });

  it("refuses a second owner of the same directory (other processes: test/integration/pid-lock.test.ts)", async () => {
    const dir = tempDir();
    await openQueue(dir);
    await expect(DiskQueue.open({ dir, fsync: "always", fsyncIntervalMs: 1_000, logger: captureLog().logger })).rejects.toThrow(
      `a relay using the spool ${dir} is already running (pid ${process.pid}, lock file ${join(dir, "LOCK")})`,
    );
  });

  it("reads a cursor it cannot parse as 'start from the oldest segment'", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir);
    await queue.append(entry(1));
    await closeQueue(queue);
    writeFileSync(join(dir, "cursor"), "garbage");
    const reopened = await openQueue(dir);
    expect(reopened.entries).toBe(1);
  });
});

describe("merged replay bodies", () => {
  it("end every write's lines with a newline, so writes never run together", () => {
    expect(mergeBodies([entry(1, { body: Buffer.from("a v=1 1") }), entry(2, { body: Buffer.from("b v=2 2\n") })]).toString()).toBe(
      "a v=1 1\nb v=2 2\n",
    );
  });
});

/** Where one entry's frame lies: which segment file, at what offset, how long. */
interface Placed {
  readonly index: number;
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
}

/** The frames of `written`, appended one at a time in that order, laid over the segment files in `dir`. */
function layout(dir: string, written: readonly QueueEntry[]): Placed[] {
  const placed: Placed[] = [];
  for (const file of segments(dir).sort()) {
    const size = statSync(join(dir, file)).size;
    for (let offset = 0; offset < size;) {
      const next = written[placed.length];
      if (!next) throw new Error(`${file} holds more than the ${written.length} entries written`);
      const bytes = encodeFrame(next).length;
      placed.push({ index: placed.length, file, offset, bytes });
      offset += bytes;
    }
  }
  return placed;
}

function readBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function writeBytes(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Flips bits of one byte in place, as a failing disk might. */
function flipByte(path: string, offset: number, mask = 0xff): void {
  const [byte] = readBytes(path, offset, 1);
  writeBytes(path, offset, Buffer.from([byte! ^ mask]));
}

/** Appends entries 1..count, one at a time so each is its own frame, and returns them. */
async function fill(queue: DiskQueue, count: number): Promise<QueueEntry[]> {
  const written = Array.from({ length: count }, (_, i) => entry(i + 1));
  for (const e of written) await queue.append(e);
  return written;
}

const bodiesOf = (written: readonly QueueEntry[]) => written.map((e) => e.body.toString());
const sideFile = (dir: string, placed: Placed) => join(dir, `corrupt-${placed.file.slice(0, 16)}-${placed.offset}.bin`);
const errors = (log: CapturedLog) => log.lines.filter((l) => l.level === 50);

describe("DiskQueue damage", () => {
  it("keeps every entry around damage in the middle of an older segment, and the bad bytes in a side file", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 20);
    await closeQueue(queue);
    const placed = layout(dir, written);
    const files = [...new Set(placed.map((p) => p.file))];
    expect(files.length).toBeGreaterThanOrEqual(4);
    const inSecond = placed.filter((p) => p.file === files[1]);
    const hit = inSecond[Math.floor(inSecond.length / 2)]!;
    expect(hit.offset).toBeGreaterThan(0); // a frame with whole frames on either side of it
    flipByte(join(dir, hit.file), hit.offset + hit.bytes - 3);
    const badBytes = readBytes(join(dir, hit.file), hit.offset, hit.bytes);

    const log = captureLog();
    const reopened = await openQueue(dir, { segmentBytes: 200 }, log);
    const kept = written.filter((_, i) => i !== hit.index);
    expect(reopened.entries).toBe(kept.length);
    expect(reopened.bytes).toBe(kept.reduce((sum, e) => sum + encodeFrame(e).length, 0));
    expect(reopened.oldestAcceptedAt).toBe(written[0]!.acceptedAt);
    expect(reopened.corruptBytes).toBe(hit.bytes);
    expect(reopened.cutBytes).toBe(0);
    const side = sideFile(dir, hit);
    expect(readFileSync(side)).toEqual(badBytes);
    expect(statSync(side).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, hit.file)).size).toBe(inSecond.reduce((sum, p) => sum + p.bytes, 0) - hit.bytes);
    const [line] = errors(log);
    expect(line?.msg).toBe(
      `queue segment has a checksum mismatch at bytes ${hit.offset} to ${hit.offset + hit.bytes} (${hit.bytes} bytes): ` +
        `skipping to the next whole entry; the bad bytes are kept in ${side}`,
    );
    expect(line).toMatchObject({ segment: join(dir, hit.file), offset: hit.offset, bytes: hit.bytes, sideFile: side });

    // The damage left the segment for good: a second start finds nothing, and replay skips only that entry.
    await closeQueue(reopened);
    const again = captureLog();
    const third = await openQueue(dir, { segmentBytes: 200 }, again);
    expect(errors(again)).toEqual([]);
    expect(third.entries).toBe(kept.length);
    expect(await drain(third, 0)).toEqual(bodiesOf(kept));
    expect(third.bytes).toBe(0);
  });

  it("keeps every side file when damage is found again where earlier damage was moved out", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 12);
    await closeQueue(queue);
    const [, first, second] = layout(dir, written);
    const path = join(dir, first!.file);
    flipByte(path, first!.offset + 20);
    const firstBad = readBytes(path, first!.offset, first!.bytes);
    await closeQueue(await openQueue(dir, { segmentBytes: 200 }));
    // The rewrite moved the next frame to where the damage was: damage it too.
    expect(readBytes(path, first!.offset, second!.bytes)).toEqual(encodeFrame(written[second!.index]!));
    flipByte(path, first!.offset + 20);
    const secondBad = readBytes(path, first!.offset, second!.bytes);
    const log = captureLog();
    const reopened = await openQueue(dir, { segmentBytes: 200 }, log);
    const again = sideFile(dir, first!).replace(/\.bin$/, "-2.bin");
    expect(errors(log).map((l) => l.sideFile)).toEqual([again]);
    expect(readFileSync(sideFile(dir, first!))).toEqual(firstBad);
    expect(readFileSync(again)).toEqual(secondBad);
    expect(await drain(reopened)).toEqual(bodiesOf(written.filter((_, i) => i !== first!.index && i !== second!.index)));
  });

  it("keeps the cursor right when the damage lies after it in the head segment", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 12);
    await queue.commit((await queue.peek(0, sameTarget))!); // the cursor now sits after entry 1
    await closeQueue(queue);
    const placed = layout(dir, written);
    const hit = placed[2]!;
    expect(hit.file).toBe(placed[0]!.file);
    flipByte(join(dir, hit.file), hit.offset + HEADER_OFFSET_OF_LENGTH);
    const reopened = await openQueue(dir, { segmentBytes: 200 });
    expect(reopened.corruptBytes).toBe(hit.bytes);
    expect(await drain(reopened)).toEqual(bodiesOf(written.filter((_, i) => i !== 0 && i !== hit.index)));
  });

  it("cuts a torn tail as before, while damage in an older segment and mid-tail costs only its own entries", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 14);
    await closeQueue(queue);
    const placed = layout(dir, written);
    const files = [...new Set(placed.map((p) => p.file))];
    const tailFile = files.at(-1)!;
    const inTail = placed.filter((p) => p.file === tailFile);
    expect(inTail.length).toBeGreaterThanOrEqual(2);
    const older = placed[1]!; // in the first segment
    const midTail = inTail[0]!; // whole frames follow it: a torn write cannot leave that, so it is damage
    flipByte(join(dir, older.file), older.offset); // the frame marker
    flipByte(join(dir, tailFile), midTail.offset + midTail.bytes - 1);
    appendFileSync(join(dir, tailFile), encodeFrame(entry(99)).subarray(0, 20)); // and a torn write at the very end

    const log = captureLog();
    const reopened = await openQueue(dir, { segmentBytes: 200 }, log);
    expect(reopened.cutBytes).toBe(20);
    expect(reopened.corruptBytes).toBe(older.bytes + midTail.bytes);
    expect(log.lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      "queue segment ends in a frame cut short, left by a crash: cutting it there",
    ]);
    expect(errors(log).map((l) => l.sideFile)).toEqual([sideFile(dir, older), sideFile(dir, midTail)]);
    expect(errors(log)[0]!.msg).toContain("no frame marker");
    await reopened.append(entry(15));
    const kept = [...written.filter((_, i) => i !== older.index && i !== midTail.index), entry(15)];
    expect(await drain(reopened)).toEqual(bodiesOf(kept));
  });

  it("does not take a false frame marker inside damage for a frame when its checksum fails", async () => {
    const dir = tempDir();
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 12);
    await closeQueue(queue);
    const placed = layout(dir, written);
    const [, damaged, swallowed] = placed;
    expect(swallowed!.file).toBe(damaged!.file);
    const path = join(dir, damaged!.file);
    // Break the frame's own marker, and plant inside it a header whose length runs to the end of the next
    // frame: taken at its word, it would swallow that frame.
    flipByte(path, damaged!.offset);
    const fakeAt = damaged!.offset + 14;
    const fakeEnd = swallowed!.offset + swallowed!.bytes;
    const fake = Buffer.alloc(12);
    FRAME_MARKER.copy(fake, 0);
    fake.writeUInt32LE(fakeEnd - fakeAt - 12, 4);
    writeBytes(path, fakeAt, fake);
    const payload = readBytes(path, fakeAt + 12, fakeEnd - fakeAt - 12);
    fake.writeUInt32LE((crc32(payload) + 1) >>> 0, 8); // a checksum that is surely wrong
    writeBytes(path, fakeAt, fake);
    const badBytes = readBytes(path, damaged!.offset, damaged!.bytes);

    const reopened = await openQueue(dir, { segmentBytes: 200 });
    expect(reopened.corruptBytes).toBe(damaged!.bytes);
    expect(readFileSync(sideFile(dir, damaged!))).toEqual(badBytes);
    expect(await drain(reopened)).toEqual(bodiesOf(written.filter((_, i) => i !== damaged!.index)));
  });

  it("skips only the damaged entries when the disk fails after they were written, at the head and in the tail", async () => {
    const dir = tempDir();
    const log = captureLog();
    const queue = await openQueue(dir, { segmentBytes: 200 }, log);
    const written = await fill(queue, 20);
    const placed = layout(dir, written);
    const tailFile = placed.at(-1)!.file;
    const inTail = placed.filter((p) => p.file === tailFile);
    const inHead = placed.filter((p) => p.file === placed[0]!.file);
    const inSecond = placed.filter((p) => p.file === placed[inHead.length]!.file);
    const atHead = inHead[0]!; // where the cursor is: the first peek meets it
    const later = inSecond[2]!; // behind whole entries of its segment: the batch there ends before it
    const inOpenTail = inTail[1]!; // in the segment still being appended to
    expect(new Set([atHead.file, later.file, inOpenTail.file]).size).toBe(3);
    for (const hit of [atHead, later, inOpenTail]) flipByte(join(dir, hit.file), hit.offset + 20, 0x10);

    // Damage at the head is moved aside and the head read again: the first batch is the rest of the segment.
    const firstBatch = await queue.peek(1 << 20, sameTarget);
    expect(firstBatch!.entries.map((e) => e.body.toString())).toEqual(bodiesOf(written.slice(1, inHead.length)));
    await queue.commit(firstBatch!);
    const beforeLater = await queue.peek(1 << 20, sameTarget);
    expect(beforeLater!.entries.map((e) => e.body.toString())).toEqual(bodiesOf(written.slice(later.index - 2, later.index)));
    await queue.commit(beforeLater!);
    await queue.append(entry(21)); // the tail, rewritten under it, still takes appends
    const damaged = new Set([atHead.index, later.index, inOpenTail.index]);
    const kept = [...written.filter((_, i) => !damaged.has(i)), entry(21)];
    expect(await drain(queue)).toEqual(bodiesOf(kept.slice(kept.indexOf(written[later.index + 1]!))));
    expect(queue.corruptBytes).toBe(atHead.bytes + later.bytes + inOpenTail.bytes);
    expect(queue.cutBytes).toBe(0);
    expect(queue.entries).toBe(0);
    expect(queue.bytes).toBe(0);
    expect(queue.oldestAcceptedAt).toBeUndefined();
    for (const hit of [atHead, later, inOpenTail]) expect(statSync(sideFile(dir, hit)).size).toBe(hit.bytes);
    const losses = errors(log).filter((l) => l.lostEntries !== undefined);
    expect(losses.map((l) => [l.lostEntries, l.lostBytes])).toEqual([
      [1, atHead.bytes],
      [1, later.bytes],
      [1, inOpenTail.bytes],
    ]);
  });

  it("counts moved-aside bytes in /metrics, and the relay replays every whole entry", async () => {
    const spoolDir = tempDir();
    const dir = join(spoolDir, "out1");
    const queue = await openQueue(dir, { segmentBytes: 200 });
    const written = await fill(queue, 15);
    await closeQueue(queue);
    const placed = layout(dir, written);
    const hit = placed.find((p) => p.file !== placed[0]!.file && p.file !== placed.at(-1)!.file)!;
    flipByte(join(dir, hit.file), hit.offset + 25);

    const backend = await startScriptedBackend();
    cleanup.push(() => backend.close());
    const config = parseConfig(
      `[[http]]\nbind-addr = "127.0.0.1:9096"\nspool-dir = "${spoolDir}"\n` +
        `output = [{ name = "out1", location = "${backend.writeUrl}", timeout = "2s", max-delay-interval = "1s" }]`,
      "disk-queue.toml",
    );
    const app = await buildApp({ listener: config.http[0]!, logger: captureLog().logger });
    cleanup.unshift(() => app.close());
    const expected = bodiesOf(written.filter((_, i) => i !== hit.index)).join("");
    const received = () => backend.requests.map((r) => r.body.toString()).join("");
    await waitFor(async () => received().length >= expected.length, { timeoutMs: 10_000, what: "the queue's replay" });
    expect(received()).toBe(expected);
    expect((await app.inject("/metrics")).body).toContain(
      `influx_relay_queue_corrupt_bytes_total{output="out1",listener="http-0"} ${hit.bytes}`,
    );
  });

  it("loses at most the entry a flipped byte in an older segment lands in, and keeps the rest in order", async () => {
    const written = fc.array(fc.string({ minLength: 1, maxLength: 60 }), { minLength: 10, maxLength: 30 });
    await fc.assert(
      fc.asyncProperty(
        written,
        fc.integer({ min: 60, max: 200 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (texts, segmentBytes, where, mask) => {
          const dir = tempDir();
          const queue = await openQueue(dir, { segmentBytes, fsync: "interval" });
          const entries = texts.map((text, i) => entry(i + 1, { body: Buffer.from(`${i} ${text}`) }));
          for (const e of entries) await queue.append(e);
          await closeQueue(queue);
          const placed = layout(dir, entries);
          const older = placed.filter((p) => p.file !== placed.at(-1)!.file);
          expect(older.length).toBeGreaterThan(0);
          const olderBytes = older.reduce((sum, p) => sum + p.bytes, 0);
          // A byte in an older segment, counted across all of their frames in order.
          const target = where % olderBytes;
          let upTo = 0;
          const hit = older.find((p) => (upTo += p.bytes) > target)!;
          flipByte(join(dir, hit.file), hit.offset + target - (upTo - hit.bytes), mask);
          const badBytes = readBytes(join(dir, hit.file), hit.offset, hit.bytes);

          const reopened = await openQueue(dir, { segmentBytes });
          const kept = entries.filter((_, i) => i !== hit.index);
          expect(reopened.entries).toBe(kept.length);
          expect(reopened.corruptBytes).toBe(hit.bytes);
          expect(readFileSync(sideFile(dir, hit))).toEqual(badBytes);
          expect(await drain(reopened)).toEqual(bodiesOf(kept));
          await closeQueue(reopened);
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});
