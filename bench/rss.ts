// Memory of a process under load, from /proc/<pid>/status (Linux only).
import { readFileSync } from "node:fs";

export interface RssStats {
  /** Highest resident set size the process ever reached (VmHWM). */
  peakMiB: number;
  /** Resident set size when sampling stopped (VmRSS). */
  endMiB: number;
  /** Highest VmRSS seen while sampling: the peak of this window alone, unlike VmHWM. */
  sampledPeakMiB: number;
}

export interface RssSampler {
  stop(): RssStats;
}

/**
 * Samples every `intervalMs`. VmHWM is the kernel's own high-water mark, so the
 * peak is exact even between samples; sampling keeps the last value readable
 * should the process die before stop().
 */
export function sampleRss(pid: number, intervalMs = 250): RssSampler {
  let peakKiB = 0;
  let rssKiB = 0;
  let sampledPeakKiB = 0;
  const sample = (): void => {
    const status = readStatus(pid);
    if (!status) return;
    peakKiB = Math.max(peakKiB, status.hwmKiB);
    rssKiB = status.rssKiB;
    sampledPeakKiB = Math.max(sampledPeakKiB, rssKiB);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { peakMiB: toMiB(peakKiB), endMiB: toMiB(rssKiB), sampledPeakMiB: toMiB(sampledPeakKiB) };
    },
  };
}

function readStatus(pid: number): { hwmKiB: number; rssKiB: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined; // process already gone
  }
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(text)?.[1];
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text)?.[1];
  if (hwm === undefined || rss === undefined) return undefined;
  return { hwmKiB: Number(hwm), rssKiB: Number(rss) };
}

function toMiB(kib: number): number {
  return Math.round((kib / 1024) * 10) / 10;
}
