// drift/args.ts: the command line of influx-ha check and repair, and every mistake named plainly.
import { describe, expect, it } from "vitest";
import { parseDriftArgs, UsageError } from "../../drift/args.js";
import { ALL_TIME } from "../../relay/drift/influxql.js";

const NOW = Date.parse("2026-11-27T12:00:00Z");
const parse = (...argv: string[]) => parseDriftArgs(argv, NOW);
const problem = (...argv: string[]) => {
  try {
    parse(...argv);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(" ")}`);
};

describe("parseDriftArgs", () => {
  it("defaults to the local layout's run dir, every database, shard-sized buckets, all of time", () => {
    expect(parse("check")).toEqual({
      command: "check",
      where: { kind: "run-dir", dir: ".run" },
      databases: [],
      bucketNs: undefined,
      range: ALL_TIME,
      deep: false,
      json: false,
      rate: undefined,
      dryRun: false,
      prefer: undefined,
      waitMs: 60_000,
    });
  });

  it("reads replicas by URL with optional names, relays, and repair's flags", () => {
    const args = parse(
      "repair",
      "--replica",
      "a=http://127.0.0.1:8186/",
      "--replica=http://[::1]:8196",
      "--relay",
      "http://127.0.0.1:9096",
      "--db",
      "telegraf",
      "--bucket=1h",
      "--since",
      "24h",
      "--until",
      "2026-11-27T11:00:00.5Z",
      "--deep",
      "--json",
      "--rate",
      "5000",
      "--dry-run",
      "--prefer",
      "a",
      "--wait",
      "5m",
    );
    expect(args).toMatchObject({
      command: "repair",
      where: {
        kind: "urls",
        replicas: [
          { name: "a", url: "http://127.0.0.1:8186" },
          { name: "[::1]:8196", url: "http://[::1]:8196" },
        ],
        relays: ["http://127.0.0.1:9096"],
      },
      databases: ["telegraf"],
      bucketNs: 3_600_000_000_000n,
      range: { start: BigInt(NOW - 86_400_000) * 1_000_000n, end: BigInt(Date.parse("2026-11-27T11:00:00Z")) * 1_000_000n + 500_000_000n },
      deep: true,
      json: true,
      rate: 5000,
      dryRun: true,
      prefer: "a",
      waitMs: 300_000,
    });
  });

  it("says what is wrong", () => {
    expect(problem()).toBe("name a command: check or repair");
    expect(problem("fix")).toBe('unknown command "fix": use check or repair');
    expect(problem("check", "--rate", "5")).toBe("--rate is a flag of repair, not of check");
    expect(problem("check", "--replica", "http://a:1")).toBe("give at least two --replica: there is nothing to compare one replica with");
    expect(problem("check", "--replica", "x=http://a:1", "--replica", "x=http://b:1")).toBe('two --replica are named "x"');
    expect(problem("check", "--replica", "ftp://a")).toBe("--replica ftp://a: only http:// and https:// URLs");
    expect(problem("check", "--config", "r.toml", "--run-dir", "d")).toBe("give one of --run-dir, --config and --replica, not several");
    expect(problem("check", "--relay", "http://r:1")).toBe(
      "--relay goes with --replica: --run-dir and --config name the relays themselves",
    );
    expect(problem("check", "--bucket", "0s")).toBe('--bucket must be a duration above 0 such as 1h or 10m, not "0s"');
    expect(problem("check", "--since", "yesterday")).toBe(
      '--since must be an RFC 3339 time (2026-11-27T00:00:00Z) or a duration ago (24h), not "yesterday"',
    );
    expect(problem("check", "--since", "1h", "--until", "2h")).toBe("--since must be before --until");
    expect(problem("repair", "--rate", "1.5")).toBe('--rate must be a whole number of points per second above 0, not "1.5"');
    expect(problem("repair", "--replica", "a=http://a:1", "--replica", "b=http://b:1", "--prefer", "c")).toBe(
      "--prefer c names no replica: they are a, b",
    );
    expect(problem("check", "--db")).toBe("--db needs a value");
    expect(problem("check", "extra")).toBe('unexpected argument "extra"');
    expect(problem("check", "--frobnicate")).toBe("unknown flag --frobnicate");
  });

  it("answers help", () => {
    expect(parse("--help")).toBe("help");
    expect(parse("check", "--help")).toBe("help");
  });
});
