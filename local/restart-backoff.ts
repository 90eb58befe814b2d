// How long the local layout waits before it starts again a child that exited on its own: 1 s, doubling
// up to 30 s while it keeps failing, and 1 s again once it had stayed up a while. A crash loop then costs
// little, and a rare crash is healed at once, as systemd (Restart=always) and the kubelet do. Pure.

export interface RestartBackoffPolicy {
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** A process that stayed up this long was healthy: its next restart waits firstDelayMs again. */
  readonly resetAfterUpMs: number;
}

export const RESTART_BACKOFF: RestartBackoffPolicy = { firstDelayMs: 1_000, maxDelayMs: 30_000, resetAfterUpMs: 60_000 };

/** The pauses of one process's restarts. */
export class RestartBackoff {
  private delayMs: number;
  /** When it last came up; undefined while it is down. */
  private upSince: number | undefined;

  constructor(
    private readonly policy: RestartBackoffPolicy = RESTART_BACKOFF,
    private readonly now: () => number = Date.now,
  ) {
    this.delayMs = policy.firstDelayMs;
  }

  /** It is up (again). */
  up(): void {
    this.upSince = this.now();
  }

  /** It went down, or a start failed: the pause before the next start. */
  nextDelayMs(): number {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.policy.resetAfterUpMs) this.delayMs = this.policy.firstDelayMs;
    this.upSince = undefined;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.policy.maxDelayMs);
    return delay;
  }
}
