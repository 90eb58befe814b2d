// /metrics: one prom-client registry per [[http]] listener. Counters and gauges are read from the
// listener's and the outputs' own totals when scraped, so the write path pays nothing for them; only
// the backend latency histogram is observed as requests happen.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration } from "prom-client";
import type { DivergenceLog } from "./divergence.js";
import type { DriftWatch, OutputDrift } from "./drift/watch.js";
import type { DurableOutput, OutputStats, Tally, Via } from "./durable-output.js";
import type { Peers } from "./peers.js";
import type { ListenerStats } from "./stats.js";

type OutputLabel = "output";

/** What the listener knows beyond its own outputs: its peers and the statements the replicas disagreed on. */
export interface ClusterSources {
  readonly peers: Peers;
  readonly divergences: DivergenceLog;
  /** With drift-check-interval set: what the last check of the outputs' recent points found. */
  readonly drift?: DriftWatch | undefined;
}

export class RelayMetrics {
  readonly registry = new Registry();
  private readonly backendSeconds: Histogram<"output" | "via">;
  private readonly reads: Counter<"output" | "stale">;

  constructor(listener: string, stats: ListenerStats, outputs: () => readonly DurableOutput[], cluster: ClusterSources) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ listener });
    collectDefaultMetrics({ register: this.registry });

    readCounter(registers, "influx_relay_requests_total", "Answers sent to clients, by HTTP status.", ["status"], (set) => {
      for (const [status, n] of stats.requests) set({ status: String(status) }, n);
    });
    readCounter(registers, "influx_relay_writes_in_total", "Writes that passed validation, Prometheus remote writes included.", [], (set) =>
      set({}, stats.writes),
    );
    readCounter(
      registers,
      "influx_relay_points_in_total",
      "Points in writes that passed validation; a remote write's samples count as points.",
      [],
      (set) => set({}, stats.points),
    );
    readCounter(
      registers,
      "influx_relay_bytes_in_total",
      "Body bytes of writes that passed validation: line protocol, or a remote write's snappy-compressed protobuf.",
      [],
      (set) => set({}, stats.bytes),
    );
    readCounter(
      registers,
      "influx_relay_prom_writes_in_total",
      "Prometheus remote writes (POST /api/v1/prom/write) that passed validation.",
      [],
      (set) => set({}, stats.promWrites),
    );
    readCounter(registers, "influx_relay_prom_samples_in_total", "Samples in Prometheus remote writes that passed validation.", [], (set) =>
      set({}, stats.promSamples),
    );
    readCounter(
      registers,
      "influx_relay_requests_shed_total",
      "Requests answered 503 at once because their bodies did not fit in max-inflight-mb.",
      [],
      (set) => set({}, stats.shed),
    );
    new Gauge({
      name: "influx_relay_inflight_bytes",
      help: "Request body bytes held right now, counted against max-inflight-mb.",
      registers,
      collect(this: Gauge) {
        this.set(stats.inflightBytes);
      },
    });

    const perOutput = (read: (output: DurableOutput) => number) => (set: (labels: Record<OutputLabel, string>, n: number) => void) => {
      for (const output of outputs()) set({ output: output.name }, read(output));
    };
    const viaTally = (pick: (t: Tally) => number) => (set: (labels: Record<"output" | "via", string>, n: number) => void) => {
      for (const output of outputs()) {
        set({ output: output.name, via: "live" }, pick(output.stats.live));
        set({ output: output.name, via: "replay" }, pick(output.stats.replayed));
      }
    };
    const stat = (read: (s: OutputStats) => number) => perOutput((o) => read(o.stats));
    readCounter(
      registers,
      "influx_relay_output_points_total",
      "Points (and remote write samples) delivered to each output, live or replayed from its queue.",
      ["output", "via"],
      viaTally((t) => t.points),
    );
    readCounter(
      registers,
      "influx_relay_output_bytes_total",
      "Body bytes (line protocol, or remote writes as sent) delivered to each output, live or replayed from its queue.",
      ["output", "via"],
      viaTally((t) => t.bytes),
    );
    readCounter(
      registers,
      "influx_relay_queued_points_total",
      "Points appended to each output's queue.",
      ["output"],
      stat((s) => s.queued.points),
    );
    readCounter(
      registers,
      "influx_relay_dropped_points_total",
      "Points neither delivered nor queued because the output was out of sync.",
      ["output"],
      stat((s) => s.dropped.points),
    );
    readCounter(
      registers,
      "influx_relay_rejected_writes_total",
      "Writes an output refused with a 4xx as they came in.",
      ["output"],
      stat((s) => s.rejected),
    );
    readCounter(
      registers,
      "influx_relay_backend_failures_total",
      "Requests to an output that got no answer, a timeout or a 5xx.",
      ["output"],
      stat((s) => s.failures),
    );
    const health = (read: (h: ReturnType<DurableOutput["health"]>) => number) => perOutput((o) => read(o.health()));
    readCounter(
      registers,
      "influx_relay_dead_letter_entries_total",
      "Writes put in an output's dead-letter file since start.",
      ["output"],
      health((h) => h.deadLetter.entriesSinceStart),
    );
    readCounter(
      registers,
      "influx_relay_queue_cut_bytes_total",
      "Bytes cut from torn queue tails, left by a crash.",
      ["output"],
      health((h) => h.queue.cutBytes),
    );
    readCounter(
      registers,
      "influx_relay_queue_corrupt_bytes_total",
      "Damaged bytes moved out of queue segments into side files; the entries after them are kept.",
      ["output"],
      health((h) => h.queue.corruptBytes),
    );
    readGauge(
      registers,
      "influx_relay_queue_entries",
      "Writes waiting in each output's queue.",
      health((h) => h.queue.entries),
    );
    readGauge(
      registers,
      "influx_relay_queue_bytes",
      "Bytes on disk in each output's queue.",
      health((h) => h.queue.bytes),
    );
    readGauge(
      registers,
      "influx_relay_queue_oldest_age_seconds",
      "Age of the oldest write in each output's queue; 0 when empty.",
      health((h) => h.queue.oldestAgeSeconds ?? 0),
    );
    // The bounds beside the gauges they bound, so an alert or a dashboard divides one by the other.
    readGauge(
      registers,
      "influx_relay_queue_limit_bytes",
      "Each output's buffer-size-mb in bytes: past it, writes for the output are dropped and it is marked out of sync.",
      health((h) => h.queue.limitBytes),
    );
    readGauge(
      registers,
      "influx_relay_queue_max_age_seconds",
      "Each output's max-queue-age: once its oldest queued write is older, writes for it are dropped and it is marked out of sync.",
      health((h) => h.queue.maxAgeSeconds),
    );
    readGauge(
      registers,
      "influx_relay_output_up",
      "1 when the output's backend answers.",
      health((h) => Number(h.up)),
    );
    readGauge(
      registers,
      "influx_relay_output_out_of_sync",
      "1 when the output has missed writes that are not in its queue.",
      health((h) => Number(h.outOfSync !== undefined)),
    );
    readCounter(
      registers,
      "influx_relay_statement_divergences_total",
      "InfluxQL statements one replica applied and another refused: the replicas now differ.",
      [],
      (set) => set({}, cluster.divergences.total),
    );
    new Gauge({
      name: "influx_relay_peer_up",
      help: "1 when the peer relay's /status answered at the last poll.",
      labelNames: ["peer"],
      registers,
      collect(this: Gauge<"peer">) {
        this.reset();
        for (const peer of cluster.peers.states()) this.set({ peer: peer.url }, Number(peer.reachable));
      },
    });
    const { drift } = cluster;
    if (drift !== undefined) {
      const lastCheck = (read: (d: OutputDrift) => number) => (set: Setter<OutputLabel>) => {
        for (const [output, d] of drift.last?.outputs ?? []) set({ output }, read(d));
      };
      readGauge(
        registers,
        "influx_relay_drift_buckets",
        "Buckets of the last drift-check-window where the output holds fewer points than another replica, at the last drift check.",
        lastCheck((d) => d.buckets),
      );
      readGauge(
        registers,
        "influx_relay_drift_missing_points",
        "Points the output lacks against the fullest replica over the last drift-check-window, at the last drift check.",
        lastCheck((d) => d.missingPoints),
      );
      new Gauge({
        name: "influx_relay_drift_check_timestamp_seconds",
        help: "When the last drift check that read every replica ran (Unix time); 0 before the first.",
        registers,
        collect(this: Gauge) {
          this.set((drift.last?.at ?? 0) / 1000);
        },
      });
      readCounter(
        registers,
        "influx_relay_drift_checks_total",
        "Drift checks run, by result (failed: a replica did not answer).",
        ["result"],
        (set) => {
          set({ result: "ok" }, drift.runs.ok);
          set({ result: "failed" }, drift.runs.failed);
        },
      );
    }
    this.reads = new Counter({
      name: "influx_relay_reads_total",
      help: 'Reads sent to each replica; stale="true" when no replica was in sync and this one was the least behind.',
      labelNames: ["output", "stale"],
      registers,
      // Every series from the first scrape, at 0: increase() misses a series' first value, so a counter
      // that appeared at 1 would hide the first stale read from an alert.
      collect(this: Counter<"output" | "stale">) {
        for (const output of outputs()) for (const stale of ["true", "false"]) this.inc({ output: output.name, stale }, 0);
      },
    });
    this.backendSeconds = new Histogram({
      name: "influx_relay_backend_request_duration_seconds",
      help: "Duration of write requests to each output, live or replayed.",
      labelNames: ["output", "via"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  observeBackend(output: string, via: Via, seconds: number): void {
    this.backendSeconds.observe({ output, via }, seconds);
  }

  observeRead(output: string, stale: boolean): void {
    this.reads.inc({ output, stale: String(stale) });
  }
}

type Setter<L extends string> = (labels: Record<L, string>, value: number) => void;

/** A counter whose value is read from a running total at scrape time. */
function readCounter<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: Setter<L>) => void,
): void {
  const config: CounterConfiguration<L> = {
    name,
    help,
    labelNames,
    registers,
    collect(this: Counter<L>) {
      this.reset();
      read((labels, value) => this.inc(labels as never, value));
    },
  };
  new Counter(config);
}

function readGauge(registers: Registry[], name: string, help: string, read: (set: Setter<OutputLabel>) => void): void {
  new Gauge({
    name,
    help,
    labelNames: ["output"],
    registers,
    collect(this: Gauge<OutputLabel>) {
      this.reset();
      read((labels, value) => this.set(labels, value));
    },
  });
}
