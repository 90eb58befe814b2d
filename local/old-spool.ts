// Run dirs from before HAProxy joined the local layout had one relay, queueing in relay/spool/.
// relay-0 takes that queue over (same output names), so nothing it still holds is lost.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";

/** Moves <runDir>/relay/spool to `spoolDir` when only the old one exists; true when it did. */
export function adoptSingleRelaySpool(runDir: string, spoolDir: string): boolean {
  const old = join(runDir, "relay", "spool");
  if (!existsSync(old) || existsSync(spoolDir)) return false;
  mkdirSync(dirname(spoolDir), { recursive: true });
  renameSync(old, spoolDir);
  return true;
}
