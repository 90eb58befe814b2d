// One backend with its durable queue. A write goes straight to the backend while the queue is empty;
// once a write is missed, it and every write after it go to the queue, and one sender replays the queue
// in order, merged into batches, backing off while the backend is down. Only when the queue is empty do
// writes go straight again, so a replica never gets an older value after a newer one. InfluxQL statements
// (schema, users, deletes) take the same path, so they reach the replica in order with the writes.
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describeReply, type AckDecision, type Attempt } from "./ack.js";
import type { HttpListenerConfig, HttpOutputConfig } from "./config.js";
import type { DivergenceLog } from "./divergence.js";
import type { Logger } from "./logger.js";
import { HttpOutput, isMissingDatabase, isStatement, type ForwardedRequest, type OutputReply } from "./output.js";
import { mergeBodies, pointsIn, sameTarget } from "./queue/batch.js";
import { DeadLetterFile } from "./queue/dead-letter.js";
import { DiskQueue } from "./queue/disk-queue.js";
import { frameBytes, type QueueEntry } from "./queue/frame.js";
import { ThrottledLog } from "./throttled-log.js";

/** What became of one write on one output. */
export type Outcome = "accepted" | "rejected" | "queued" | "dropped" | "not-kept";

export type Via = "live" | "replay";

export interface Tally {
  writes: number;
  points: number;
  bytes: number;
}

/** Totals since start. */
export interface OutputStats {
  /** Accepted by the backend as they came in. */
  readonly live: Tally;
  /** Delivered from the queue. */
  readonly replayed: Tally;
  /** Appended to the queue. */
  readonly queued: Tally;
  /** Neither delivered nor queued, because the output was out of sync. */
  readonly dropped: Tally;
  /** Refused by the backend with a 4xx as they came in. */
  rejected: number;
  /** Tries that got no answer, a timeout or a 5xx. */
  failures: number;
}

export interface OutputHealth {
  readonly name: string;
  readonly up: boolean;
  /** Up, and no backlog to replay first: a write sent now reaches the backend at once. */
  readonly takesWritesNow: boolean;
  /** Holds (or is about to hold) writes the replica lacks, or is out of sync: reads must not go there. */
  readonly behind: boolean;
  /** Writes that missed the backend and are not yet in the queue. */
  readonly pendingAttempts: number;
  readonly lastError: string | undefined;
  readonly outOfSync: OutOfSync | undefined;
  readonly queue: {
    readonly entries: number;
    readonly bytes: number;
    readonly oldestAgeSeconds: number | undefined;
    /** When the oldest queued write was accepted, in ms since the epoch: peers order their statements by it. */
    readonly oldestAcceptedAt: number | undefined;
    readonly limitBytes: number;
    readonly maxAgeSeconds: number;
    /** Bytes cut from torn tails since start. */
    readonly cutBytes: number;
    /** Damaged bytes moved out of the queue into side files since start. */
    readonly corruptBytes: number;
  };
  readonly deadLetter: { readonly file: string; readonly fileBytes: number; readonly entriesSinceStart: number };
}

export interface OutOfSync {
  readonly since: string;
  readonly reason: string;
  /** When the output last dropped a write (for a new output, when it first started): a repair must begin after it. */
  readonly lastDropAt: string;
}

/** The OUT-OF-SYNC file: markers written before lastDropAt was kept lack it, and count `since` instead. */
type OutOfSyncMarker = Omit<OutOfSync, "lastDropAt"> & { readonly lastDropAt?: string };

/** What POST /admin/mark-in-sync got: refused when a write was dropped at or after the repair began. */
export type MarkInSyncResult =
  { readonly kind: "cleared" | "was-in-sync" } | { readonly kind: "dropped-since"; readonly lastDropAt: number };

export interface DurableOutputOptions {
  readonly output: HttpOutputConfig;
  readonly listener: Pick<HttpListenerConfig, "spoolDir" | "fsync" | "fsyncIntervalMs">;
  readonly logger: Logger;
  /** Called with the duration of every request to the backend. */
  readonly onBackendRequest?: (seconds: number, via: Via) => void;
  /** Where a queued statement this output refused is recorded. */
  readonly divergences?: DivergenceLog;
  /** What the other relays hold for this replica: a statement that reads or removes points waits for it. */
  readonly peerWrites?: PeerWrites;
  /**
   * The output directories the spool-dir held before this start (outputDirsIn), read once for the whole
   * listener so that outputs opened earlier in the same start do not count.
   */
  readonly outputDirsAtStart: ReadonlySet<string>;
}

