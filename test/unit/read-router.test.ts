// planRead (relay/read-router.ts): which replica serves a read, from this relay's view and its peers'.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planRead, type OwnReplicaView, type PeerReplicaView } from "../../relay/read-router.js";

const replica = (name: string, over: Partial<OwnReplicaView> = {}): OwnReplicaView => ({
  name,
  up: true,
  behind: false,
  outOfSync: false,
  queueBytes: 0,
  ...over,
});
const peer = (outputs: Record<string, { behind?: boolean; outOfSync?: boolean; queueBytes?: number }>): PeerReplicaView => ({
  outputs: new Map(
    Object.entries(outputs).map(([name, s]) => [
      name,
      { behind: s.behind ?? false, outOfSync: s.outOfSync ?? false, queueBytes: s.queueBytes ?? 0 },
    ]),
  ),
});
const names = (plan: ReturnType<typeof planRead>) => plan.map((c) => `${c.name}${c.stale ? "*" : ""}`);

describe("planRead", () => {
  it("spreads reads over the replicas in sync, turn by turn", () => {
    const own = [replica("a"), replica("b"), replica("c")];
    expect([0, 1, 2, 3].map((turn) => planRead(own, [], new Set(), turn)[0]!.name)).toEqual(["a", "b", "c", "a"]);
  });

  it("keeps reads off a replica this relay or any peer is behind on, or a peer fenced", () => {
    const own = [replica("a"), replica("b", { behind: true, queueBytes: 10 }), replica("c"), replica("d")];
    const plan = planRead(own, [peer({ c: { behind: true, queueBytes: 5 } })], new Set(["d"]), 0);
    expect(names(plan)).toEqual(["a", "d*", "c*", "b*"]);
  });

  it("sends a read to the least behind when none is in sync: up first, then not out of sync, then fewest bytes queued", () => {
    const own = [
      replica("down", { up: false }),
      replica("oos", { behind: true, outOfSync: true }),
      replica("big", { behind: true, queueBytes: 900 }),
      replica("small", { behind: true, queueBytes: 100 }),
    ];
    const plan = planRead(own, [peer({ small: { behind: true, queueBytes: 500 } })], new Set(), 7);
    expect(names(plan)).toEqual(["small*", "big*", "oos*", "down*"]);
  });

  it("counts a peer's out-of-sync mark against the replica", () => {
    const plan = planRead(
      [replica("a", { behind: true }), replica("b", { behind: true, queueBytes: 1e9 })],
      [peer({ a: { outOfSync: true, behind: true } })],
      new Set(),
      0,
    );
    expect(names(plan)).toEqual(["b*", "a*"]);
  });

  const views = fc.uniqueArray(
    fc.record({
      name: fc.stringMatching(/^[a-z]{1,3}$/),
      up: fc.boolean(),
      behind: fc.boolean(),
      outOfSync: fc.boolean(),
      queueBytes: fc.nat(),
    }),
    { selector: (v) => v.name, minLength: 1, maxLength: 6 },
  );
  const peerViews = fc.array(
    fc.dictionary(fc.stringMatching(/^[a-z]{1,3}$/), fc.record({ behind: fc.boolean(), outOfSync: fc.boolean(), queueBytes: fc.nat() })),
    { maxLength: 3 },
  );

  it("lists every replica once, those in sync first, and never calls a replica in sync that anyone holds back", () => {
    fc.assert(
      fc.property(views, peerViews, fc.array(fc.stringMatching(/^[a-z]{1,3}$/)), fc.nat(), (own, peers, fenced, turn) => {
        const peerList = peers.map((p) => peer(p));
        const plan = planRead(own, peerList, new Set(fenced), turn);
        expect(plan.map((c) => c.name).sort()).toEqual(own.map((r) => r.name).sort());
        const firstStale = plan.findIndex((c) => c.stale);
        if (firstStale >= 0) expect(plan.slice(firstStale).every((c) => c.stale)).toBe(true);
        for (const candidate of plan.filter((c) => !c.stale)) {
          const view = own.find((r) => r.name === candidate.name)!;
          expect(view.up && !view.behind).toBe(true);
          expect(fenced).not.toContain(candidate.name);
          for (const p of peers) expect(p[candidate.name]?.behind ?? false).toBe(false);
        }
      }),
    );
  });

  it("gives each replica in sync the first read equally often over a full round of turns", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(1000), (count, start) => {
        const own = Array.from({ length: count }, (_, i) => replica(`r${i}`));
        const firsts = Array.from({ length: count }, (_, i) => planRead(own, [], new Set(), start + i)[0]!.name);
        expect(new Set(firsts).size).toBe(count);
      }),
    );
  });
});
