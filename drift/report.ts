// What check and repair print: a table for people, JSON for scripts (--json). Pure: reports in, text out.
import { hasDrift, type ContentDifference, type DriftReport } from "./check.js";
import { pointCount, wholeReplicas, type BucketDifference } from "../relay/drift/counts.js";
import type { RepairOutcome } from "./repair.js";
import type { RetentionPolicy, SchemaDifference, User } from "./schema.js";

/** RFC 3339 with as many fraction digits as the nanoseconds need, like influxd prints times. */
export function formatTime(ns: bigint): string {
  const NS_PER_S = 1_000_000_000n;
  let seconds = ns / NS_PER_S;
  let fraction = ns % NS_PER_S;
  if (fraction < 0n) ((seconds -= 1n), (fraction += NS_PER_S));
  const date = new Date(Number(seconds) * 1000);
  const whole = Number.isNaN(date.getTime()) ? `${seconds}s` : date.toISOString().replace(/\.000Z$/, "");
  if (whole.endsWith("s")) return `${ns}ns`;
  return fraction === 0n ? `${whole}Z` : `${whole}.${String(fraction).padStart(9, "0").replace(/0+$/, "")}Z`;
}

function describeSchemaDifference(d: SchemaDifference): string {
  const missing = d.missingOn.length > 0 ? `missing on ${d.missingOn.join(", ")}` : "";
  switch (d.kind) {
    case "database":
      return `database "${d.database}": ${missing} (present on ${d.presentOn.join(", ")})`;
    case "retention-policy":
      return `retention policy "${d.database}"."${d.name}": ${[missing, ...Object.entries(d.byReplica).map(([r, p]) => `${r}: ${policyText(p)}`)].filter(Boolean).join("; ")}`;
    case "continuous-query":
      return `continuous query "${d.database}"."${d.name}": ${[missing, ...Object.entries(d.byReplica).map(([r, q]) => `${r}: ${q}`)].filter(Boolean).join("; ")}`;
    case "user":
      return `user "${d.name}": ${[missing, ...Object.entries(d.byReplica).map(([r, u]) => `${r}: ${userText(u)}`)].filter(Boolean).join("; ")}`;
  }
}

export function renderCheck(report: DriftReport, elapsedMs: number): string {
  const lines = [
    `influx-ha check: ${report.replicas.join(", ")}; ${report.policies.length} retention ${report.policies.length === 1 ? "policy" : "policies"} compared in ${(elapsedMs / 1000).toFixed(1)} s`,
  ];
  if (report.schema.length > 0) lines.push("", "SCHEMA", ...report.schema.map((d) => `  ${describeSchemaDifference(d)}`));
  if (report.data.length > 0) {
    lines.push(
      "",
      "DATA: points each replica holds per bucket (counted by its most frequent field)",
      ...table(dataRows(report.replicas, report.data)),
    );
  }
  if (report.content.length > 0) {
    lines.push("", "CONTENT (--deep): the same counts, different points", ...table(contentRows(report.replicas, report.content)));
  }
  lines.push("", summary(report));
  return lines.join("\n");
}

export function summary(report: DriftReport): string {
  const parts = [
    report.schema.length > 0 ? `${report.schema.length} schema difference${report.schema.length === 1 ? "" : "s"}` : "",
    report.data.length > 0 ? `${report.data.length} bucket${report.data.length === 1 ? "" : "s"} with different counts` : "",
    report.content.length > 0 ? `${report.content.length} bucket${report.content.length === 1 ? "" : "s"} with different points` : "",
  ].filter(Boolean);
  return parts.length === 0 ? "No drift: the replicas match." : `DRIFT: ${parts.join(", ")}.`;
}

