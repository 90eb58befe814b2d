#!/usr/bin/env -S node --max-old-space-size=128
// Process entry of `influx-ha check|repair` (run.ts does the work). The heap cap (here and in the npm
// scripts) keeps the tool's memory flat: what it holds at once is bounded (a chunk, a few batches, a merge
// of MERGE_LIMIT values), but V8 would otherwise let garbage grow the heap to 250 MB on a long copy.
import { exitWhenDone } from "../relay/exit.js";
import { runDrift } from "./run.js";

// A reader that stops early (| head) closes the pipe: that ends the output, not in a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

exitWhenDone(
  runDrift(process.argv.slice(2), process.env, process.cwd(), { out: (text) => process.stdout.write(text), err: process.stderr }),
  (err) => {
    console.error("influx-ha: unexpected error:", err);
    return 2;
  },
);
