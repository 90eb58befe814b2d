// What repair asks of the relays: whether they still hold queued writes or statements for a replica (copying
// before a queued DELETE has replayed would bring the deleted points back), and, once the replicas match,
// clearing their out-of-sync marks through POST /admin/mark-in-sync so reads go to the repaired replica again.
import { request } from "undici";
import { errorOf } from "../relay/drift/replica.js";

interface OutputStatus {
  readonly name: string;
  readonly up: boolean;
  /** Writes that missed the replica and are not in its queue yet. */
  readonly pendingAttempts: number;
  readonly outOfSync?: { readonly since: string; readonly reason: string };
  readonly queue: { readonly entries: number };
}

export interface RelayStatus {
  readonly url: string;
  readonly outputs: readonly OutputStatus[];
}

/** Raised for a relay that does not answer or refuses: repair cannot know what it holds. */
export class RelayError extends Error {
  override readonly name = "RelayError";
}

const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 500;

export async function relayStatus(url: string): Promise<RelayStatus> {
  try {
    const response = await request(`${url}/status`, { headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`HTTP ${response.statusCode}`);
    }
    const status = (await response.body.json()) as { outputs: OutputStatus[] };
    return { url, outputs: status.outputs };
  } catch (err) {
    throw new RelayError(`relay ${url} does not answer /status: ${(err as Error).message}`);
  }
}

/**
 * Every replica must be an output of every relay, by the same name: otherwise repair would wait for no
 * queue and clear no mark, silently. A bare --replica URL is named host:port, which no relay calls it.
 */
export function checkOutputNames(statuses: readonly RelayStatus[], replicas: readonly string[]): void {
  for (const status of statuses) {
    const outputs = status.outputs.map((o) => o.name);
    const unknown = replicas.filter((r) => !outputs.includes(r));
    if (unknown.length > 0) {
      throw new RelayError(
        `relay ${status.url} has no output named ${unknown.join(", ")} (its outputs: ${outputs.join(", ")}): ` +
          "name each replica as the relays do, e.g. --replica influxd-1=http://host:8086",
      );
    }
  }
}

/** Whether the relay still holds something for the output: queued, or on its way into the queue. */
export function holdsFor(output: OutputStatus): boolean {
  return output.queue.entries > 0 || output.pendingAttempts > 0;
}

/** What each relay holds for the named replicas, as "relay: replica (n entries)"; empty when nothing. */
export function queued(statuses: readonly RelayStatus[], replicas: readonly string[]): string[] {
  return statuses.flatMap((s) =>
    s.outputs
      .filter((o) => replicas.includes(o.name) && holdsFor(o))
      .map((o) => `${s.url}: ${o.name} (${o.queue.entries} entries${o.up ? "" : ", replica down"})`),
  );
}

/** Waits, bounded, until no relay holds anything for the replicas; returns what is still held. */
export async function waitForQueues(relays: readonly string[], replicas: readonly string[], waitMs: number): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const held = queued(await Promise.all(relays.map(relayStatus)), replicas);
    if (held.length === 0 || Date.now() >= deadline) return held;
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

export interface MarkCleared {
  readonly relay: string;
  readonly output: string;
  /** undefined when cleared; else why not. */
  readonly problem?: string;
}

/**
 * Clears every out-of-sync mark the relays hold for the replicas. `before` is when the repair's comparison
 * began: a relay that dropped a write after it keeps its mark (409), since that gap was not repaired.
 */
export async function clearMarks(
  relays: readonly string[],
  replicas: readonly string[],
  token: string | undefined,
  before: Date,
): Promise<MarkCleared[]> {
  const results: MarkCleared[] = [];
  for (const status of await Promise.all(relays.map(relayStatus))) {
    for (const output of status.outputs.filter((o) => o.outOfSync !== undefined && o.outOfSync !== null && replicas.includes(o.name))) {
      if (token === undefined) {
        results.push({
          relay: status.url,
          output: output.name,
          problem: "no admin token: set INFLUX_HA_ADMIN_TOKEN, or admin-token in relay.toml",
        });
        continue;
      }
      const query = new URLSearchParams({ output: output.name, before: before.toISOString() });
      try {
        const response = await request(`${status.url}/admin/mark-in-sync?${query}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` },
          headersTimeout: REQUEST_TIMEOUT_MS,
          bodyTimeout: REQUEST_TIMEOUT_MS,
        });
        const text = await response.body.text();
        results.push(
          response.statusCode === 200
            ? { relay: status.url, output: output.name }
            : { relay: status.url, output: output.name, problem: `${response.statusCode} ${errorOf(text)}` },
        );
      } catch (err) {
        results.push({ relay: status.url, output: output.name, problem: (err as Error).message });
      }
    }
  }
  return results;
}
