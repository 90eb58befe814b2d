// InfluxQL quoting, for the statements the local layout, the tests and the VMs' setup send to InfluxDB.

/** A double-quoted identifier (database, measurement, user). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** A single-quoted string literal (a password). */
export function quoteString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
