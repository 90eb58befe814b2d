// The relay's settings that other folders share: their defaults and allowed values. A leaf module, so that
// topology/, the renderers and infra/ take them without importing the config loader (relay/config.ts).
import type { AckLevel } from "./ack.js";
import type { Precision } from "./precision.js";

export type WriteApiSetting = "auto" | "v1" | "v2";
export const WRITE_API_SETTINGS: readonly WriteApiSetting[] = ["auto", "v1", "v2"];

export type FsyncPolicy = "always" | "interval";
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "interval"];

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** Guards /admin/flush and /admin/mark-in-sync: shorter is refused. */
export const MIN_ADMIN_TOKEN_CHARS = 16;

export const DEFAULTS = {
  shutdownTimeout: "10s",
  logLevel: "info" as LogLevel,
  outputTimeout: "10s",
  bufferSizeMb: 1024,
  maxQueueAge: "24h",
  maxBatchKb: 512,
  maxDelayInterval: "10s",
  /** InfluxDB's own [http] max-body-size. */
  maxBodySize: 25_000_000,
  /** The listener's name is added below it. */
  spoolRoot: "/var/lib/influx-relay",
  ack: "one" as AckLevel,
  fsync: "always" as FsyncPolicy,
  fsyncInterval: "1s",
  udpPrecision: "n" as Precision,
  peerPollInterval: "1s",
  peerTimeout: "500ms",
  /** InfluxQL over a long range can think for minutes. */
  queryTimeout: "5m",
  /** MiB of request bodies in flight per listener: 32 bodies of 8 MiB. */
  maxInflightMb: 256,
  /** Time enough for a max-body-size body (25 MB) at 420 kB/s. */
  requestTimeout: "60s",
  /** fastify's own keep-alive timeout, kept: longer than the 60 s idle timeout of many proxies and load balancers. */
  idleTimeout: "72s",
  /** Off: each check reads every replica's counts for the window, which an operator turns on knowingly. */
  driftCheckInterval: "0s",
  driftCheckWindow: "1h",
  udpMtu: 1024,
  writeApi: "auto" as WriteApiSetting,
} as const;
