// A real InfluxDB 1.x server (influxd) on 127.0.0.1 for integration tests: local/influxd.ts in a
// temp dir, on ports free at start, removed again by stop(). Children are SIGKILLed (and their
// temp dirs removed) when the test process exits, so a crashed or forgetful test leaks nothing.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InfluxdProcess, startOnFreePorts } from "../../local/influxd.js";
import { findBinary } from "../../local/tools.js";
import { freePort, freeUdpPort } from "./ports.js";

export interface InfluxdOptions {
  /** Enables a [[udp]] listener writing into this database (created after start). */
  udpDatabase?: string;
  /** [[udp]] precision: "n" (default), "u", "ms", "s", "m" or "h". */
  udpPrecision?: string;
  /** InfluxDB's own authentication; query() and createDatabase() then need users the test creates itself. */
  authEnabled?: boolean;
}

export interface Influxd {
  readonly httpPort: number;
  readonly udpPort: number | undefined;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** http://127.0.0.1:PORT/write */
  readonly writeUrl: string;
  /** Temp dir holding meta/, data/, wal/, influxd.conf and influxd.log. */
  readonly dir: string;
  /** Pid of the running influxd, undefined while it is not running. */
  readonly pid: number | undefined;
  /**
   * GET /query with epoch=ns. Returns the parsed JSON, except that integers
   * beyond 2^53 (i.e. every ns timestamp) are exact decimal strings. Throws on
   * a non-2xx status, a top-level "error" or an "error" in any statement result.
   */
  query(q: string, db?: string): Promise<any>;
  /** POST /query CREATE DATABASE (idempotent in InfluxDB 1.x). */
  createDatabase(name: string): Promise<void>;
  /**
   * SELECT * FROM "measurement" as row objects keyed by column name. `time` is
   * always the exact nanosecond timestamp as a decimal string (see query()).
   * Returns [] when the measurement does not exist; throws if the db does not.
   */
  points(db: string, measurement: string): Promise<Array<Record<string, unknown>>>;
  /** SIGKILL and wait for the process to be gone (simulates a crash). */
  kill9(): Promise<void>;
  /** Start again with the same dir, ports and config (stopping first if running) and wait until ready. */
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after a grace period), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Path of the influxd binary, or undefined if there is none. */
export function influxdBinary(): string | undefined {
  return findBinary("influxd");
}

export function influxdAvailable(): boolean {
  return influxdBinary() !== undefined;
}

export async function startInfluxd(opts: InfluxdOptions = {}): Promise<Influxd> {
  return startOnFreePorts(async () => {
    const udp =
      opts.udpDatabase === undefined ? undefined : { port: await freeUdpPort(), database: opts.udpDatabase, precision: opts.udpPrecision };
    return new InfluxdProcess({
      dir: await mkdtemp(join(tmpdir(), "influx-ha-influxd-")),
      httpPort: await freePort(),
      rpcPort: await freePort(),
      udp,
      authEnabled: opts.authEnabled ?? false,
      removeDirOnStop: true,
    });
  });
}
