// Fresh directories under the OS temp dir, one per call, so tests never share a spool or a data dir.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(prefix = "influx-ha-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
