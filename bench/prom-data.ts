// Prometheus remote write bodies for the remote write phase, shaped like Prometheus's own: 500 samples a request
// (its default max_samples_per_send), one sample of each of 500 series, node_exporter label sets with the
// external labels a server adds, labels sorted by name as Prometheus sends them. Every body holds new points:
// body n is slice n % SLICES of the series at scrape round n / SLICES, each round one scrape interval later,
// so no point overwrites another (which would cost influxd less). Encoded as Prometheus encodes them (prompb's
// WriteRequest, then a snappy block). Seeded: every run sends byte-identical data.
import { compress } from "@stablelib/snappy";
import { WriteRequest } from "../relay/prompb.js";
import { mulberry32 } from "./random.js";

/** Prometheus's default max_samples_per_send (2.x). */
export const SAMPLES_PER_BODY = 500;
const HOSTS = 500;
const SCRAPE_INTERVAL_MS = 15_000;
const BASE_MS = 1_732_000_000_000;
const EXTERNAL_LABELS = { env: "prod", region: "eu-west-1" } as const;

/** One exporter metric: its name, the label sets it has on every host, and how its values move. */
interface MetricFamily {
  readonly name: string;
  readonly variants: ReadonlyArray<Readonly<Record<string, string>>>;
  /** Order of magnitude of its values. */
  readonly typical: number;
  /** A counter's rise per scrape; a gauge (0) wobbles around its value instead. */
  readonly risePerScrape: number;
}

const CPU_MODES = ["idle", "user", "system", "iowait"];
const NODE_METRICS: readonly MetricFamily[] = [
  {
    name: "node_cpu_seconds_total",
    variants: ["0", "1"].flatMap((cpu) => CPU_MODES.map((mode) => ({ cpu, mode }))),
    typical: 1e6,
    risePerScrape: 7.5,
  },
  { name: "node_memory_MemAvailable_bytes", variants: [{}], typical: 8e9, risePerScrape: 0 },
  { name: "node_memory_MemTotal_bytes", variants: [{}], typical: 16e9, risePerScrape: 0 },
  {
    name: "node_filesystem_avail_bytes",
    variants: [
      { device: "/dev/sda1", fstype: "ext4", mountpoint: "/" },
      { device: "/dev/sdb1", fstype: "xfs", mountpoint: "/var/lib/influxdb" },
    ],
    typical: 500e9,
    risePerScrape: 0,
  },
  { name: "node_network_receive_bytes_total", variants: [{ device: "eth0" }], typical: 1e12, risePerScrape: 15e6 },
  { name: "node_network_transmit_bytes_total", variants: [{ device: "eth0" }], typical: 1e12, risePerScrape: 12e6 },
  { name: "node_disk_io_time_seconds_total", variants: [{ device: "sda" }, { device: "sdb" }], typical: 1e5, risePerScrape: 1.5 },
  { name: "node_load1", variants: [{}], typical: 1, risePerScrape: 0 },
  { name: "node_load5", variants: [{}], typical: 1, risePerScrape: 0 },
  { name: "node_load15", variants: [{}], typical: 1, risePerScrape: 0 },
  { name: "node_procs_running", variants: [{}], typical: 5, risePerScrape: 0 },
];

/** Every series of one host, in a fixed order. */
const HOST_SERIES = NODE_METRICS.flatMap((metric) => metric.variants.map((labels) => ({ metric, labels })));
/** Distinct series the bodies write to; influxd makes one measurement of each metric name. */
export const SERIES = HOSTS * HOST_SERIES.length;
/** Bodies that make up one scrape round of every host. */
const SLICES = SERIES / SAMPLES_PER_BODY;
if (!Number.isInteger(SLICES)) throw new Error(`${SERIES} series do not split into bodies of ${SAMPLES_PER_BODY}`);

interface SeriesShape {
  readonly labels: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** Within the scrape interval, when its host is scraped: Prometheus spreads its targets over it. */
  readonly offsetMs: number;
  readonly start: number;
  readonly rise: number;
  /** How far a gauge strays either way from its start. */
  readonly wobble: number;
}

/** Made once: every round sends the same series. */
const SERIES_SHAPES: readonly SeriesShape[] = (() => {
  const rand = mulberry32(0x5eed5eed);
  return Array.from({ length: SERIES }, (_, s) => {
    const host = Math.floor(s / HOST_SERIES.length);
    const { metric, labels } = HOST_SERIES[s % HOST_SERIES.length]!;
    const all: Record<string, string> = {
      __name__: metric.name,
      job: "node",
      instance: `10.1.${Math.floor(host / 250)}.${(host % 250) + 1}:9100`,
      ...labels,
      ...EXTERNAL_LABELS,
    };
    const start = metric.typical * (0.5 + rand());
    return {
      labels: Object.keys(all)
        .sort()
        .map((name) => ({ name, value: all[name]! })),
      offsetMs: (host * 7_919) % SCRAPE_INTERVAL_MS,
      start,
      rise: metric.risePerScrape * (0.5 + rand()),
      wobble: metric.risePerScrape === 0 ? start * 0.05 : 0,
    };
  });
})();

/** Body `index`: SAMPLES_PER_BODY samples, each of its own series, in scrape round index / SLICES. */
export function remoteWriteBody(index: number): Buffer {
  const round = Math.floor(index / SLICES);
  const first = (index % SLICES) * SAMPLES_PER_BODY;
  const rand = mulberry32(0x51ed270b ^ index);
  const timeseries = SERIES_SHAPES.slice(first, first + SAMPLES_PER_BODY).map((series) => {
    const value = series.start + round * series.rise + series.wobble * (2 * rand() - 1);
    const timestamp = BASE_MS + round * SCRAPE_INTERVAL_MS + series.offsetMs;
    return { labels: series.labels, samples: [{ value: Math.round(value * 100) / 100, timestamp }] };
  });
  // protobufjs encodes a plain object of the message's shape as it would the message made from it.
  return Buffer.from(compress(WriteRequest.encode({ timeseries }).finish()));
}
