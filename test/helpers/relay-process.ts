// The relay as its own process, started the way an operator starts it: the CLI entry with -config.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { waitFor } from "./ports.js";
import { tempDir } from "./temp.js";

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code, or the signal name when killed. */
  readonly exited: Promise<number | string>;
}

/** node's arguments before the relay's own: the TypeScript entry through tsx, or a bundle's path. */
const FROM_SOURCES = ["--import", "tsx", new URL("../../relay/main.ts", import.meta.url).pathname] as const;

/** Writes a config file into a fresh temp dir and returns its path. */
export function writeConfig(text: string): string {
  const file = join(tempDir("relay-test-"), "relay.toml");
  writeFileSync(file, text);
  return file;
}

export function spawnRelay(args: readonly string[], entry: readonly string[] = FROM_SOURCES): RelayProcess {
  const child = spawn(process.execPath, [...entry, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  process.once("exit", () => child.kill("SIGKILL"));
  return { child, output: () => output, exited };
}

/** Starts the relay (from the sources, or `entry`) and waits until /ping answers on `httpPort`. */
export async function startRelayProcess(
  configFile: string,
  httpPort: number,
  entry: readonly string[] = FROM_SOURCES,
): Promise<RelayProcess> {
  const relay = spawnRelay(["-config", configFile], entry);
  let exitedEarly = false;
  void relay.exited.then(() => (exitedEarly = true));
  await waitFor(
    async () => {
      if (exitedEarly) throw new Error(`relay exited before it was ready:\n${relay.output()}`);
      try {
        const res = await request(`http://127.0.0.1:${httpPort}/ping`);
        await res.body.dump();
        return res.statusCode === 204;
      } catch {
        return false;
      }
    },
    { timeoutMs: 20_000, intervalMs: 50, what: "the relay's /ping" },
  );
  return relay;
}

/** Waits for the process to exit, killing it when it overstays `timeoutMs`. */
export async function exitOf(relay: RelayProcess, timeoutMs = 20_000): Promise<number | string> {
  const timer = setTimeout(() => relay.child.kill("SIGKILL"), timeoutMs);
  try {
    return await relay.exited;
  } finally {
    clearTimeout(timer);
  }
}
