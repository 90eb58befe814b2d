// What one [[http]] listener has taken in since start, for /status and /metrics.
export interface ListenerStats {
  /** Answers sent, by HTTP status. */
  readonly requests: Map<number, number>;
  /** Writes that passed validation, Prometheus remote writes included, with their points (samples) and body bytes. */
  writes: number;
  points: number;
  bytes: number;
  /** Of those, the Prometheus remote writes and their samples. */
  promWrites: number;
  promSamples: number;
  /** Requests refused with 503 at once because their bodies did not fit in max-inflight-mb. */
  shed: number;
  /** Request body bytes held right now, counted against max-inflight-mb (inflight.ts). */
  inflightBytes: number;
}

export function newListenerStats(): ListenerStats {
  return { requests: new Map(), writes: 0, points: 0, bytes: 0, promWrites: 0, promSamples: 0, shed: 0, inflightBytes: 0 };
}
