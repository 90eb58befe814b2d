// A pino logger whose lines the test can read back.
import { pino, type Logger } from "pino";

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: Array<Record<string, unknown> & { level: number; msg: string }>;
}

export function captureLog(): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}