/** `elapsedMs`: the whole run, checks included; the copy's own time is the outcome's. */
export function renderRepair(outcome: RepairOutcome, dryRun: boolean, elapsedMs: number): string {
  const lines = [renderCheck(outcome.first, 0).split("\n").slice(1).join("\n").trim()];
  lines[0] = `before: ${lines[0]}`;
  const verb = dryRun ? "would run" : "ran";
  if (outcome.schemaActions.length > 0) {
    lines.push("", `SCHEMA: ${verb}`, ...outcome.schemaActions.map((a) => `  on ${a.replica}: ${a.statement}`));
  }
  const written = Object.entries(outcome.written).filter(([, n]) => n > 0);
  lines.push(
    "",
    dryRun
      ? `DATA: would write at least ${written.map(([r, n]) => `${n} points into ${r}`).join(", ") || "nothing"}`
      : `DATA: wrote ${written.map(([r, n]) => `${n} points into ${r}`).join(", ") || "nothing"} in ${(outcome.copyMs / 1000).toFixed(1)} s ` +
          `(${(elapsedMs / 1000).toFixed(1)} s with the checks)`,
  );
  if (outcome.settled > 0) lines.push(`  ${outcome.settled} conflicting values settled by --prefer`);
  if (outcome.conflicts.length > 0) {
    lines.push(
      "",
      `CONFLICTS: ${outcome.conflicts.length} values differ between replicas and were left as they are (settle them with --prefer REPLICA):`,
    );
    for (const c of outcome.conflicts.slice(0, 20)) {
      lines.push(
        `  ${c.database}.${c.retentionPolicy} ${c.series} ${formatTime(c.time)} ${c.field}: ${Object.entries(c.values)
          .map(([r, v]) => `${r}=${String(v)}`)
          .join(" ")}`,
      );
    }
    if (outcome.conflicts.length > 20) lines.push(`  ... and ${outcome.conflicts.length - 20} more (--json lists them all)`);
  }
  if (outcome.refused.length > 0) {
    lines.push(
      "",
      `REFUSED: ${outcome.refused.length} writes the replicas refused for good:`,
      ...outcome.refused.slice(0, 20).map((r) => `  ${r}`),
    );
  }
  for (const step of outcome.manual) lines.push("", `BY HAND: ${step.what}`, ...step.commands.map((c) => `  ${c}`));
  if (outcome.last !== undefined) lines.push("", `after: ${summary(outcome.last)}`);
  return lines.join("\n");
}

/** The report as JSON: times as RFC 3339 and as nanosecond strings, which JSON numbers cannot hold. */
export function checkJson(report: DriftReport): object {
  return {
    replicas: report.replicas,
    drift: hasDrift(report),
    policies: report.policies.map((p) => ({ database: p.database, retentionPolicy: p.retentionPolicy, bucketNs: String(p.bucketNs) })),
    schema: report.schema.map((d) => ({
      ...d,
      description: describeSchemaDifference(d),
      ...("byReplica" in d ? { byReplica: plain(d.byReplica) } : {}),
    })),
    data: report.data.map((d) => ({
      ...bucketJson(d),
      points: Object.fromEntries(Object.entries(d.counts).map(([r, fields]) => [r, pointCount(fields)])),
      fields: d.counts,
      whole: wholeReplicas(d.counts),
    })),
    content: report.content.map((c) => ({ ...bucketJson(c), digests: c.digests })),
  };
}

export function repairJson(outcome: RepairOutcome): object {
  return {
    before: checkJson(outcome.first),
    schemaActions: outcome.schemaActions,
    written: outcome.written,
    copyMs: Math.round(outcome.copyMs),
    settled: outcome.settled,
    conflicts: outcome.conflicts.map((c) => ({ ...c, time: formatTime(c.time), timeNs: String(c.time), values: plain(c.values) })),
    refused: outcome.refused,
    manual: outcome.manual,
    after: outcome.last === undefined ? null : checkJson(outcome.last),
  };
}

function bucketJson(d: BucketDifference | ContentDifference): object {
  return {
    database: d.database,
    retentionPolicy: d.retentionPolicy,
    measurement: d.measurement,
    from: formatTime(d.range.start),
    to: formatTime(d.range.end),
    fromNs: String(d.range.start),
    toNs: String(d.range.end),
  };
}

function dataRows(replicas: readonly string[], data: readonly BucketDifference[]): string[][] {
  return [
    ["database.policy", "measurement", "from", "to", ...replicas, "whole"],
    ...data.map((d) => [
      `${d.database}.${d.retentionPolicy}`,
      d.measurement,
      formatTime(d.range.start),
      formatTime(d.range.end),
      ...replicas.map((r) => String(pointCount(d.counts[r] ?? {}))),
      wholeReplicas(d.counts).join(",") || "none: each lacks some fields",
    ]),
  ];
}

function contentRows(replicas: readonly string[], content: readonly ContentDifference[]): string[][] {
  return [
    ["database.policy", "measurement", "from", "to", ...replicas.map((r) => `${r} sha256`)],
    ...content.map((c) => [
      `${c.database}.${c.retentionPolicy}`,
      c.measurement,
      formatTime(c.range.start),
      formatTime(c.range.end),
      ...replicas.map((r) => c.digests[r]!.slice(0, 12)),
    ]),
  ];
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")}`.trimEnd());
}

function policyText(p: RetentionPolicy): string {
  return `duration ${p.duration}, shard duration ${p.shardGroupDuration}, replication ${p.replicaN}${p.default ? ", default" : ""}`;
}

function userText(u: User): string {
  const grants = [...u.grants].map(([db, privilege]) => `${privilege} on ${db}`);
  return [u.admin ? "admin" : "", ...grants].filter(Boolean).join(", ") || "no privileges";
}

/** Maps and bigints as JSON can hold them. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : typeof v === "bigint" ? String(v) : v)),
  );
}
