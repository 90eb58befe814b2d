// One pino logger for the process; fastify and the UDP listeners share it.
import { pino, type Logger } from "pino";
import type { LogLevel } from "./defaults.js";

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: "influx-relay" } });
}

/** A logger that discards everything, for embedding the relay in tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
