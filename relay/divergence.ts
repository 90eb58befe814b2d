// Statements that one replica applied and another refused: the replicas now differ, and nothing but an
// operator (or a repair) brings them together again. Each one is logged at error, counted for /metrics and
// kept among the recent ones for /status, so it is never mistaken for success.
import type { Logger } from "./logger.js";

export interface Divergence {
  readonly at: string;
  /** The statements as the client sent them (credentials in SET PASSWORD and CREATE USER included). */
  readonly statement: string;
  readonly appliedOn: readonly string[];
  readonly refusedBy: readonly { readonly output: string; readonly error: string }[];
  /** live: as the client sent it; replay: from an output's queue, after the client was answered. */
  readonly via: "live" | "replay";
}

const RECENT = 20;
/** Passwords in CREATE USER / SET PASSWORD are not shown in /status or the log. */
const PASSWORD_LITERAL = /(\bPASSWORD\s+(?:FOR\s+(?:"(?:[^"\\]|\\.)*"|[^\s=]+)\s*=\s*)?)'(?:[^'\\]|\\.)*'/gi;

export class DivergenceLog {
  total = 0;
  private readonly recentList: Divergence[] = [];

  constructor(private readonly log: Logger) {}

  get recent(): readonly Divergence[] {
    return this.recentList;
  }

  record(divergence: Omit<Divergence, "at" | "statement"> & { readonly statement: string }): void {
    const entry: Divergence = { ...divergence, at: new Date().toISOString(), statement: redactPasswords(divergence.statement) };
    this.total++;
    this.recentList.push(entry);
    if (this.recentList.length > RECENT) this.recentList.shift();
    const refused = entry.refusedBy.map((r) => r.output).join(", ");
    this.log.error(
      entry,
      entry.via === "live"
        ? `REPLICAS DIFFER: ${entry.appliedOn.join(", ")} applied a statement that ${refused} refused`
        : `REPLICAS DIFFER: ${refused} refused a queued statement after the client was answered; it is in the dead-letter file`,
    );
  }
}

export function redactPasswords(statement: string): string {
  return statement.replace(PASSWORD_LITERAL, "$1'[redacted]'");
}