/** What the relay's peers hold for one replica, by the output's name. */
export interface PeerWrites {
  /** Some peer holds (or is queueing) writes for the replica: a statement sent now could overtake them. */
  holdWritesFor(output: string): boolean;
  /** Some peer may still hold writes for the replica that were accepted at or before `acceptedAt`. */
  holdWritesBefore(output: string, acceptedAt: number): boolean;
}

const INITIAL_RETRY_DELAY_MS = 500;
/** How often a queued statement that waits for the peers' earlier writes looks again. */
const PEER_WAIT_MS = 200;
const OUT_OF_SYNC_FILE = "OUT-OF-SYNC";
/** While drops go on, the marker's lastDropAt is rewritten at most this often (and once more after the last). */
const MARKER_REWRITE_MS = 1_000;
const NEW_OUTPUT_REASON = "a new output: its replica may lack what the others hold; run influx-ha repair";
/** How long start waits for the first word from each backend, so /health is right from the first request. */
const FIRST_CONTACT_WAIT_MS = 1_000;

export class DurableOutput {
  readonly name: string;
  readonly stats: OutputStats = {
    live: tally(),
    replayed: tally(),
    queued: tally(),
    dropped: tally(),
    rejected: 0,
    failures: 0,
  };
  private up = false;
  private lastError: string | undefined = "not contacted yet";
  private outOfSync: Omit<OutOfSync, "lastDropAt"> | undefined;
  /** In ms; kept after the marking is cleared, so a repair that began before a drop cannot clear a later one. */
  private lastDropAt: number | undefined;
  private markerSavedAt = 0;
  private markerTimer: NodeJS.Timeout | undefined;
  /** Changes to the marker file, one at a time and in order, so the file ends as memory says. */
  private markerSaves: Promise<void> = Promise.resolve();
  /** Writes that failed or were deferred and may be queued: while any is open, new writes wait behind them. */
  private reserved = 0;
  private retryAt = 0;
  private retryDelayMs = INITIAL_RETRY_DELAY_MS;
  /** After a merged batch got a 4xx: how many entries to replay one at a time, to find the one at fault. */
  private oneByOne = 0;
  private wake: (() => void) | undefined;
  /** Counts the times the output fell behind: a new one is what the relay's peers must be told of. */
  private behindEpisodes = 0;
  private closed = false;
  private sender: Promise<void> | undefined;
  private readonly warnings: ThrottledLog;

  private constructor(
    private readonly opts: DurableOutputOptions,
    private readonly http: HttpOutput,
    private readonly queue: DiskQueue,
    private readonly deadLetter: DeadLetterFile,
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    this.name = opts.output.name;
    this.warnings = new ThrottledLog(log);
  }

