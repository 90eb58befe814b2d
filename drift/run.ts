// The `influx-ha` command, apart from its process entry (main.ts): `check` compares the replicas, `repair`
// makes them whole. Resolves to the exit status: 0 when they match, 1 when they differ, 2 for a bad command
// line or a replica or relay that cannot be reached.
import { ConfigError } from "../relay/config.js";
import { parseDriftArgs, USAGE, UsageError, type DriftArgs } from "./args.js";
import { checkReplicas, hasDrift } from "./check.js";
import { terminalProgress } from "./progress.js";
import { checkOutputNames, clearMarks, holdsFor, RelayError, relayStatus, waitForQueues } from "./relays.js";
import { Repair } from "./repair.js";
import { CredentialsError, credentialsFromEnv, Replica, ReplicaError } from "../relay/drift/replica.js";
import { checkJson, renderCheck, renderRepair, repairJson } from "./report.js";
import { findLayout } from "./sources.js";

/** A bucket's answer may take long on a big replica; a replica silent this long is taken as gone. */
const REPLICA_TIMEOUT_MS = 300_000;
/** Writes the relays were still fanning out land within this; newer differences are counted again. */
const SETTLE_MS = 2_000;
const REPAIR_ROUNDS = 3;

/** Where the command prints: its report, and its errors and progress. */
export interface DriftIo {
  readonly out: (text: string) => void;
  readonly err: NodeJS.WriteStream | { write(text: string): unknown; readonly isTTY?: boolean };
}

export async function runDrift(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string, io: DriftIo): Promise<number> {
  const print = (text: string) => io.out(`${text}\n`);
  let args: DriftArgs | "help";
  try {
    args = parseDriftArgs(argv, Date.now());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err.write(`influx-ha: ${err.message}\n(influx-ha --help for usage)\n`);
    return 2;
  }
  if (args === "help") {
    print(USAGE);
    return 0;
  }
  let replicas: Replica[] = [];
  try {
    const layout = findLayout(args.where, cwd);
    const names = layout.replicas.map((r) => r.name);
    if (args.prefer !== undefined && !names.includes(args.prefer))
      throw new UsageError(`--prefer ${args.prefer} names no replica: they are ${names.join(", ")}`);
    const credentials = credentialsFromEnv(env);
    replicas = layout.replicas.map((address) => new Replica(address, credentials, REPLICA_TIMEOUT_MS));
    const common = {
      replicas,
      range: args.range,
      bucketNs: args.bucketNs,
      databases: args.databases,
      deep: args.deep,
      progress: terminalProgress(io.err),
      settleMs: SETTLE_MS,
    };
    const started = performance.now();
    if (args.command === "check") {
      const report = await checkReplicas(common);
      print(args.json ? JSON.stringify(checkJson(report), null, 2) : renderCheck(report, performance.now() - started));
      return hasDrift(report) ? 1 : 0;
    }

    const repair = new Repair({ ...common, rate: args.rate, dryRun: args.dryRun, prefer: args.prefer, rounds: REPAIR_ROUNDS });
    if (!args.dryRun && layout.relays.length > 0) {
      const statuses = await Promise.all(layout.relays.map(relayStatus));
      checkOutputNames(statuses, names);
      const queuedFor = new Set(statuses.flatMap((s) => s.outputs.filter(holdsFor).map((o) => o.name)));
      if (queuedFor.size > 0) await repair.prepare(new Set(names.filter((n) => !queuedFor.has(n))));
      const held = await waitForQueues(layout.relays, names, args.waitMs);
      if (held.length > 0) {
        throw new RelayError(
          `the relays still hold queued writes or statements for the replicas, and repair must not copy points a queued DELETE ` +
            `would remove:\n  ${held.join("\n  ")}\nRun repair again once they are replayed (a replica that is down must be started first), or wait longer with --wait`,
        );
      }
    }
    const before = new Date();
    const outcome = await repair.run();
    const elapsed = performance.now() - started;
    if (args.dryRun) {
      print(args.json ? JSON.stringify(repairJson(outcome), null, 2) : renderRepair(outcome, true, elapsed));
      return hasDrift(outcome.first) ? 1 : 0;
    }
    // Counts that agree are not enough while a value is known to differ, or a point was refused.
    const match = outcome.last !== undefined && !hasDrift(outcome.last) && outcome.conflicts.length === 0 && outcome.refused.length === 0;
    const cleared = match ? await clearMarks(layout.relays, names, layout.adminToken ?? env.INFLUX_HA_ADMIN_TOKEN, before) : [];
    if (args.json) {
      print(JSON.stringify({ ...repairJson(outcome), marks: cleared }, null, 2));
    } else {
      const marks = cleared.map(
        (c) => `  ${c.relay}: ${c.output} ${c.problem === undefined ? "back in sync" : `still marked: ${c.problem}`}`,
      );
      print([renderRepair(outcome, false, elapsed), ...(marks.length > 0 ? ["", "OUT-OF-SYNC MARKS", ...marks] : [])].join("\n"));
    }
    return match && cleared.every((c) => c.problem === undefined) ? 0 : 1;
  } catch (err) {
    if (
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof CredentialsError ||
      err instanceof ReplicaError ||
      err instanceof RelayError
    ) {
      io.err.write(`influx-ha: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    await Promise.all(replicas.map((r) => r.close()));
  }
}
