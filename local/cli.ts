// Flags of `npm start -- ...`. Pure: the caller passes the directories relative paths resolve against.
import { resolve } from "node:path";
import { MIN_REPLICAS } from "../topology/build.js";
import { DEFAULT_DATABASES, DEFAULT_PORT, DEFAULT_REPLICAS, PORT_OFFSETS, type LocalOptions } from "./plan.js";

export type LocalCommand =
  | { readonly help: true }
  | ({
      readonly help: false;
      /** Start a child that exits on its own again (false with --no-restart). */
      readonly restart: boolean;
    } & LocalOptions);

export interface CliContext {
  /** Directory a relative --run-dir is taken from. */
  readonly cwd: string;
  /** The run dir without --run-dir (absolute). */
  readonly defaultRunDir: string;
}

/** A bad command line: main prints it with the usage and exits with code 2. */
export class CliError extends Error {
  override readonly name = "CliError";
}

const { stats, relayUdp, relayHttp, relayStride, replicaBase, replicaStride, replicaHttp, replicaRpc, replicaUdp } = PORT_OFFSETS;
const P = DEFAULT_PORT;

export const USAGE = `Usage: npm start -- [--port P] [--replicas N] [--run-dir DIR] [--db NAME]... [--watch] [--no-restart]

Runs the HA layout on 127.0.0.1: HAProxy in front, two relays (ours) that write every point to
every replica, and N real influxd (Debian's influxdb). A process that exits on its own is started
again, as systemd and Kubernetes do. Ctrl-C stops everything, start-up included (from another
terminal: kill $(cat DIR/local.lock)); the data stays in the run dir for the next start.

Flags:
  --port P        client port P (default ${P}); the other ports follow from it
  --replicas N    number of influxd replicas, at least ${MIN_REPLICAS} (default ${DEFAULT_REPLICAS})
  --run-dir DIR   where every process keeps its config, data and log (default: .run in the project)
  --db NAME       database created on every replica; repeatable (default ${DEFAULT_DATABASES.join(", ")}).
                  The first one receives the UDP writes.
  --watch         restart the relays, one at a time, when a file under relay/ changes
  --no-restart    leave a replica, relay or HAProxy that exits on its own down and only report it (fault
                  tests, debugging). Without it, it is started again after 1 s, then 2, 4... up to 30 s
                  while it keeps failing
  --help          print this help and exit

Ports (all on 127.0.0.1):
  P               HAProxy: write (POST /write) and query (/query) here
  P+${stats}             HAProxy stats page and Prometheus /metrics (user admin, password in DIR/haproxy/stats-password)
  P+${relayUdp}+${relayStride}*j        relay j (0-based): UDP (HAProxy does not carry UDP; send to either relay)
  P+${relayHttp}+${relayStride}*j       relay j: HTTP
  P+${replicaBase + replicaHttp}+${replicaStride}*i      influxd replica i (0-based): HTTP
  P+${replicaBase + replicaRpc}+${replicaStride}*i      influxd replica i: RPC (backup/restore)
  P+${replicaBase + replicaUdp}+${replicaStride}*i      influxd replica i: UDP
  With the defaults: HAProxy ${P} and stats ${P + stats}; relays ${P + relayHttp} and ${P + relayHttp + relayStride}, UDP ${P + relayUdp} and ${P + relayUdp + relayStride}; influxd-0 ${P + replicaBase + replicaHttp}, ${P + replicaBase + replicaRpc}, ${P + replicaBase + replicaUdp}/udp; influxd-1 ${P + replicaBase + replicaStride + replicaHttp}, ${P + replicaBase + replicaStride + replicaRpc}, ${P + replicaBase + replicaStride + replicaUdp}/udp.

Run dir: influxd-<i>/ (influxd.conf, meta, data, wal, influxd.log), relay-<j>/ (relay.toml, spool, relay.log),
haproxy/ (haproxy.cfg, stats-password, haproxy.log), relay-admin-token, local.lock. The stats password and
relay-admin-token (the Bearer token of the relays' POST /admin/flush and /admin/mark-in-sync, also in each
relay.toml) are made up on the first start and kept, mode 0600, as are haproxy.cfg and relay.toml.`;

export function parseLocalArgs(argv: readonly string[], context: CliContext): LocalCommand {
  let port: number | undefined;
  let replicas: number | undefined;
  let runDir: string | undefined;
  let watch = false;
  let restart = true;
  const databases: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const name = match?.[1];
    if (name === "help" || arg === "-h") return { help: true };
    const value = (): string => {
      const v = match?.[2] ?? argv[++i];
      if (v === undefined || v === "") throw new CliError(`--${name} needs a value`);
      return v;
    };
    if (name === "port") port = once(port, "--port", wholeNumber("--port", value()));
    else if (name === "replicas") replicas = once(replicas, "--replicas", wholeNumber("--replicas", value()));
    else if (name === "run-dir") runDir = once(runDir, "--run-dir", value());
    else if (name === "db") databases.push(value());
    else if (name === "watch") watch = switchOn(name, match?.[2]);
    else if (name === "no-restart") restart = !switchOn(name, match?.[2]);
    else throw new CliError(match ? `unknown flag "--${name}"` : `unexpected argument "${arg}"`);
  }
  return {
    help: false,
    port: port ?? DEFAULT_PORT,
    replicas: replicas ?? DEFAULT_REPLICAS,
    runDir: runDir === undefined ? context.defaultRunDir : resolve(context.cwd, runDir),
    databases: databases.length > 0 ? [...new Set(databases)] : DEFAULT_DATABASES,
    watch,
    restart,
  };
}

/** A flag without a value: true, or a CliError for --flag=value. */
function switchOn(name: string, value: string | undefined): true {
  if (value !== undefined) throw new CliError(`--${name} takes no value`);
  return true;
}

function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new CliError(`${flag} needs a whole number, not "${text}"`);
  return Number(text);
}

function once<T>(previous: T | undefined, flag: string, value: T): T {
  if (previous !== undefined) throw new CliError(`${flag} given twice`);
  return value;
}