  /** Opens the output's queue under the listener's spool-dir, resuming whatever an earlier run left in it. */
  static async open(opts: DurableOutputOptions): Promise<DurableOutput> {
    const dirName = encodeURIComponent(opts.output.name);
    const dir = join(opts.listener.spoolDir, dirName);
    const log = opts.logger.child({ output: opts.output.name });
    // A spool-dir that already queues for other outputs belongs to a layout that grew this replica: it
    // lacks what the others got before now. Its directory appears with the marker already in it, so a
    // crash during this start cannot leave it unmarked; "+" is never in an encoded name, so a staging
    // directory a crash left is not taken for an output's.
    const isNewReplica = !opts.outputDirsAtStart.has(dirName) && opts.outputDirsAtStart.size > 0;
    if (isNewReplica) {
      const staging = `${dir}+new`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging);
      const now = new Date().toISOString();
      await saveMarkerFile(staging, { since: now, reason: NEW_OUTPUT_REASON, lastDropAt: now });
      await rename(staging, dir);
      log.warn(
        `output ${opts.output.name} is new beside the spool-dir's other outputs: marked out of sync until influx-ha repair clears it`,
      );
    }
    const queue = await DiskQueue.open({ dir, fsync: opts.listener.fsync, fsyncIntervalMs: opts.listener.fsyncIntervalMs, logger: log });
    const deadLetter = new DeadLetterFile(dir);
    await deadLetter.open();
    const output = new DurableOutput(opts, new HttpOutput(opts.output), queue, deadLetter, dir, log);
    const marker = await readOutOfSync(dir);
    if (marker) {
      output.outOfSync = { since: marker.since, reason: marker.reason };
      // An unreadable time is taken as now: whatever it recorded happened before this start.
      const lastDropAt = Date.parse(marker.lastDropAt ?? marker.since);
      output.lastDropAt = Number.isNaN(lastDropAt) ? Date.now() : lastDropAt;
    }
    if (queue.entries > 0 || output.outOfSync) output.behindEpisodes++;
    if (queue.entries > 0) {
      output.log.info({ entries: queue.entries, bytes: queue.bytes }, "resuming the queue left by the last run");
    }
    const firstContact = new Promise<void>((resolve) => (output.sender = output.run(resolve)));
    await Promise.race([firstContact, new Promise((resolve) => setTimeout(resolve, FIRST_CONTACT_WAIT_MS).unref())]);
    return output;
  }

  /** Sends the write straight to the backend, unless it has to wait behind the queue. */
  async attempt(write: QueueEntry): Promise<Attempt> {
    if (this.backlogged()) {
      this.reserved++;
      return { kind: "deferred", output: this.name, reason: "still replaying its queue" };
    }
    if (write.api === "influxql-after-writes" && this.opts.peerWrites?.holdWritesFor(this.name)) {
      this.reserve();
      return { kind: "deferred", output: this.name, reason: "another relay holds earlier writes for it" };
    }
    const reply = await this.send(write, "live");
    if (isSuccess(reply.status) && reply.statementError === undefined) {
      count(this.stats.live, 1, write.points, write.body.length);
      return { kind: "accepted", reply };
    }
    if (isMissingDatabase(reply)) {
      this.reserve();
      return { kind: "missing-database", reply };
    }
    if (isClientError(reply.status) || reply.statementError !== undefined) {
      this.stats.rejected++;
      return { kind: "rejected", reply };
    }
    this.reserve();
    if (Date.now() >= this.retryAt) this.backOff();
    return { kind: "failed", reply };
  }

  /** A client's read, straight to the backend: reads never queue. */
  forward(read: ForwardedRequest): ReturnType<HttpOutput["forward"]> {
    return this.http.forward(read);
  }

  /** X-Influxdb-Version of the backend's latest answer. */
  get backendVersion(): string | undefined {
    return this.http.version;
  }

  /** How many times the output has fallen behind since start (a queue left by the last run counts once). */
  get behindEpisode(): number {
    return this.behindEpisodes;
  }

  /** Finishes what attempt() began, as the ack decision says: queue the write or let it go. */
  async settle(write: QueueEntry, attempt: Attempt, decision: AckDecision): Promise<Outcome> {
    if (attempt.kind === "accepted" || attempt.kind === "rejected") return attempt.kind;
    try {
      return decision.queue ? await this.enqueue(write) : "not-kept";
    } finally {
      this.reserved--;
      this.wake?.();
    }
  }

  /** Drops the queue and clears out-of-sync: the operator has resynced the replica some other way. */
  async flush(): Promise<{ entries: number; bytes: number }> {
    const dropped = await this.queue.drop();
    this.oneByOne = 0;
    this.outOfSync = undefined;
    await this.saveMarker();
    this.log.warn(dropped, "queue flushed by an operator; the output is in sync again");
    return dropped;
  }

  /**
   * Clears out-of-sync and keeps the queue, whose writes the replica still needs: a repair has copied to
   * the replica what it lacked, comparing from `before` (ms). Refused, the marking kept, when a write was
   * dropped at or after `before`: the repair cannot have covered that one.
   */
  async markInSync(before: number): Promise<MarkInSyncResult> {
    if (this.lastDropAt !== undefined && this.lastDropAt >= before) return { kind: "dropped-since", lastDropAt: this.lastDropAt };
    if (!this.outOfSync) return { kind: "was-in-sync" };
    const cleared = this.outOfSync;
    this.outOfSync = undefined;
    await this.saveMarker();
    this.log.warn(
      {
        before: new Date(before).toISOString(),
        since: cleared.since,
        reason: cleared.reason,
        queueEntries: this.queue.entries,
        queueBytes: this.queue.bytes,
      },
      "out-of-sync mark cleared by an operator (repair)",
    );
    return { kind: "cleared" };
  }

  health(): OutputHealth {
    const { queue, opts } = this;
    return {
      name: this.name,
      up: this.up,
      takesWritesNow: this.up && !this.backlogged(),
      behind: this.backlogged() || this.outOfSync !== undefined,
      pendingAttempts: this.reserved,
      lastError: this.up ? undefined : this.lastError,
      outOfSync: this.marking(),
      queue: {
        entries: queue.entries,
        bytes: queue.bytes,
        oldestAgeSeconds: queue.oldestAcceptedAt === undefined ? undefined : Math.max(0, (Date.now() - queue.oldestAcceptedAt) / 1000),
        oldestAcceptedAt: queue.oldestAcceptedAt,
        limitBytes: this.limitBytes(),
        maxAgeSeconds: opts.output.maxQueueAgeMs / 1000,
        cutBytes: queue.cutBytes,
        corruptBytes: queue.corruptBytes,
      },
      deadLetter: { file: this.deadLetter.path, fileBytes: this.deadLetter.bytes, entriesSinceStart: this.deadLetter.entries },
    };
  }

  /** Stops the sender after what it is doing, then closes the queue and the connections. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.sender;
    if (this.markerTimer) await this.saveMarker().catch((err: Error) => this.log.error({ err }, "cannot record the last drop on disk"));
    await this.markerSaves;
    await this.queue.close();
    await this.http.close();
  }

  /** The marking as /status shows it and the marker file keeps it (lastDropAt is set whenever it is marked). */
  private marking(): OutOfSync | undefined {
    if (!this.outOfSync) return undefined;
    return { ...this.outOfSync, lastDropAt: new Date(this.lastDropAt ?? Date.now()).toISOString() };
  }

  private backlogged(): boolean {
    return this.reserved > 0 || this.queue.committedAndPendingBytes > 0;
  }

  /** Holds a place in the queue for a write that missed the backend. */
  private reserve(): void {
    if (!this.backlogged()) this.behindEpisodes++;
    this.reserved++;
  }

  private limitBytes(): number {
    return this.opts.output.bufferSizeMb * 1024 * 1024;
  }

  private async enqueue(write: QueueEntry): Promise<Outcome> {
    const full = this.queue.committedAndPendingBytes + frameBytes(write) > this.limitBytes();
    const oldest = this.queue.oldestAcceptedAt;
    const tooOld = oldest !== undefined && Date.now() - oldest > this.opts.output.maxQueueAgeMs;
    // Statements queue past the bounds: tiny, and a lost one is worse than a gap (repair would resurrect deleted points).
    if ((full || tooOld) && !isStatement(write.api)) {
      const reason = full
        ? `its queue is full (buffer-size-mb = ${this.opts.output.bufferSizeMb})`
        : `its oldest queued write is older than max-queue-age (${this.opts.output.maxQueueAgeMs / 1000}s)`;
      return this.drop(write, reason);
    }
    try {
      await this.queue.append(write);
    } catch (err) {
      return this.drop(write, (err as Error).message);
    }
    count(this.stats.queued, 1, write.points, write.body.length);
    return "queued";
  }

  /** The first drop's marking is on disk before the write is answered: a crash then cannot lose it. */
  private async drop(write: QueueEntry, reason: string): Promise<Outcome> {
    count(this.stats.dropped, 1, write.points, write.body.length);
    this.lastDropAt = Date.now();
    if (!this.outOfSync) {
      if (!this.backlogged()) this.behindEpisodes++;
      this.outOfSync = { since: new Date(this.lastDropAt).toISOString(), reason };
      this.log.error(
        { reason, queueEntries: this.queue.entries, queueBytes: this.queue.bytes },
        `OUTPUT ${this.name} IS OUT OF SYNC: ${reason}. Writes it misses are now dropped for it, and its replica will lack them. ` +
          "Run influx-ha repair: it copies what the replica lacks, then clears this through POST /admin/mark-in-sync and " +
          "keeps the queue. POST /admin/flush clears it too, but drops the queue.",
      );
      await this.saveMarker().catch((err: Error) => this.log.error({ err }, "cannot record the out-of-sync marking on disk"));
    } else {
      this.saveMarkerSoon();
    }
    this.warnings.warn("dropped", { reason }, `write dropped for out-of-sync output ${this.name}`);
    return "dropped";
  }

  /** Records the latest drop in the marker, at most once a second while drops go on; the last one too. */
  private saveMarkerSoon(): void {
    if (this.markerTimer) return;
    const wait = this.markerSavedAt + MARKER_REWRITE_MS - Date.now();
    const save = () => this.saveMarker().catch((err: Error) => this.log.error({ err }, "cannot record the last drop on disk"));
    if (wait <= 0) return void save();
    this.markerTimer = setTimeout(save, wait);
    this.markerTimer.unref();
  }

  /** Brings the marker file in line with memory: written while out of sync, removed once in sync. */
  private saveMarker(): Promise<void> {
    clearTimeout(this.markerTimer);
    this.markerTimer = undefined;
    this.markerSavedAt = Date.now();
    const save = this.markerSaves.then(() => {
      const marking = this.marking();
      return marking ? saveMarkerFile(this.dir, marking) : rm(join(this.dir, OUT_OF_SYNC_FILE), { force: true });
    });
    this.markerSaves = save.catch(() => undefined);
    return save;
  }

  private async toDeadLetter(write: QueueEntry, reply: OutputReply): Promise<void> {
    await this.deadLetter.add(write, reply.status, describeReply(reply));
    this.warnings.warn(
      "dead-letter",
      { status: reply.status, file: this.deadLetter.path },
      `output ${this.name} refused a queued write for good (${describeReply(reply)}); it is in the dead-letter file`,
    );
  }

  /** The one sender: replays the queue, and probes the backend while it is down with nothing queued. */
  private async run(firstContact: () => void): Promise<void> {
    while (!this.closed) {
      const wait = this.retryAt - Date.now();
      try {
        if (wait > 0) await this.sleep(wait);
        else if (this.queue.entries > 0) await this.replayOnce();
        else if (!this.up) await this.probe();
        else await this.sleep(Infinity);
      } catch (err) {
        this.log.error({ err }, "queue sender failed; retrying after a pause");
        this.backOff();
      }
      if (this.retryAt > 0 || this.up || this.queue.entries === 0) firstContact();
    }
  }

  private async replayOnce(): Promise<void> {
    const batch = await this.queue.peek(this.oneByOne > 0 ? 0 : this.opts.output.maxBatchKb * 1024, sameTarget);
    if (!batch) return;
    const first = batch.entries[0]!;
    if (first.api === "influxql-after-writes" && (await this.waitsForPeers(first))) return;
    const body = mergeBodies(batch.entries);
    const reply = await this.send({ ...first, body }, "replay");
    if (isSuccess(reply.status) && reply.statementError === undefined) {
      count(this.stats.replayed, batch.entries.length, pointsIn(batch.entries), body.length);
    } else if (isMissingDatabase(reply) && Date.now() - first.acceptedAt <= this.opts.output.maxQueueAgeMs) {
      // A CREATE DATABASE may still be on its way here through another relay's queue: wait for it.
      this.warnings.warn(
        "missing-database",
        { error: describeReply(reply) },
        `output ${this.name} lacks the database of a queued write; retrying`,
      );
      return this.backOff();
    } else if (isClientError(reply.status) || reply.statementError !== undefined || isMissingDatabase(reply)) {
      if (batch.entries.length > 1) {
        this.oneByOne = batch.entries.length;
        return;
      }
      await this.toDeadLetter(first, reply);
      if (isStatement(first.api)) {
        this.opts.divergences?.record({
          statement: new URLSearchParams(first.body.toString("utf8")).get("q") ?? "",
          appliedOn: [],
          refusedBy: [{ output: this.name, error: reply.statementError ?? describeReply(reply) }],
          via: "replay",
        });
      }
    } else {
      return this.backOff();
    }
    this.oneByOne = Math.max(0, this.oneByOne - 1);
    await this.queue.commit(batch);
  }

  /**
   * A statement that reads or removes points must not overtake a write another relay took before it and
   * still holds for this replica. Waits up to max-queue-age from its acceptance: past that, the peer's
   * writes could be gone (out of sync) or the peer gone for good.
   */
  private async waitsForPeers(statement: QueueEntry): Promise<boolean> {
    if (!this.opts.peerWrites?.holdWritesBefore(this.name, statement.acceptedAt)) return false;
    if (Date.now() - statement.acceptedAt > this.opts.output.maxQueueAgeMs) {
      this.log.error(
        { acceptedAt: new Date(statement.acceptedAt).toISOString() },
        `a queued statement has waited max-queue-age for another relay's earlier writes to ${this.name}; applying it now, and writes it should follow may come after it`,
      );
      return false;
    }
    this.warnings.warn("peer-order", {}, `a queued statement for ${this.name} waits for another relay's earlier writes to it`);
    await this.sleep(PEER_WAIT_MS);
    return true;
  }

  private async probe(): Promise<void> {
    const reply = await this.http.ping();
    if (isSuccess(reply.status)) this.markUp();
    else this.backOff(reply);
  }

  private async send(write: QueueEntry, via: Via): Promise<OutputReply> {
    const started = performance.now();
    const reply = await this.http.send(write);
    this.opts.onBackendRequest?.((performance.now() - started) / 1000, via);
    if (reply.status !== 0 && reply.status < 500) this.markUp();
    else this.noteFailure(reply);
    return reply;
  }

  private markUp(): void {
    if (!this.up) this.log.info(`output ${this.name} is up`);
    this.up = true;
    this.retryAt = 0;
    this.retryDelayMs = INITIAL_RETRY_DELAY_MS;
  }

  private noteFailure(reply: OutputReply): void {
    this.stats.failures++;
    this.lastError = describeReply(reply);
    if (this.up) this.log.warn({ error: this.lastError }, `output ${this.name} is down`);
    this.up = false;
  }

  /** Waits before the next try: 500 ms, doubling up to max-delay-interval. */
  private backOff(reply?: OutputReply): void {
    if (reply) this.noteFailure(reply);
    this.retryAt = Date.now() + this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.opts.output.maxDelayIntervalMs);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}

