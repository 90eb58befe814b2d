// Reading the log files our children write: what appeared since an offset, and the tail for error messages.
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The file's text from byte `offset` to its end; "" when it cannot be read. */
export function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - offset));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The last `maxBytes` of the file under a header naming it, for error messages. */
export function logTail(file: string, maxBytes = 4_000): string {
  const tail = readFrom(file, Math.max(0, fileSize(file) - maxBytes));
  return `--- tail of ${file} ---\n${tail}`;
}
