// The relay in this process, in front of real influxd replicas (each an output, influx0, influx1, ...),
// listening on a free loopback port with a fresh spool: what the integration tests put their bodies through.
import { parseConfig } from "../../relay/config.js";
import { startRelay, type RunningRelay } from "../../relay/relay.js";
import { captureLog } from "./capture-log.js";
import type { Influxd } from "./influxd.js";
import { freePort } from "./ports.js";
import { tempDir } from "./temp.js";

export interface RelayOverInfluxd {
  readonly relay: RunningRelay;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
}

/** `listenerKeys`: more lines for the [[http]] block, e.g. 'drift-check-interval = "1s"'. */
export async function startRelayOverInfluxd(replicas: readonly Influxd[], listenerKeys: readonly string[] = []): Promise<RelayOverInfluxd> {
  const port = await freePort();
  const outputs = replicas.map((r, i) => `{ name = "influx${i}", location = "${r.writeUrl}", timeout = "10s" }`);
  const config = parseConfig(
    [`[[http]]`, `bind-addr = "127.0.0.1:${port}"`, `spool-dir = "${tempDir()}"`, ...listenerKeys, `output = [${outputs.join(", ")}]`].join(
      "\n",
    ),
    "relay-over-influxd.toml",
  );
  return { relay: await startRelay(config, captureLog().logger), port, url: `http://127.0.0.1:${port}` };
}