/** The names of the directories in a spool-dir that can be outputs' queues (an absent spool-dir has none). */
export async function outputDirsIn(spoolDir: string): Promise<Set<string>> {
  try {
    const entries = await readdir(spoolDir, { withFileTypes: true });
    return new Set(entries.filter((entry) => entry.isDirectory() && isEncodedOutputName(entry.name)).map((entry) => entry.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw err;
  }
}

/** A queue directory's name is encodeURIComponent(output name): lost+found, on a volume's root, is not one. */
function isEncodedOutputName(name: string): boolean {
  try {
    return encodeURIComponent(decodeURIComponent(name)) === name;
  } catch {
    return false;
  }
}

/** Written whole or not at all: the marker is rewritten while drops go on, and a crash must not tear it. */
async function saveMarkerFile(dir: string, marker: OutOfSync): Promise<void> {
  const file = join(dir, OUT_OF_SYNC_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(marker)}\n`);
  await rename(`${file}.tmp`, file);
}

async function readOutOfSync(dir: string): Promise<OutOfSyncMarker | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, OUT_OF_SYNC_FILE), "utf8")) as OutOfSyncMarker;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { since: "unknown", reason: `the ${OUT_OF_SYNC_FILE} marker is unreadable: ${(err as Error).message}` };
  }
}

function tally(): Tally {
  return { writes: 0, points: 0, bytes: 0 };
}

function count(t: Tally, writes: number, points: number, bytes: number): void {
  t.writes += writes;
  t.points += points;
  t.bytes += bytes;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

function isClientError(status: number): boolean {
  return status >= 400 && status < 500;
}
