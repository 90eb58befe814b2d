// The relay's app (buildApp, not listening) over scripted backends, one output per backend (out1, out2, ...),
// with a fresh spool and a log the test reads back: the setup the unit tests of the write, query and admin
// paths share. useRelayApps closes what it started after each test.
import type { FastifyInstance } from "fastify";
import { afterEach } from "vitest";
import { buildApp } from "../../relay/app.js";
import { parseConfig } from "../../relay/config.js";
import { captureLog, type CapturedLog } from "./capture-log.js";
import { startScriptedBackend, type ScriptedBackend } from "./scripted-backend.js";
import { tempDir } from "./temp.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface RelayApp {
  readonly app: FastifyInstance;
  readonly log: CapturedLog;
  readonly spoolDir: string;
}

export interface RelayAppOptions {
  /** More lines for the [[http]] block, e.g. 'ack = "all"'. */
  readonly listener?: string;
  /** More keys for the outputs: a string for every output, or keys by output name (out2) for those only. */
  readonly output?: string | Readonly<Record<string, string>>;
  /** The spool of an earlier relay, to restart over what it left; a fresh directory by default. */
  readonly spoolDir?: string;
  /** Whether the [[http]] block sets admin-token = ADMIN_TOKEN; it does by default. */
  readonly adminToken?: boolean;
  /** Each output's timeout; "2s" by default. */
  readonly timeout?: string;
  /** Each output's max-delay-interval, the longest wait between replay tries; "1s" by default. */
  readonly maxDelayInterval?: string;
}

export interface RelayApps {
  /** A relay with one output per backend; `opts` over the file's defaults given to useRelayApps. */
  relayOver(backends: readonly ScriptedBackend[], opts?: RelayAppOptions): Promise<RelayApp>;
  /** `count` scripted backends, each answering `replyFor(its index)`, or 204 to everything. */
  backends(count: number, replyFor?: (index: number) => ScriptedBackend["reply"]): Promise<ScriptedBackend[]>;
  /** Runs `step` after this test. Steps run last registered first, so an app closes before the backends it was built over. */
  onCleanup(step: () => Promise<unknown>): void;
}

/** Call at the top of a test file: it registers the afterEach that closes every app and backend made through it. */
export function useRelayApps(defaults: RelayAppOptions = {}): RelayApps {
  let cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    const steps = cleanup.reverse();
    cleanup = [];
    for (const step of steps) await step();
  });
  const onCleanup = (step: () => Promise<unknown>) => void cleanup.push(step);

  async function relayOver(backends: readonly ScriptedBackend[], opts: RelayAppOptions = {}): Promise<RelayApp> {
    const { listener, output, spoolDir = tempDir(), adminToken = true, timeout = "2s", maxDelayInterval = "1s" } = { ...defaults, ...opts };
    const outputs = backends.map((b, i) => {
      const name = `out${i + 1}`;
      const extra = typeof output === "string" ? output : output?.[name];
      return `{ name = "${name}", location = "${b.writeUrl}", timeout = "${timeout}", max-delay-interval = "${maxDelayInterval}"${extra ? `, ${extra}` : ""} }`;
    });
    const lines = [
      "[[http]]",
      'bind-addr = "127.0.0.1:9096"',
      `spool-dir = "${spoolDir}"`,
      ...(adminToken ? [`admin-token = "${ADMIN_TOKEN}"`] : []),
      ...(listener ? [listener] : []),
      `output = [${outputs.join(", ")}]`,
    ];
    const config = parseConfig(lines.join("\n"), "relay-app.toml");
    const log = captureLog();
    const app = await buildApp({ listener: config.http[0]!, logger: log.logger });
    onCleanup(() => app.close());
    return { app, log, spoolDir };
  }

  async function backends(count: number, replyFor?: (index: number) => ScriptedBackend["reply"]): Promise<ScriptedBackend[]> {
    const started = await Promise.all(Array.from({ length: count }, (_, i) => startScriptedBackend(replyFor?.(i))));
    onCleanup(() => Promise.all(started.map((b) => b.close())));
    return started;
  }

  return { relayOver, backends, onCleanup };
}
