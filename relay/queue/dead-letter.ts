// Writes a backend refused for good (a 4xx on replay) go to a JSON-lines file beside the queue, with the
// backend's answer, so they neither block the writes behind them nor vanish. The file holds whole
// requests, credentials included, so only its owner may read it. A remote write's body, binary, is kept
// in base64.
import { appendFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { QueueEntry } from "./frame.js";

export interface DeadLetterRecord {
  readonly deadAt: string;
  readonly acceptedAt: string;
  readonly api: string;
  readonly query: string;
  readonly authorization?: string;
  readonly status: number;
  readonly answer: string;
  readonly body: string;
  /** "base64" for a Prometheus remote write's body (snappy-compressed protobuf); absent for text. */
  readonly bodyEncoding?: "base64";
}

export const DEAD_LETTER_FILE = "dead-letter.jsonl";
const ANSWER_CHARS = 2_000;

export class DeadLetterFile {
  /** Entries written since start. */
  entries = 0;
  /** Size of the file, including entries from earlier runs. */
  bytes = 0;
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, DEAD_LETTER_FILE);
  }

  async open(): Promise<void> {
    this.bytes = await stat(this.path).then(
      (s) => s.size,
      () => 0,
    );
  }

  async add(entry: QueueEntry, status: number, answer: string): Promise<void> {
    const record: DeadLetterRecord = {
      deadAt: new Date().toISOString(),
      acceptedAt: new Date(entry.acceptedAt).toISOString(),
      api: entry.api,
      query: entry.query,
      ...(entry.authorization === undefined ? {} : { authorization: entry.authorization }),
      status,
      answer: answer.slice(0, ANSWER_CHARS),
      ...(entry.api === "prom-write"
        ? { body: entry.body.toString("base64"), bodyEncoding: "base64" as const }
        : { body: entry.body.toString("utf8") }),
    };
    const line = `${JSON.stringify(record)}\n`;
    await appendFile(this.path, line, { mode: 0o600 });
    this.entries++;
    this.bytes += Buffer.byteLength(line);
  }
}
