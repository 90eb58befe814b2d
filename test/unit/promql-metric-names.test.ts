// test/helpers/promql-metric-names.ts, which the Prometheus integration test uses to find the series the
// alerting rules and the dashboard select: names are metrics; functions, aggregations, keywords, label lists,
// strings, matchers, ranges and durations are not.
import { expect, it } from "vitest";
import { metricNames } from "../helpers/promql-metric-names.js";

it.each([
  ['sum by (job, instance) (rate(influx_relay_points_in_total{job=~"$job"}[5m]))', ["influx_relay_points_in_total"]],
  ["histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))", ["x_bucket"]],
  ["a / on (output) group_left (instance) b > 0.8 unless c offset 5m", ["a", "b", "c"]],
  ["max by (output) (m) > 0 unless on (output) max by (output) (q) > 0", ["m", "q"]],
  ["sum without (instance) (x) or y and bool z", ["x", "y", "z"]],
  ['{__name__="up", job="x"} == bool 1', ["up"]],
  ['{__name__=~"up|down"} + other', ["other"]],
  ['label_replace(up, "dst", "}{ [", "src", "(.*)")', ["up"]],
  ["time() - ts_seconds", ["ts_seconds"]],
  ['count_values("value", build_info) and on () vector(1)', ["build_info"]],
  ["max_over_time(foo[5m:1m] @ end()) * 1e-9 + Inf - NaN", ["foo"]],
  ["recording:rule:rate5m > 0x10", ["recording:rule:rate5m"]],
  ["a + a", ["a"]],
])("%s selects %j", (expr, names) => {
  expect(metricNames(expr)).toEqual(names);
});

it("refuses what it cannot read whole", () => {
  expect(() => metricNames('up{job="x}')).toThrow(/unterminated/);
});
