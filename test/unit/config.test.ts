import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../relay/config.js";
import { parseGoDuration } from "../../relay/duration.js";

const SAMPLE = "test/fixtures/influxdb-relay-sample.toml";

function problemsOf(toml: string): readonly string[] {
  try {
    parseConfig(toml, "relay.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

const OUTPUTS = `output = [{ name = "a", location = "http://127.0.0.1:8086/write" }]`;

describe("influxdb-relay's sample config", () => {
  it("loads without a single change", () => {
    const config = parseConfig(readFileSync(SAMPLE, "utf8"), SAMPLE);
    expect(config.http).toHaveLength(1);
    expect(config.udp).toHaveLength(1);
    const [http] = config.http;
    expect(http).toMatchObject({
      name: "example-http",
      bindAddr: { host: "127.0.0.1", port: 9096 },
      sslCombinedPem: "/etc/ssl/influxdb-relay.pem",
      maxBodySize: 25_000_000,
    });
    expect(http!.outputs.map((o) => [o.name, o.location, o.timeoutMs])).toEqual([
      ["local1", "http://127.0.0.1:8086/write", 10_000],
      ["local2", "http://127.0.0.1:7086/write", 10_000],
    ]);
    expect(config.udp[0]).toMatchObject({
      name: "example-udp",
      bindAddr: { host: "127.0.0.1", port: 9096 },
      readBuffer: 0,
      precision: "n",
      outputs: [
        { name: "local1", host: "127.0.0.1", port: 8089, mtu: 512 },
        { name: "local2", host: "127.0.0.1", port: 7089, mtu: 1024 },
      ],
    });
  });

  it("reads every documented output key", () => {
    const config = parseConfig(
      `[[http]]
bind-addr = ":9096"
default-retention-policy = "autogen"
max-body-size = 1000
output = [{ name = "a", location = "https://influx:8086/write", timeout = "1m30s", buffer-size-mb = 100, max-queue-age = "2h", max-batch-kb = 50, max-delay-interval = "5s", skip-tls-verification = true, write-api = "v1" }]`,
      "relay.toml",
    );
    expect(config.http[0]).toMatchObject({ bindAddr: { host: "", port: 9096 }, defaultRetentionPolicy: "autogen", maxBodySize: 1000 });
    expect(config.http[0]!.outputs[0]).toEqual({
      name: "a",
      location: "https://influx:8086/write",
      timeoutMs: 90_000,
      bufferSizeMb: 100,
      maxQueueAgeMs: 7_200_000,
      maxBatchKb: 50,
      maxDelayIntervalMs: 5_000,
      skipTlsVerification: true,
      writeApi: "v1",
    });
  });

  it('defaults write-api to "auto" and refuses anything but "auto", "v1" and "v2"', () => {
    const config = parseConfig(`[[http]]\nbind-addr = ":9096"\n${OUTPUTS}`, "relay.toml");
    expect(config.http[0]!.outputs[0]!.writeApi).toBe("auto");
    expect(
      problemsOf(
        `[[http]]\nbind-addr = ":9096"\noutput = [{ location = "http://a:8086/write", write-api = "1.8" }, { location = "http://b:8086/write", write-api = 2 }]`,
      ),
    ).toEqual([
      'http[0].output[0].write-api: the string "1.8" is not one of "auto", "v1", "v2"',
      'http[0].output[1].write-api: number 2 is not one of "auto", "v1", "v2"',
    ]);
  });
});

describe("durability keys", () => {
  it("defaults to a spool under /var/lib/influx-relay named after the listener, ack one, fsync always", () => {
    const config = parseConfig(`[[http]]\nname = "main"\nbind-addr = ":9096"\n${OUTPUTS}`, "relay.toml");
    expect(config.http[0]).toMatchObject({
      spoolDir: "/var/lib/influx-relay/main",
      ack: "one",
      fsync: "always",
      fsyncIntervalMs: 1_000,
      adminToken: undefined,
    });
    expect(config.http[0]!.outputs[0]).toMatchObject({ bufferSizeMb: 1024, maxQueueAgeMs: 86_400_000 });
  });

  it("reads spool-dir (relative to the working directory), ack, fsync, fsync-interval and admin-token", () => {
    const config = parseConfig(
      `[[http]]\nbind-addr = ":9096"\nspool-dir = "spool/a"\nack = "quorum"\nfsync = "interval"\nfsync-interval = "250ms"\nadmin-token = "0123456789abcdef"\n${OUTPUTS}`,
      "relay.toml",
    );
    expect(config.http[0]).toMatchObject({
      spoolDir: `${process.cwd()}/spool/a`,
      ack: "quorum",
      fsync: "interval",
      fsyncIntervalMs: 250,
      adminToken: "0123456789abcdef",
    });
  });

  it("refuses unknown ack and fsync values, a short admin-token and a spool-dir shared by two listeners", () => {
    expect(
      problemsOf(
        `[[http]]\nbind-addr = ":1"\nspool-dir = "/s"\nack = "two"\nfsync = "never"\nadmin-token = "secret"\n${OUTPUTS}\n[[http]]\nbind-addr = ":2"\nspool-dir = "/s/"\n${OUTPUTS}`,
      ),
    ).toEqual([
      "http[0].admin-token: is too short to guard /admin/flush: use at least 16 random characters",
      'http[0].ack: the string "two" is not one of "one", "quorum", "all"',
      'http[0].fsync: the string "never" is not one of "always", "interval"',
      `http[1].spool-dir: "/s" is also http[0]'s spool-dir: each [[http]] block needs its own`,
    ]);
  });
});

describe("the drift check", () => {
  it("is off by default, over a 1h window, and takes an interval of 1s or more", () => {
    const off = parseConfig(`[[http]]\nbind-addr = ":9096"\n${OUTPUTS}`, "relay.toml").http[0]!;
    expect([off.driftCheckIntervalMs, off.driftCheckWindowMs]).toEqual([0, 3_600_000]);
    const on = parseConfig(
      `[[http]]\nbind-addr = ":9096"\ndrift-check-interval = "5m"\ndrift-check-window = "6h"\n${OUTPUTS}`,
      "relay.toml",
    ).http[0]!;
    expect([on.driftCheckIntervalMs, on.driftCheckWindowMs]).toEqual([300_000, 21_600_000]);
    expect(() =>
      parseConfig(`[[http]]\nbind-addr = ":9096"\ndrift-check-interval = "500ms"\ndrift-check-window = "0s"\n${OUTPUTS}`, "relay.toml"),
    ).toThrow(
      'relay.toml: invalid configuration:\n  - http[0].drift-check-window: "0s" must be greater than zero\n' +
        "  - http[0].drift-check-interval: must be 0s (off) or at least 1s: each check reads every replica",
    );
  });
});

describe("peers and reads", () => {
  it("defaults to no peers, a 1s poll, a 500ms peer timeout and a 5m query timeout", () => {
    const http = parseConfig(`[[http]]\nbind-addr = ":9096"\n${OUTPUTS}`, "relay.toml").http[0]!;
    expect([http.peers, http.peerPollIntervalMs, http.peerTimeoutMs, http.queryTimeoutMs]).toEqual([[], 1_000, 500, 300_000]);
  });

  it("reads peers as base URLs, without a trailing slash, and the timings", () => {
    const http = parseConfig(
      `[[http]]\nbind-addr = ":9096"\npeers = ["http://10.0.0.2:9096/", "https://relay-2.example:9096"]\n` +
        `peer-poll-interval = "250ms"\npeer-timeout = "2s"\nquery-timeout = "30m"\n${OUTPUTS}`,
      "relay.toml",
    ).http[0]!;
    expect(http.peers).toEqual(["http://10.0.0.2:9096", "https://relay-2.example:9096"]);
    expect([http.peerPollIntervalMs, http.peerTimeoutMs, http.queryTimeoutMs]).toEqual([250, 2_000, 1_800_000]);
  });

  it("names each bad peer and timing", () => {
    expect(problemsOf(`[[http]]\nbind-addr = ":9096"\npeers = "http://10.0.0.2:9096"\n${OUTPUTS}`)).toEqual([
      'http[0].peers: must be an array of URLs, each such as "http://10.0.0.2:9096", got the string "http://10.0.0.2:9096"',
    ]);
    expect(
      problemsOf(
        `[[http]]\nbind-addr = ":9096"\npeers = ["10.0.0.2:9096", 7, "ftp://x"]\npeer-timeout = "0s"\nquery-timeout = "soon"\n${OUTPUTS}`,
      ),
    ).toEqual([
      'http[0].peers[0]: "10.0.0.2:9096" is not a URL: expected e.g. "http://10.0.0.2:9096"',
      'http[0].peers[1]: must be a URL such as "http://10.0.0.2:9096", got number 7',
      'http[0].peers[2]: "ftp://x" must be an http:// or https:// URL with a host',
      'http[0].peer-timeout: "0s" must be greater than zero',
      'http[0].query-timeout: "soon" is not a duration: use a number and a unit (ns, us, ms, s, m, h), such as "10s" or "1m30s"',
    ]);
  });
});

describe("limits", () => {
  it("defaults to 256 MiB of bodies in flight, a 60s request timeout and a 72s idle timeout", () => {
    const http = parseConfig(`[[http]]\nbind-addr = ":9096"\n${OUTPUTS}`, "relay.toml").http[0]!;
    expect([http.maxInflightBytes, http.requestTimeoutMs, http.idleTimeoutMs]).toEqual([256 * 1024 * 1024, 60_000, 72_000]);
  });

  it("reads max-inflight-mb in MiB, request-timeout and idle-timeout", () => {
    const http = parseConfig(
      `[[http]]\nbind-addr = ":9096"\nmax-inflight-mb = 64\nrequest-timeout = "2m"\nidle-timeout = "5s"\n${OUTPUTS}`,
      "relay.toml",
    ).http[0]!;
    expect([http.maxInflightBytes, http.requestTimeoutMs, http.idleTimeoutMs]).toEqual([64 * 1024 * 1024, 120_000, 5_000]);
  });

  it("refuses a budget smaller than max-body-size, and timeouts that are zero or not durations", () => {
    expect(
      problemsOf(`[[http]]\nbind-addr = ":9096"\nmax-inflight-mb = 10\nrequest-timeout = "0s"\nidle-timeout = 30\n${OUTPUTS}`),
    ).toEqual([
      'http[0].request-timeout: "0s" must be greater than zero',
      'http[0].idle-timeout: must be a duration string such as "10s", got number 30',
      "http[0].max-inflight-mb: 10 MiB is less than max-body-size (25000000 bytes): a body of that size could never be taken",
    ]);
    expect(problemsOf(`[[http]]\nbind-addr = ":9096"\nmax-inflight-mb = 0\nmax-body-size = 1000\n${OUTPUTS}`)).toEqual([
      "http[0].max-inflight-mb: 0 is out of range: must be at least 1",
    ]);
  });
});

describe("bad config", () => {
  it("names the file, the key and the problem for an unknown key", () => {
    expect(() => parseConfig(`[[http]]\nbind-addr = "127.0.0.1:1"\nbind-adr = "x"\n${OUTPUTS}`, "/etc/relay.toml")).toThrow(
      /^\/etc\/relay\.toml: invalid configuration:\n {2}- http\[0\]\.bind-adr: unknown key: known keys here are ack, admin-token, bind-addr, /,
    );
    expect(
      problemsOf(`[[http]]\nbind-addr = "127.0.0.1:1"\noutput = [{ name = "a", location = "http://h/write", timeut = "1s" }]`),
    ).toEqual([expect.stringMatching(/^http\[0\]\.output\[0\]\.timeut: unknown key/)]);
    expect(problemsOf(`[[tcp]]\nbind-addr = "x"`)).toContain(
      "tcp: unknown key: known keys here are http, log-level, shutdown-timeout, udp",
    );
  });

  it("reports a wrong type", () => {
    expect(problemsOf(`[[http]]\nbind-addr = 9096\n${OUTPUTS}`)).toEqual(["http[0].bind-addr: must be a string, got number 9096"]);
    expect(problemsOf(`[[http]]\nbind-addr = ":1"\noutput = [{ name = "a", location = "http://h/write", timeout = 10 }]`)).toEqual([
      'http[0].output[0].timeout: must be a duration string such as "10s", got number 10',
    ]);
    expect(problemsOf(`[[udp]]\nbind-addr = ":1"\nread-buffer = "big"\noutput = [{ location = "h:1", mtu = 1.5 }]`)).toEqual([
      'udp[0].read-buffer: must be an integer, got the string "big"',
      "udp[0].output[0].mtu: must be an integer, got number 1.5",
    ]);
  });

  it("reports bad URLs, addresses, durations and enums", () => {
    expect(
      problemsOf(`[[http]]
bind-addr = "127.0.0.1:99999"
output = [
  { name = "a", location = "not a url" },
  { name = "b", location = "ftp://h/write" },
  { name = "c", location = "http://h/write", timeout = "10 seconds" },
]
[[udp]]
bind-addr = ":1"
precision = "ns2"
output = [{ location = "no-port" }]`),
    ).toEqual([
      'http[0].bind-addr: "127.0.0.1:99999" is not an address: expected "host:port" with a port from 1 to 65535, such as "127.0.0.1:9096"',
      'http[0].output[0].location: "not a url" is not a URL: expected e.g. "http://10.0.0.1:8086/write"',
      'http[0].output[1].location: "ftp://h/write" must be an http:// or https:// URL with a host',
      'http[0].output[2].timeout: "10 seconds" is not a duration: use a number and a unit (ns, us, ms, s, m, h), such as "10s" or "1m30s"',
      'udp[0].precision: the string "ns2" is not one of "n", "ns", "u", "ms", "s", "m", "h"',
      'udp[0].output[0].location: "no-port" is not an address: expected "host:port" with a port from 1 to 65535, such as "127.0.0.1:9096"',
    ]);
  });

  it("refuses duplicate bind addresses per protocol, and allows TCP and UDP on the same one", () => {
    const block = (kind: string, addr: string) =>
      kind === "http"
        ? `[[http]]\nbind-addr = "${addr}"\n${OUTPUTS}\n`
        : `[[udp]]\nbind-addr = "${addr}"\noutput = [{ location = "127.0.0.1:8089" }]\n`;
    expect(problemsOf(block("http", "127.0.0.1:9096") + block("http", "127.0.0.1:9096"))).toEqual([
      'http[1].bind-addr: "127.0.0.1:9096" clashes with http[0].bind-addr "127.0.0.1:9096": each [[http]] block needs its own address',
    ]);
    expect(problemsOf(block("udp", ":8089") + block("udp", "127.0.0.1:8089"))).toEqual([
      'udp[1].bind-addr: "127.0.0.1:8089" clashes with udp[0].bind-addr ":8089": each [[udp]] block needs its own address',
    ]);
    expect(() => parseConfig(block("http", "127.0.0.1:9096") + block("udp", "127.0.0.1:9096"), "relay.toml")).not.toThrow();
  });

  it("refuses a block with no outputs, and duplicate output names", () => {
    expect(problemsOf(`[[http]]\nbind-addr = ":1"`)).toEqual([
      "http[0].output: the block has no outputs: add at least one { name, location } to output = [...]",
    ]);
    expect(problemsOf(`[[udp]]\nbind-addr = ":1"\noutput = []`)).toEqual([
      "udp[0].output: the block has no outputs: add at least one { name, location } to output = [...]",
    ]);
    expect(
      problemsOf(
        `[[http]]\nbind-addr = ":1"\noutput = [{ name = "a", location = "http://x/write" }, { name = "a", location = "http://y/write" }]`,
      ),
    ).toEqual(['http[0].output[1].name: duplicate output name "a": names must be unique within a block']);
  });

  it("refuses a config that listens on nothing, and reports TOML syntax errors with their line", () => {
    expect(problemsOf("")).toEqual(["no [[http]] or [[udp]] block: the relay would listen on nothing"]);
    expect(problemsOf(`[[http]]\nbind-addr = "127.0.0.1:1`)).toEqual([expect.stringMatching(/^line 2, column \d+: TOML syntax error: /)]);
  });

  it("lists every problem at once", () => {
    expect(problemsOf(`log-level = "loud"\n[[http]]\nbind-addr = "x"\noutput = [{ location = "http://h/write", mtu = 5 }]`)).toHaveLength(
      3,
    );
  });
});

describe("Go durations", () => {
  it.each([
    ["10s", 10_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["250us", 0.25],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => expect(parseGoDuration(text)).toBe(ms));

  it.each(["", "10", "s", "1x", "1s2", "ten seconds"])("%j is not a duration", (text) => expect(parseGoDuration(text)).toBeUndefined());
});
