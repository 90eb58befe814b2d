// Go's time.ParseDuration grammar, since influxdb-relay configs carry Go durations ("10s", "1m30s", "500ms").
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds; returns undefined when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  let pos = 0;
  let sign = 1;
  if (text[0] === "-" || text[0] === "+") {
    sign = text[0] === "-" ? -1 : 1;
    pos = 1;
  }
  if (pos >= text.length) return undefined;
  let total = 0;
  while (pos < text.length) {
    TERM.lastIndex = pos;
    const match = TERM.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    pos = TERM.lastIndex;
  }
  return sign * total;
}

const FORMAT_UNITS: ReadonlyArray<readonly [string, number]> = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** Milliseconds as the largest whole unit, "24h", "90s" or "250ms": read alike by Go, the relay and HAProxy. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of FORMAT_UNITS) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms)}ms`;
}
