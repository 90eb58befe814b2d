// InfluxQL quoting, as influxd's scanner reads it back: for whatever the project sends to InfluxDB (the drift
// tools, the relay's drift check, the bootstrap statements, the local layout).

/** A double-quoted identifier (database, retention policy, measurement, user): `\"` and `\\` are its escapes. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** A single-quoted string literal (a password). */
export function quoteString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
