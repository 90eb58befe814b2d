// Command-line flags. influxdb-relay users type Go-style "-config FILE"; "--config FILE" and "--config=FILE" work too.

export interface CliOptions {
  readonly config?: string;
  readonly help: boolean;
  readonly version: boolean;
}

export const USAGE = `Usage: influx-relay -config FILE

Relays InfluxDB writes (HTTP /write, /api/v2/write, Prometheus remote write /api/v1/prom/write, and UDP) and
schema statements to every configured backend, and each read to one backend that is in sync.

Flags:
  -config FILE   influxdb-relay TOML config (required); --config also works
  -version       print the version and exit
  -help          print this help and exit`;

export class CliError extends Error {}

export function parseArgs(argv: readonly string[]): CliOptions {
  let config: string | undefined;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    if (name === "config") {
      const value = match?.[2] ?? argv[++i];
      if (value === undefined || value === "") throw new CliError("-config needs a file: -config relay.toml");
      config = value;
    } else if (name === "help" || name === "h") help = true;
    else if (name === "version" || name === "v") version = true;
    else throw new CliError(`unknown argument "${arg}"`);
  }
  if (!config && !help && !version) throw new CliError("-config is required");
  return { ...(config === undefined ? {} : { config }), help, version };
}
