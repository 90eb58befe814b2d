// CPU time a process has used, from /proc/<pid>/stat (Linux only): what a phase cost the relay, beside its memory.
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times: 100 on every Linux the benchmark runs on (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds the process has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields from the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return (user + system) / TICKS_PER_SECOND;
}
