// `--rate`: a token bucket on points written per second, so a repair leaves the replicas room for live ingest.
// One second's worth may go at once; a batch larger than that waits for its share.

export class RateLimit {
  private tokens: number;
  private updatedAt = performance.now();

  constructor(private readonly perSecond: number | undefined) {
    this.tokens = perSecond ?? 0;
  }

  /** Resolves once `points` may be written. */
  async take(points: number): Promise<void> {
    const { perSecond } = this;
    if (perSecond === undefined) return;
    const now = performance.now();
    this.tokens = Math.min(perSecond, this.tokens + ((now - this.updatedAt) / 1000) * perSecond);
    this.updatedAt = now;
    this.tokens -= points;
    if (this.tokens < 0) await new Promise((resolve) => setTimeout(resolve, (-this.tokens / perSecond) * 1000));
  }
}
