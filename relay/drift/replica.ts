// One replica as the drift tools see it: InfluxQL over /query and line protocol over /write, through one
// undici Pool. Data comes back as msgpack, chunked: it keeps int64 times and values exact (JSON would round
// them past 2^53) and a bucket of any size streams through in bounded memory.
import { decodeMultiStream } from "@msgpack/msgpack";
import { Pool } from "undici";
import { backendPaths } from "../output.js";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** INFLUX_USERNAME and INFLUX_PASSWORD, as the influx CLI reads them: both or neither. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): Credentials | undefined {
  const { INFLUX_USERNAME: username, INFLUX_PASSWORD: password } = env;
  if (username === undefined && password === undefined) return undefined;
  if (!username || password === undefined) throw new CredentialsError("set both INFLUX_USERNAME and INFLUX_PASSWORD, or neither");
  return { username, password };
}

export class CredentialsError extends Error {
  override readonly name = "CredentialsError";
}

export interface ReplicaAddress {
  /** The replica's name in the relays' config (influxd-1), or its URL when it was given bare. */
  readonly name: string;
  /** Base URL: http://host:8086 */
  readonly url: string;
}

/** An output's location is its replica's /write URL; the replica's base URL is the rest. */
export function replicaBaseUrl(location: string): string {
  const url = new URL(location);
  url.pathname = backendPaths(url.pathname).prefix;
  url.search = "";
  return url.href.replace(/\/+$/, "");
}

/** A series of one statement's answer, as influxd sends it with GROUP BY. */
export interface Series {
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly columns: readonly string[];
  readonly values: readonly (readonly unknown[])[];
}

/** A series' rows as objects keyed by column. */
export function rowsOf(series: readonly Series[]): Array<Record<string, unknown>> {
  return series.flatMap((s) => s.values.map((values) => Object.fromEntries(s.columns.map((column, i) => [column, values[i]]))));
}

/** The replica did not answer, or answered with an error that is not "nothing there". */
export class ReplicaError extends Error {
  override readonly name = "ReplicaError";
}

/** A write the replica refused; `status` tells a bad point (4xx) from a replica in trouble. */
export class WriteRefused extends ReplicaError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** influxd's answers for a database or retention policy that one replica lacks: it holds no points there. */
const NOTHING_THERE = /^(database not found|retention policy not found)/;
/** Rows per chunk influxd sends: big enough to amortise a chunk, small enough to bound one decode. */
const CHUNK_SIZE = 10_000;

export class Replica {
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;

  constructor(
    readonly address: ReplicaAddress,
    credentials: Credentials | undefined,
    private readonly timeoutMs: number,
  ) {
    this.pool = new Pool(address.url, { connections: 4 });
    this.headers = credentials
      ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}` }
      : {};
  }

  get name(): string {
    return this.address.name;
  }

  /** Statements whose answers are small (SHOW ...): every statement's series, by statement. */
  async show(q: string, database?: string): Promise<Series[][]> {
    const results: Series[][] = [];
    for await (const result of this.results(q, database, false)) {
      if (result.error !== undefined) throw new ReplicaError(`${this.name}: ${q}: ${result.error}`);
      (results[result.statementId] ??= []).push(...result.series);
    }
    return results;
  }

  /**
   * The series of one SELECT, chunk by chunk; empty where the replica lacks the database or retention
   * policy, since it then holds none of those points.
   */
  async *select(q: string, database: string): AsyncGenerator<Series> {
    for await (const result of this.results(q, database, true)) {
      if (result.error !== undefined) {
        if (NOTHING_THERE.test(result.error)) return;
        throw new ReplicaError(`${this.name}: ${q}: ${result.error}`);
      }
      yield* result.series;
    }
  }

  /** Writes line protocol at nanosecond precision; resolves on 204. */
  async write(database: string, retentionPolicy: string, body: string): Promise<void> {
    const query = new URLSearchParams({ db: database, rp: retentionPolicy, precision: "ns" });
    const response = await this.request({ method: "POST", path: `/write?${query}`, body, headers: this.headers });
    const text = await response.body.text();
    if (response.statusCode !== 204) {
      throw new WriteRefused(
        response.statusCode,
        `${this.name} refused a write to ${database}.${retentionPolicy}: ${response.statusCode} ${errorOf(text)}`,
      );
    }
  }

  /** Runs one statement that changes the schema (CREATE DATABASE ...). */
  async execute(statement: string, database?: string): Promise<void> {
    await this.show(statement, database);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async *results(q: string, database: string | undefined, chunked: boolean): AsyncGenerator<StatementResult> {
    const params = new URLSearchParams({ q, epoch: "ns", ...(database === undefined ? {} : { db: database }) });
    if (chunked) (params.set("chunked", "true"), params.set("chunk_size", String(CHUNK_SIZE)));
    const response = await this.request({
      method: "POST",
      path: "/query",
      body: params.toString(),
      headers: { ...this.headers, accept: "application/x-msgpack", "content-type": "application/x-www-form-urlencoded" },
    });
    if (response.statusCode !== 200 && !response.headers["content-type"]?.includes("msgpack")) {
      throw new ReplicaError(`${this.name}: ${q}: HTTP ${response.statusCode} ${errorOf(await response.body.text())}`);
    }
    try {
      for await (const message of decodeMultiStream<undefined>(response.body, { useBigInt64: true })) {
        const answer = message as { error?: string; results?: Array<{ statement_id?: number; error?: string; series?: Series[] }> };
        if (answer.error !== undefined) throw new ReplicaError(`${this.name}: ${q}: ${answer.error}`);
        for (const result of answer.results ?? []) {
          yield { statementId: Number(result.statement_id ?? 0), error: result.error, series: result.series ?? [] };
        }
      }
    } finally {
      // A consumer that stops early must not leave the answer half read on the connection.
      if (!response.body.readableEnded) response.body.destroy();
    }
  }

  private async request(options: Parameters<Pool["request"]>[0]): ReturnType<Pool["request"]> {
    try {
      return await this.pool.request({ ...options, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    } catch (err) {
      throw new ReplicaError(`${this.name} (${this.address.url}) does not answer: ${(err as Error).message}`);
    }
  }
}

interface StatementResult {
  readonly statementId: number;
  readonly error: string | undefined;
  readonly series: readonly Series[];
}

/** The error text of an InfluxDB-style JSON answer, or the text itself. */
export function errorOf(text: string): string {
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    return text.trim();
  }
}
