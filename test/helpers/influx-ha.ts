// Runs `influx-ha check|repair` in the test's own process, as its command line would: exit status and output.
import { runDrift } from "../../drift/run.js";

export interface InfluxHaResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function influxHa(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<InfluxHaResult> {
  let out = "";
  let err = "";
  const code = await runDrift(args, env, process.cwd(), {
    out: (text) => (out += text),
    err: { write: (text: string) => (err += text) },
  });
  return { code, out, err };
}
