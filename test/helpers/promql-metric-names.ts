// The metric names a PromQL expression selects, for the tests that check every series the alerting rules and
// the dashboard use is in Prometheus's TSDB. Prometheus 2.42 has no API that returns an expression's syntax
// tree (/api/v1/parse_query came later), so the tests parse with Prometheus first (/api/v1/format_query
// refuses what does not parse and prints the rest in one canonical form), and this reads that form token by
// token as PromQL's lexer does: strings, label matchers and ranges are skipped whole, a name followed by "("
// is a function, the aggregations are keywords, and the label lists after by, without, on, ignoring, group_left and
// group_right are labels, not metrics.

/** PromQL's keywords, never a metric name: operators, modifiers, numbers, and the aggregations (which take "by (...)" before their "("). */
const KEYWORDS = new Set([
  ...["and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"],
  ...["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"],
]);
/** Keywords whose parenthesised list names labels. */
const LABEL_LIST_WORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const NAME_START = /[A-Za-z_:]/;
const NAME_PART = /[A-Za-z0-9_:]/;

/** Every metric name `expr` selects (by name, or by a __name__="..." matcher), each once, sorted. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  let i = 0;
  const skipSpaces = (): void => {
    while (i < expr.length && /\s/.test(expr[i]!)) i++;
  };
  /** Skips a quoted string starting at i; returns its text (escapes kept as written, enough for names). */
  const readString = (): string => {
    const quote = expr[i]!;
    const start = ++i;
    while (i < expr.length && expr[i] !== quote) i += expr[i] === "\\" && quote !== "`" ? 2 : 1;
    if (i >= expr.length) throw new Error(`unterminated string in ${expr}`);
    return expr.slice(start, i++);
  };
  /** Reads the label matchers of `{...}` starting at i, adding a __name__="..." matcher's value. */
  const readMatchers = (): void => {
    i++;
    while (i < expr.length && expr[i] !== "}") {
      skipSpaces();
      const start = i;
      while (i < expr.length && NAME_PART.test(expr[i]!)) i++;
      const label = expr.slice(start, i);
      skipSpaces();
      const operator = ["!=", "=~", "!~"].includes(expr.slice(i, i + 2)) ? expr.slice(i, i + 2) : expr[i];
      i += operator!.length;
      skipSpaces();
      const value = readString();
      if (label === "__name__" && operator === "=") names.add(value);
      skipSpaces();
      if (expr[i] === ",") i++;
    }
    if (expr[i] !== "}") throw new Error(`unterminated label matchers in ${expr}`);
    i++;
  };
  const skipPast = (close: string): void => {
    while (i < expr.length && expr[i] !== close) i++;
    if (i >= expr.length) throw new Error(`no "${close}" in ${expr}`);
    i++;
  };

  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === "`") readString();
    else if (c === "{") readMatchers();
    else if (c === "[") skipPast("]");
    else if (c === "#") {
      while (i < expr.length && expr[i] !== "\n") i++;
    } else if (/[0-9.]/.test(c)) {
      // Numbers, durations (5m, 1h30m) and hex: letters after a digit belong to it.
      while (i < expr.length && /[0-9A-Za-z_.]/.test(expr[i]!)) i++;
    } else if (NAME_START.test(c)) {
      const start = i;
      while (i < expr.length && NAME_PART.test(expr[i]!)) i++;
      const word = expr.slice(start, i);
      skipSpaces();
      if (LABEL_LIST_WORDS.has(word.toLowerCase())) {
        if (expr[i] === "(") skipPast(")");
      } else if (expr[i] !== "(" && !KEYWORDS.has(word.toLowerCase())) {
        names.add(word);
      }
    } else i++;
  }
  return [...names].sort();
}
