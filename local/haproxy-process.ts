// Debian's haproxy as a child of the local layout, in the foreground (-db) so its log goes to our log file.
import { request, type Dispatcher } from "undici";
import { parseStatsCsv, type ServerState } from "../haproxy/stats-csv.js";
import type { StatsAuth } from "../topology/model.js";
import type { ExitInfo } from "./child.js";
import { ServiceProcess } from "./service-process.js";
import { HAPROXY, findBinary } from "./tools.js";

export interface HaproxyProcessOptions {
  readonly configPath: string;
  readonly logPath: string;
  readonly cwd: string;
  /** http://127.0.0.1:STATS_PORT/ */
  readonly statsUrl: string;
  readonly auth: StatsAuth;
  readonly detached?: boolean;
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

export function haproxyProcess(opts: HaproxyProcessOptions): ServiceProcess {
  const binary = findBinary(HAPROXY.binary);
  if (binary === undefined) throw new Error(`haproxy not found: install it with "sudo apt-get install -y ${HAPROXY.aptPackage}"`);
  return new ServiceProcess({
    what: "haproxy",
    command: binary,
    args: ["-db", "-f", opts.configPath],
    cwd: opts.cwd,
    logPath: opts.logPath,
    isReady: async (agent) => {
      await fetchServerStates(opts.statsUrl, opts.auth, agent);
      return true;
    },
    readyTimeoutMs: 10_000,
    // A soft stop: no new connections, the requests in flight finish.
    stopSignal: "SIGUSR1",
    termGraceMs: 10_000,
    detached: opts.detached,
    onUnexpectedExit: opts.onUnexpectedExit,
  });
}

/** Each server's state from the stats page's CSV export. */
export async function fetchServerStates(statsUrl: string, auth: StatsAuth, dispatcher?: Dispatcher): Promise<ServerState[]> {
  const res = await request(`${statsUrl};csv`, {
    dispatcher,
    headers: { authorization: basicAuth(auth) },
    headersTimeout: 2_000,
    bodyTimeout: 2_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HAProxy stats answered ${res.statusCode}: ${text.slice(0, 200)}`);
  return parseStatsCsv(text);
}

export function basicAuth({ user, password }: StatsAuth): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}
