// Our relay (relay/main.ts) as a child of the local layout, started the way an operator starts it: -config FILE.
import { fileURLToPath } from "node:url";
import { request } from "undici";
import type { ExitInfo } from "./child.js";
import { ServiceProcess } from "./service-process.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ENTRY = fileURLToPath(new URL("../relay/main.ts", import.meta.url));

export interface RelayProcessOptions {
  readonly name: string;
  readonly configPath: string;
  readonly logPath: string;
  /** http://127.0.0.1:PORT of its HTTP listener, for /ping. */
  readonly url: string;
  readonly detached?: boolean;
  readonly onUnexpectedExit?: (info: ExitInfo) => void;
}

export function relayProcess(opts: RelayProcessOptions): ServiceProcess {
  return new ServiceProcess({
    what: opts.name,
    // `--import tsx` is resolved from the working directory: the project root, where tsx is installed.
    command: process.execPath,
    args: ["--import", "tsx", ENTRY, "-config", opts.configPath],
    cwd: ROOT,
    logPath: opts.logPath,
    isReady: async (agent) => {
      const res = await request(`${opts.url}/ping`, { dispatcher: agent, headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      return res.statusCode === 204;
    },
    readyTimeoutMs: 20_000,
    stopSignal: "SIGTERM",
    // The relay itself gives requests in flight shutdown-timeout (10 s by default) after SIGTERM.
    termGraceMs: 15_000,
    detached: opts.detached,
    onUnexpectedExit: opts.onUnexpectedExit,
  });
}
