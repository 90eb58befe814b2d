// Which replica serves a read. In sync means: this relay reaches it, no relay holds a backlog or an
// out-of-sync mark for it, and no peer has fenced it. Reads are spread over the replicas in sync; when
// none is, the least behind serves, and the answer says so. Pure, so its rules are property-tested.

/** One replica as this relay sees it. */
export interface OwnReplicaView {
  readonly name: string;
  readonly up: boolean;
  /** This relay holds a backlog for it, or has it out of sync. */
  readonly behind: boolean;
  readonly outOfSync: boolean;
  readonly queueBytes: number;
}

/** What one peer said of the replicas at its last poll. */
export interface PeerReplicaView {
  readonly outputs: ReadonlyMap<string, { readonly behind: boolean; readonly outOfSync: boolean; readonly queueBytes: number }>;
}

export interface ReadCandidate {
  readonly name: string;
  /** Not in sync: the answer may lack writes that were acknowledged. */
  readonly stale: boolean;
}

/**
 * Replicas to try, in order: those in sync first, rotated by `turn` so reads spread over them, then the
 * rest, least behind first (up before down, in sync on every relay before out of sync, then fewest bytes queued).
 */
export function planRead(
  own: readonly OwnReplicaView[],
  peers: readonly PeerReplicaView[],
  fenced: ReadonlySet<string>,
  turn: number,
): readonly ReadCandidate[] {
  const inSync: string[] = [];
  const behind: { name: string; up: boolean; outOfSync: boolean; queueBytes: number }[] = [];
  for (const replica of own) {
    const atPeers = peers.map((peer) => peer.outputs.get(replica.name)).filter((state) => state !== undefined);
    const behindSomewhere = replica.behind || fenced.has(replica.name) || atPeers.some((state) => state.behind);
    if (replica.up && !behindSomewhere) {
      inSync.push(replica.name);
      continue;
    }
    behind.push({
      name: replica.name,
      up: replica.up,
      outOfSync: replica.outOfSync || atPeers.some((state) => state.outOfSync),
      queueBytes: replica.queueBytes + atPeers.reduce((sum, state) => sum + state.queueBytes, 0),
    });
  }
  const start = inSync.length === 0 ? 0 : ((turn % inSync.length) + inSync.length) % inSync.length;
  const rotated = [...inSync.slice(start), ...inSync.slice(0, start)];
  behind.sort(
    (a, b) =>
      Number(!a.up) - Number(!b.up) ||
      Number(a.outOfSync) - Number(b.outOfSync) ||
      a.queueBytes - b.queueBytes ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  return [...rotated.map((name) => ({ name, stale: false })), ...behind.map(({ name }) => ({ name, stale: true }))];
}
