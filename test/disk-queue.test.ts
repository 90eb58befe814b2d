// The on-disk queue: framing, order, restart, torn tails, segment files, drop.
import { appendFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DiskQueue, type DiskQueueOptions } from "../relay/queue/disk-queue.js";
import { decodeFrame, encodeFrame, type QueueEntry } from "../relay/queue/frame.js";
import { mergeBodies, sameTarget } from "../relay/queue/batch.js";
import { captureLog, type CapturedLog } from "./helpers/capture-log.js";
import { tempDir } from "./helpers/temp.js";

let open: DiskQueue[] = [];
afterEach(async () => {
  await Promise.all(open.map((q) => q.close()));
  open = [];
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

  it("refuses a second owner of the same directory", async () => {
    const dir = tempDir();
    await openQueue(dir);
    writeFileSync(join(dir, "LOCK"), "1\n"); // pid 1 is always alive
    await expect(DiskQueue.open({ dir, fsync: "always", fsyncIntervalMs: 1_000, logger: captureLog().logger })).rejects.toThrow(
      /^a relay using the spool .* is already running \(pid 1, lock file .*LOCK\)/,
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
