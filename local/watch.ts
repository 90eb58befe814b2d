// --watch: calls back when a TypeScript file under a directory changes, once per burst of changes
// (an editor's save, a git checkout), so the relays restart once per edit.
import { watch } from "node:fs";

const QUIET_MS = 300;

export function watchSources(dir: string, onChange: (files: readonly string[]) => void): { close(): void } {
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, { recursive: true }, (_event, file) => {
    if (file === null || !file.endsWith(".ts")) return;
    changed.add(file);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const files = [...changed].sort();
      changed.clear();
      onChange(files);
    }, QUIET_MS);
  });
  return {
    close(): void {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
