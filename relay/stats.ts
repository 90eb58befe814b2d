// What one [[http]] listener has taken in since start, for /status and /metrics.
export interface ListenerStats {
  /** Answers sent, by HTTP status. */
  readonly requests: Map<number, number>;
  /** Writes that passed validation, with their points and bytes. */
  writes: number;
  points: number;
  bytes: number;
}

export function newListenerStats(): ListenerStats {
  return { requests: new Map(), writes: 0, points: 0, bytes: 0 };
}
