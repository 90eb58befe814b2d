// Everything a replica holds in a database, as sorted lines that two replicas can be compared by: each point
// with its policy, series and exact values (int64s as strings), and each measurement's field types.
import { quoteIdentifier } from "../../relay/influxql/quote.js";

/** Anything that runs InfluxQL on one replica: test/helpers/influxd.ts's Influxd, local/influxd.ts's InfluxdProcess. */
export interface Queryable {
  query(q: string, db?: string): Promise<any>;
}

export async function dumpDatabase(replica: Queryable, db: string): Promise<string[]> {
  const lines: string[] = [];
  const policies = await replica.query(`SHOW RETENTION POLICIES ON ${quoteIdentifier(db)}`);
  for (const [rp] of policies.results[0].series?.[0]?.values ?? []) {
    const answer = await replica.query(`SELECT * FROM ${quoteIdentifier(db)}.${quoteIdentifier(rp)}./.*/ GROUP BY *`, db);
    for (const series of answer.results[0].series ?? []) {
      for (const row of series.values) lines.push(JSON.stringify([rp, series.name, series.tags, series.columns, row]));
    }
    const types = await replica.query(`SHOW FIELD KEYS FROM ${quoteIdentifier(rp)}./.*/`, db);
    for (const series of types.results[0].series ?? []) lines.push(JSON.stringify([rp, series.name, "types", series.values]));
  }
  return lines.sort();
}
