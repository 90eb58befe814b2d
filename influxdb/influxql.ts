// The bootstrap statements, for what the local layout, the tests, the VMs and the Kubernetes Job send to InfluxDB.
import { quoteIdentifier, quoteString } from "../relay/influxql/quote.js";

/** The statement that makes the first user an admin; bootstrap-replicas.sh sends it without credentials. */
export function createAdminStatement(user: string, password: string): string {
  return `CREATE USER ${quoteIdentifier(user)} WITH PASSWORD ${quoteString(password)} WITH ALL PRIVILEGES\n`;
}

/** CREATE DATABASE is idempotent in InfluxDB 1.x, so this runs on every (re)start. */
export function createDatabasesStatement(databases: readonly string[]): string {
  return databases.map((db) => `CREATE DATABASE ${quoteIdentifier(db)}`).join("; ") + "\n";
}
