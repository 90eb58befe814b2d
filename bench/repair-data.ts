// Data for the repair phase (bench/repair.ts), as line-protocol bodies made one at a time (never all held at
// once): a few series of points carrying one field of each type influxd has (float, integer, string,
// boolean), spread over two whole shard groups, so the copy crosses shards and formats every kind of value.
// Deterministic, so every run writes the same points.

/** Two measurements with the same fields, each on HOSTS hosts: SERIES series in all. */
const MEASUREMENTS = ["cpu", "disk"] as const;
const HOSTS = 8;
const SERIES = MEASUREMENTS.length * HOSTS;
const STATES = ["ok", "degraded", "failing over", "maintenance"] as const;

const DAY_MS = 86_400_000;
/**
 * Monday 2024-01-01 00:00 UTC. influxd starts a 7-day shard group on a Monday (Go truncates times from
 * year 1, a Monday), so 14 days from here fill exactly two; the check's 7d buckets, counted from the Unix
 * epoch (a Thursday), cut them into three.
 */
const START_MS = Date.UTC(2024, 0, 1);
const SPAN_MS = 14 * DAY_MS;

export interface RepairDataset {
  readonly points: number;
  readonly series: number;
  readonly bodyCount: number;
  /** The `index`th body of `linesPerBody` lines (fewer in the last); made on each call. */
  body(index: number): string;
}

/**
 * Point i belongs to series i mod SERIES and is its (i div SERIES)th point: a body holds consecutive times
 * of every series, as a fleet reporting together writes them. Each series' points are evenly spaced over
 * the 14 days, a whole number of milliseconds apart, so no two share a time.
 */
export function repairDataset(points: number, linesPerBody: number): RepairDataset {
  const perSeries = Math.ceil(points / SERIES);
  const stepMs = Math.floor(SPAN_MS / perSeries);
  if (stepMs < 1) throw new Error(`${points} points do not fit ${SERIES} series over 14 days a millisecond apart`);
  return {
    points,
    series: SERIES,
    bodyCount: Math.ceil(points / linesPerBody),
    body(index) {
      const lines: string[] = [];
      const to = Math.min(points, (index + 1) * linesPerBody);
      for (let i = index * linesPerBody; i < to; i++) {
        const series = i % SERIES;
        const measurement = MEASUREMENTS[series % MEASUREMENTS.length]!;
        const host = Math.floor(series / MEASUREMENTS.length);
        const ms = START_MS + Math.floor(i / SERIES) * stepMs;
        lines.push(
          `${measurement},host=h${host},rack=r${host % 3} usage=${((i * 16_807) % 100_000) / 1_000},` +
            `count=${(i * 48_271) % 1_000_000}i,state="${STATES[i % STATES.length]}",ok=${i % 7 !== 0} ${ms}000000`,
        );
      }
      return lines.join("\n");
    },
  };
}
