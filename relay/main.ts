#!/usr/bin/env node
// Process entry: flags, config, listeners, and a graceful stop on SIGTERM/SIGINT.
import { CliError, USAGE, parseArgs } from "./cli.js";
import { ConfigError, loadConfig } from "./config.js";
import { exitWhenDone } from "./exit.js";
import { createLogger } from "./logger.js";
import { StartError, startRelay } from "./relay.js";
import { VERSION } from "./version.js";

async function main(argv: readonly string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.version) {
    console.log(`influx-relay ${VERSION}`);
    return 0;
  }
  const config = loadConfig(options.config!);
  const logger = createLogger(config.logLevel);
  const relay = await startRelay(config, logger);
  logger.info({ version: VERSION, config: config.file, listeners: relay.addresses }, "influx-relay started");

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "stopping: no new requests; finishing those in flight");
  const stopped = await Promise.race([
    relay.close().then(() => true),
    new Promise<false>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs, false).unref()),
  ]);
  if (!stopped) {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown-timeout reached with requests still in flight; exiting anyway");
    return 1;
  }
  logger.info("stopped");
  return 0;
}

exitWhenDone(main(process.argv.slice(2)), (err) => {
  if (err instanceof ConfigError || err instanceof StartError || err instanceof CliError) {
    console.error(`influx-relay: ${err.message}`);
    if (err instanceof CliError) console.error(`\n${USAGE}`);
  } else {
    console.error("influx-relay: unexpected error:", err);
  }
  return err instanceof CliError ? 2 : 1;
});
