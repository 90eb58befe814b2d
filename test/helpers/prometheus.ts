// Debian's prometheus for the tests: started on a free loopback port with a config written to a temp dir
// and its TSDB there too (never the packaged service), waited for until /-/ready answers, queried through
// its HTTP API, and stopped and removed afterwards.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { stringify } from "yaml";
import { ServiceProcess } from "../../local/service-process.js";
import { findBinary, type Tool } from "../../local/tools.js";
import { freePort } from "./ports.js";
import { tempDir } from "./temp.js";

/** /usr/bin/prometheus and /usr/bin/promtool. */
export const PROMETHEUS: Tool = { binary: "prometheus", aptPackage: "prometheus" };
export const PROMTOOL: Tool = { binary: "promtool", aptPackage: "prometheus" };

/** A sample of an instant vector, or one series of a range query: its labels, and its values as Prometheus prints them. */
export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: Array<[number, string]>;
}

export class RunningPrometheus {
  /** http://127.0.0.1:PORT */
  readonly url: string;

  constructor(
    port: number,
    private readonly service: ServiceProcess,
    readonly dir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** GET /api/v1/<path>: `data` of a success; a failure throws with Prometheus's errorType and error (bad_data: a parse error). */
  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const res = await request(`${this.url}/api/v1/${path}?${new URLSearchParams(params)}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = (await res.body.json()) as { status: string; data?: T; errorType?: string; error?: string };
    if (body.status !== "success") {
      throw new Error(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    }
    return body.data as T;
  }

  /** An instant query at `time` (seconds; now when absent): its vector, or a scalar as one unlabelled sample. */
  async query(expr: string, time?: number): Promise<PromSeries[]> {
    const data = await this.api<{ resultType: string; result: unknown }>("query", {
      query: expr,
      ...(time === undefined ? {} : { time: String(time) }),
    });
    if (data.resultType === "scalar") return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as PromSeries[];
  }

  /** A range query from `start` to `end` (seconds), one point per `step` seconds. */
  async queryRange(expr: string, start: number, end: number, step: number): Promise<PromSeries[]> {
    const data = await this.api<{ result: PromSeries[] }>("query_range", {
      query: expr,
      start: String(start),
      end: String(end),
      step: String(step),
    });
    return data.result;
  }

  stop(): Promise<void> {
    return this.service.stop().finally(() => rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 }));
  }
}

/** Starts prometheus with `config` (written as prometheus.yml), its TSDB and log in a fresh temp dir. */
export async function startPrometheus(config: Record<string, unknown>): Promise<RunningPrometheus> {
  const binary = findBinary(PROMETHEUS.binary);
  if (binary === undefined) throw new Error(`prometheus not found: install it with "sudo apt-get install -y ${PROMETHEUS.aptPackage}"`);
  const dir = tempDir("influx-ha-prometheus-");
  const configPath = join(dir, "prometheus.yml");
  writeFileSync(configPath, stringify(config));
  const port = await freePort();
  const service = new ServiceProcess({
    what: "prometheus",
    command: binary,
    args: [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Debian's defaults point at /etc/prometheus; nothing here is read from there.
      `--web.console.templates=${dir}`,
      `--web.console.libraries=${dir}`,
    ],
    cwd: dir,
    logPath: join(dir, "prometheus.log"),
    isReady: async (agent) => {
      const res = await request(`http://127.0.0.1:${port}/-/ready`, { dispatcher: agent, headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.dump();
      return res.statusCode === 200;
    },
    readyTimeoutMs: 30_000,
    stopSignal: "SIGTERM",
    termGraceMs: 10_000,
  });
  try {
    await service.start();
  } catch (err) {
    await service.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
  return new RunningPrometheus(port, service, dir);
}
