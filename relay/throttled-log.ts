// Repeated warnings (a backend down under full write load, a stream of bad UDP lines) would flood the log.
// The first one of a kind is logged at once; later ones within the interval are counted and reported with the next.

/** The one logger method this needs, so fastify's and pino's loggers both fit. */
interface WarnLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: WarnLogger,
    private readonly intervalMs = 5_000,
  ) {}

  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const seen = this.last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(kind, { at: now, suppressed: 0 });
    this.log.warn(suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields, message);
  }
}
