// drift/schema.ts's comparison, the InfluxQL repair writes for a retention policy, and how a report prints.
import { describe, expect, it } from "vitest";
import type { DriftReport } from "../../drift/check.js";
import { influxqlDuration, policyStatement } from "../../drift/repair.js";
import { checkJson, formatTime, renderCheck } from "../../drift/report.js";
import { diffSchemas, type ReplicaSchema, type RetentionPolicy } from "../../drift/schema.js";

const AUTOGEN: RetentionPolicy = { duration: "0s", shardGroupDuration: "168h0m0s", replicaN: 1, default: true };
const WEEK: RetentionPolicy = { duration: "168h0m0s", shardGroupDuration: "24h0m0s", replicaN: 1, default: false };

function schema(
  databases: Record<string, Record<string, RetentionPolicy>>,
  users: Record<string, boolean> = {},
  cqs: Record<string, string> = {},
): ReplicaSchema {
  return {
    databases: new Map(
      Object.entries(databases).map(([db, policies]) => [
        db,
        { retentionPolicies: new Map(Object.entries(policies)), continuousQueries: new Map(Object.entries(cqs)) },
      ]),
    ),
    users: new Map(Object.entries(users).map(([name, admin]) => [name, { admin, grants: new Map() }])),
  };
}

describe("diffSchemas", () => {
  it("finds nothing between equal schemas", () => {
    const s = schema({ telegraf: { autogen: AUTOGEN } }, { admin: true });
    expect(
      diffSchemas(
        new Map([
          ["a", s],
          ["b", schema({ telegraf: { autogen: AUTOGEN } }, { admin: true })],
        ]),
      ),
    ).toEqual([]);
  });

  it("names what is missing where, and definitions that differ", () => {
    const a = schema(
      { telegraf: { autogen: AUTOGEN, week: WEEK }, extra: { autogen: AUTOGEN } },
      { admin: true, reader: false },
      { cq: "CREATE CONTINUOUS QUERY cq ON telegraf BEGIN SELECT mean(v) INTO m2 FROM m GROUP BY time(1h) END" },
    );
    const b = schema({ telegraf: { autogen: { ...AUTOGEN, shardGroupDuration: "24h0m0s" } } }, { admin: false });
    const found = diffSchemas(
      new Map([
        ["a", a],
        ["b", b],
      ]),
    );
    expect(found.map((d) => [d.kind, "database" in d ? d.database : "", "name" in d ? d.name : "", d.missingOn])).toEqual([
      ["database", "extra", "", ["b"]],
      ["retention-policy", "telegraf", "autogen", []],
      ["retention-policy", "telegraf", "week", ["b"]],
      ["continuous-query", "telegraf", "cq", ["b"]],
      ["user", "", "admin", []],
      ["user", "", "reader", ["b"]],
    ]);
  });
});

describe("retention policy statements", () => {
  it("writes durations as InfluxQL literals, INF for infinite", () => {
    expect(influxqlDuration("0s")).toBe("INF");
    expect(influxqlDuration("168h0m0s")).toBe("1w");
    expect(influxqlDuration("24h0m0s")).toBe("1d");
    expect(influxqlDuration("1h30m0s")).toBe("90m");
    expect(influxqlDuration("1.5s")).toBe("1500ms");
    expect(policyStatement("CREATE", "week", "my db", { ...WEEK, default: true })).toBe(
      'CREATE RETENTION POLICY "week" ON "my db" DURATION 1w REPLICATION 1 SHARD DURATION 1d DEFAULT',
    );
  });
});

describe("reports", () => {
  it("prints times as influxd does, nanoseconds when there are some, and out-of-Date times as nanoseconds", () => {
    expect(formatTime(0n)).toBe("1970-01-01T00:00:00Z");
    expect(formatTime(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
    expect(formatTime(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
    expect(formatTime(-9_223_372_036_854_775_806n)).toBe("1677-09-21T00:12:43.145224194Z");
  });

  it("shows each bucket with every replica's points and which looks whole; JSON keeps nanoseconds exact", () => {
    const report: DriftReport = {
      replicas: ["influxd-0", "influxd-1"],
      schema: [],
      data: [
        {
          database: "telegraf",
          retentionPolicy: "autogen",
          measurement: "cpu",
          range: { start: 1_699_488_000_000_000_000n, end: 1_700_092_800_000_000_000n },
          counts: { "influxd-0": { v: 10 }, "influxd-1": { v: 9 } },
        },
      ],
      content: [],
      policies: [{ database: "telegraf", retentionPolicy: "autogen", bucketNs: 604_800_000_000_000n }],
      schemas: new Map(),
    };
    const text = renderCheck(report, 1234);
    expect(text).toContain("telegraf.autogen  cpu          2023-11-09T00:00:00Z  2023-11-16T00:00:00Z  10         9          influxd-0");
    expect(text).toMatch(/DRIFT: 1 bucket with different counts\.$/);
    expect(checkJson(report)).toMatchObject({
      drift: true,
      data: [{ fromNs: "1699488000000000000", points: { "influxd-0": 10, "influxd-1": 9 }, whole: ["influxd-0"] }],
    });
  });
});
