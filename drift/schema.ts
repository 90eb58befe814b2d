// The schema of each replica (databases, retention policies, continuous queries, users and their grants),
// and where the replicas differ. Reading is one round of SHOW statements per replica; the comparison is pure.
import { quoteIdentifier } from "../relay/influxql/quote.js";
import { INTERNAL_DATABASE } from "../relay/drift/counts.js";
import { rowsOf, type Replica } from "../relay/drift/replica.js";

export interface RetentionPolicy {
  /** As influxd prints it: "0s" (infinite), "168h0m0s". */
  readonly duration: string;
  readonly shardGroupDuration: string;
  readonly replicaN: number;
  readonly default: boolean;
}

export interface DatabaseSchema {
  readonly retentionPolicies: ReadonlyMap<string, RetentionPolicy>;
  /** Name to the whole CREATE CONTINUOUS QUERY statement, as SHOW CONTINUOUS QUERIES gives it. */
  readonly continuousQueries: ReadonlyMap<string, string>;
}

export interface User {
  readonly admin: boolean;
  /** Database to READ, WRITE or ALL PRIVILEGES. */
  readonly grants: ReadonlyMap<string, string>;
}

export interface ReplicaSchema {
  readonly databases: ReadonlyMap<string, DatabaseSchema>;
  readonly users: ReadonlyMap<string, User>;
}

export type SchemaDifference =
  | { readonly kind: "database"; readonly database: string; readonly missingOn: readonly string[]; readonly presentOn: readonly string[] }
  | {
      readonly kind: "retention-policy";
      readonly database: string;
      readonly name: string;
      readonly missingOn: readonly string[];
      /** The definition on each replica that has it. */
      readonly byReplica: Readonly<Record<string, RetentionPolicy>>;
    }
  | {
      readonly kind: "continuous-query";
      readonly database: string;
      readonly name: string;
      readonly missingOn: readonly string[];
      readonly byReplica: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: "user";
      readonly name: string;
      readonly missingOn: readonly string[];
      readonly byReplica: Readonly<Record<string, User>>;
    };

export async function readSchema(replica: Replica): Promise<ReplicaSchema> {
  const [databaseRows = [], userRows = []] = await replica.show("SHOW DATABASES; SHOW USERS");
  const databases = new Map<string, DatabaseSchema>();
  const names = rowsOf(databaseRows).map((row) => String(row.name));
  const continuousQueries = await readContinuousQueries(replica);
  for (const name of names.filter((n) => n !== INTERNAL_DATABASE)) {
    const [policyRows = []] = await replica.show(`SHOW RETENTION POLICIES ON ${quoteIdentifier(name)}`);
    const retentionPolicies = new Map<string, RetentionPolicy>();
    for (const row of rowsOf(policyRows)) {
      retentionPolicies.set(String(row.name), {
        duration: String(row.duration),
        shardGroupDuration: String(row.shardGroupDuration),
        replicaN: Number(row.replicaN),
        default: row.default === true,
      });
    }
    databases.set(name, { retentionPolicies, continuousQueries: continuousQueries.get(name) ?? new Map() });
  }
  const users = new Map<string, User>();
  for (const row of rowsOf(userRows)) {
    const name = String(row.user);
    const [grantRows = []] = await replica.show(`SHOW GRANTS FOR ${quoteIdentifier(name)}`);
    const grants = new Map<string, string>();
    for (const grant of rowsOf(grantRows)) {
      if (grant.privilege !== "NO PRIVILEGES") grants.set(String(grant.database), String(grant.privilege));
    }
    users.set(name, { admin: row.admin === true, grants });
  }
  return { databases, users };
}

/** Every difference, in a stable order: databases, then their policies and queries, then users. */
export function diffSchemas(schemas: ReadonlyMap<string, ReplicaSchema>): SchemaDifference[] {
  const replicas = [...schemas.keys()];
  const differences: SchemaDifference[] = [];
  const holders = <T>(pick: (schema: ReplicaSchema) => T | undefined, among: readonly string[] = replicas): Record<string, T> => {
    const found: Record<string, T> = {};
    for (const name of among) {
      const value = pick(schemas.get(name)!);
      if (value !== undefined) found[name] = value;
    }
    return found;
  };
  const missing = (byReplica: Record<string, unknown>, among: readonly string[] = replicas) => among.filter((r) => !(r in byReplica));

  for (const database of union([...schemas.values()].map((s) => s.databases.keys()))) {
    const present = holders((s) => s.databases.get(database));
    const holding = Object.keys(present);
    if (holding.length < replicas.length) differences.push({ kind: "database", database, missingOn: missing(present), presentOn: holding });
    // Policies and queries among the replicas that have the database: one that lacks it lacks them all.
    const databases = Object.values(present);
    for (const name of union(databases.map((d) => d.retentionPolicies.keys()))) {
      const byReplica = holders((s) => s.databases.get(database)?.retentionPolicies.get(name), holding);
      if (!allEqual(byReplica, holding.length, samePolicy)) {
        differences.push({ kind: "retention-policy", database, name, missingOn: missing(byReplica, holding), byReplica });
      }
    }
    for (const name of union(databases.map((d) => d.continuousQueries.keys()))) {
      const byReplica = holders((s) => s.databases.get(database)?.continuousQueries.get(name), holding);
      if (!allEqual(byReplica, holding.length, (a, b) => a === b)) {
        differences.push({ kind: "continuous-query", database, name, missingOn: missing(byReplica, holding), byReplica });
      }
    }
  }
  for (const name of union([...schemas.values()].map((s) => s.users.keys()))) {
    const byReplica = holders((s) => s.users.get(name));
    if (!allEqual(byReplica, replicas.length, sameUser)) differences.push({ kind: "user", name, missingOn: missing(byReplica), byReplica });
  }
  return differences;
}

export function samePolicy(a: RetentionPolicy, b: RetentionPolicy): boolean {
  return a.duration === b.duration && a.shardGroupDuration === b.shardGroupDuration && a.replicaN === b.replicaN && a.default === b.default;
}

function sameUser(a: User, b: User): boolean {
  return a.admin === b.admin && a.grants.size === b.grants.size && [...a.grants].every(([db, privilege]) => b.grants.get(db) === privilege);
}

function allEqual<T>(byReplica: Record<string, T>, replicas: number, same: (a: T, b: T) => boolean): boolean {
  const values = Object.values(byReplica);
  return values.length === replicas && values.every((v) => same(v, values[0]!));
}

function union(keys: Iterable<Iterable<string>>): string[] {
  const all = new Set<string>();
  for (const some of keys) for (const key of some) all.add(key);
  return [...all].sort();
}

/** SHOW CONTINUOUS QUERIES answers one series per database. */
async function readContinuousQueries(replica: Replica): Promise<Map<string, Map<string, string>>> {
  const [series = []] = await replica.show("SHOW CONTINUOUS QUERIES");
  const byDatabase = new Map<string, Map<string, string>>();
  for (const s of series) {
    byDatabase.set(s.name, new Map(rowsOf([s]).map((row) => [String(row.name), String(row.query)])));
  }
  return byDatabase;
}
