// Data for the query phase, as line-protocol bodies made one at a time (never all held at once): a large
// measurement whose SELECT * answers with well over 100 MB of JSON, and a small one for point queries.
// Seeded, so every run loads byte-identical data and the answers' sizes stay comparable.

/** Database, measurements and tags the queries of bench/query.ts refer to. */
export const QUERY_DB = "benchq";
export const BIG_MEASUREMENT = "big";
export const SMALL_MEASUREMENT = "m";
/** Written with precision=s: shorter lines, and whole-second times in the answers. */
export const QUERY_WRITE_PRECISION = "s";

/** Hosts (series) of each measurement; points go round-robin over them, one second apart per host. */
const HOSTS = 10;
const BASE_SECONDS = 1_732_000_000;
/** Payloads are windows of one seeded pool, so making them costs a slice, not a loop per character. */
const PAYLOAD_POOL_CHARS = 1 << 16;
const PAYLOAD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export interface QueryDataset {
  /** Points of the large measurement. */
  readonly bigPoints: number;
  /** Points of the small measurement. */
  readonly smallPoints: number;
  /** Characters of the large measurement's string field. */
  readonly payloadChars: number;
  readonly linesPerBody: number;
  /** Bodies to write, in order: the small measurement's, then the large one's. */
  readonly bodyCount: number;
  /** The `index`th body; made on each call. */
  body(index: number): Buffer;
}

/**
 * `payloadChars` sizes the large measurement's string field: the longer it is, the more of each row's JSON it
 * makes, and the less influxd's cost per row holds back the answer's bytes per second.
 */
export function queryDataset(bigPoints: number, smallPoints: number, payloadChars: number, linesPerBody: number): QueryDataset {
  const pool = payloadPool();
  const smallBodies = Math.ceil(smallPoints / linesPerBody);
  const bigBodies = Math.ceil(bigPoints / linesPerBody);
  return {
    bigPoints,
    smallPoints,
    payloadChars,
    linesPerBody,
    bodyCount: smallBodies + bigBodies,
    body(index) {
      if (index < smallBodies) return smallBody(index * linesPerBody, Math.min(smallPoints, (index + 1) * linesPerBody));
      const from = (index - smallBodies) * linesPerBody;
      return bigBody(pool, payloadChars, from, Math.min(bigPoints, from + linesPerBody));
    },
  };
}

function smallBody(from: number, to: number): Buffer {
  const lines: string[] = [];
  for (let i = from; i < to; i++) {
    lines.push(`${SMALL_MEASUREMENT},host=h${i % HOSTS} v=${((i * 37) % 1000) / 10} ${secondOf(i)}`);
  }
  return Buffer.from(lines.join("\n") + "\n");
}

function bigBody(pool: string, payloadChars: number, from: number, to: number): Buffer {
  const lines: string[] = [];
  for (let i = from; i < to; i++) {
    const at = (i * 7919) % (pool.length - payloadChars);
    const payload = pool.slice(at, at + payloadChars);
    lines.push(
      `${BIG_MEASUREMENT},host=h${i % HOSTS} n=${(i * 48271) % 1_000_000}i,payload="${payload}",v=${((i * 16807) % 100_000) / 1000} ${secondOf(i)}`,
    );
  }
  return Buffer.from(lines.join("\n") + "\n");
}

/** Point i's host reports once a second: no two points of one series share a timestamp. */
function secondOf(i: number): number {
  return BASE_SECONDS + Math.floor(i / HOSTS);
}

function payloadPool(): string {
  let state = 0x2545f491;
  const chars: string[] = [];
  for (let i = 0; i < PAYLOAD_POOL_CHARS; i++) {
    // xorshift32: fast, seeded, good enough to keep influxd's string compression honest.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    chars.push(PAYLOAD_ALPHABET[(state >>> 0) % PAYLOAD_ALPHABET.length]!);
  }
  return chars.join("");
}
