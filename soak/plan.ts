// The faults of one soak run, drawn from a seeded generator: the same seed always gives the same run, so
// a failure can be replayed. Pure. One fault at a time, each healed before the next, so the layout (two
// replicas, two relays) always has one of each to go on with.
import { mulberry32 } from "../bench/random.js";

export type FaultKind =
  /** SIGKILL, then start it again. */
  | "kill"
  /** SIGSTOP (frozen: connections hang, health checks time out), then SIGCONT. */
  | "freeze"
  /** A clean stop and start, as an operator's restart. */
  | "restart";

export type FaultTarget = { readonly role: "replica" | "relay"; readonly name: string };

export interface Fault {
  readonly kind: FaultKind;
  readonly target: FaultTarget;
  /** How long the fault lasts before it is healed. */
  readonly holdMs: number;
  /** How long the load runs on after the healing, before the next fault. */
  readonly settleMs: number;
}

export interface FaultPlanOptions {
  readonly seed: number;
  readonly faults: number;
  readonly replicas: readonly string[];
  readonly relays: readonly string[];
  readonly holdMs: { readonly min: number; readonly max: number };
  readonly settleMs: { readonly min: number; readonly max: number };
}

const KINDS: readonly FaultKind[] = ["kill", "freeze", "restart"];

export function planFaults(opts: FaultPlanOptions): readonly Fault[] {
  const random = mulberry32(opts.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = ({ min, max }: { readonly min: number; readonly max: number }): number => Math.round(min + random() * (max - min));
  const targets: FaultTarget[] = [
    ...opts.replicas.map((name) => ({ role: "replica" as const, name })),
    ...opts.relays.map((name) => ({ role: "relay" as const, name })),
  ];
  return Array.from({ length: opts.faults }, () => ({
    kind: pick(KINDS),
    target: pick(targets),
    holdMs: between(opts.holdMs),
    settleMs: between(opts.settleMs),
  }));
}

export function describeFault(fault: Fault): string {
  const what = { kill: "kill -9", freeze: "SIGSTOP", restart: "restart" }[fault.kind];
  return `${what} ${fault.target.name} for ${fault.holdMs} ms, then ${fault.settleMs} ms of load`;
}
