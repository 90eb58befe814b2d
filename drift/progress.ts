// A progress bar on stderr while a step runs, redrawn at most ten times a second, and only on a terminal:
// piped or in CI, the tools print their result and nothing else.

export interface Progress {
  /** A new step of `total` units. */
  start(label: string, total: number): void;
  advance(units: number, detail?: string): void;
  done(): void;
}

const SILENT: Progress = { start() {}, advance() {}, done() {} };

const WIDTH = 30;
const REDRAW_MS = 100;

export function terminalProgress(stream: { write(text: string): unknown; readonly isTTY?: boolean }): Progress {
  if (!stream.isTTY) return SILENT;
  let label = "";
  let total = 0;
  let doneUnits = 0;
  let detail = "";
  let drawnAt = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - drawnAt < REDRAW_MS) return;
    drawnAt = now;
    const share = total > 0 ? Math.min(1, doneUnits / total) : 0;
    const filled = Math.round(share * WIDTH);
    stream.write(`\r\x1b[K${label} [${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${Math.round(share * 100)}% ${detail}`);
  };
  return {
    start(newLabel, newTotal) {
      label = newLabel;
      total = newTotal;
      doneUnits = 0;
      detail = "";
      draw(true);
    },
    advance(units, newDetail) {
      doneUnits += units;
      if (newDetail !== undefined) detail = newDetail;
      draw(false);
    },
    done() {
      stream.write("\r\x1b[K");
    },
  };
}
