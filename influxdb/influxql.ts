// InfluxQL quoting and the bootstrap statements, for what the local layout, the tests, the VMs and the Kubernetes Job send to InfluxDB.

/** A double-quoted identifier (database, measurement, user). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** A single-quoted string literal (a password). */
export function quoteString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** The statement that makes the first user an admin; bootstrap-replicas.sh sends it without credentials. */
export function createAdminStatement(user: string, password: string): string {
  return `CREATE USER ${quoteIdentifier(user)} WITH PASSWORD ${quoteString(password)} WITH ALL PRIVILEGES\n`;
}

/** CREATE DATABASE is idempotent in InfluxDB 1.x, so this runs on every (re)start. */
export function createDatabasesStatement(databases: readonly string[]): string {
  return databases.map((db) => `CREATE DATABASE ${quoteIdentifier(db)}`).join("; ") + "\n";
}
