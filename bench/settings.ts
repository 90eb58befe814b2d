// The settings every benchmark entry point reads from the environment: how long a phase measures, and which
// relay it runs. BENCH_SECONDS and BENCH_RELAY_CMD are described in bench/relay-bench.ts.

export function benchSeconds(env: NodeJS.ProcessEnv): number {
  const raw = env.BENCH_SECONDS;
  if (raw === undefined || raw === "") return 10;
  const seconds = Number(raw);
  if (!(seconds > 0 && seconds <= 3600)) throw new Error(`BENCH_SECONDS must be a number of seconds in (0, 3600], got ${raw}`);
  return seconds;
}

export function relayCommand(env: NodeJS.ProcessEnv): string[] {
  const parts = (env.BENCH_RELAY_CMD ?? "").split(" ").filter((p) => p !== "");
  return parts.length > 0 ? parts : [process.execPath, "--import", "tsx", "relay/main.ts"];
}
