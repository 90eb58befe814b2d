// Line protocol validation and timestamping, done by scanning bytes: no strings are built on the
// hot path, and a body whose lines all carry a timestamp goes out as the very Buffer that came in.
// The grammar and the error wording follow InfluxDB 1.x's models.ParsePoints.

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** Bytes that end a measurement name (which may contain an unescaped '='). */
const MEASUREMENT_STOP = byteSet(",\\ \n");
/** Bytes that end a tag key, tag value or field key. */
const NAME_STOP = byteSet(",=\\ \n");
/** Bytes that may follow a field value. */
const VALUE_END = byteSet(", \t\r\n");
const DIGIT = byteSet("0123456789");

const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";
const UINT64_MAX = "18446744073709551615";
const BOOLEANS = ["t", "T", "f", "F", "true", "True", "TRUE", "false", "False", "FALSE"].map((w) => Buffer.from(w));

/** A line that failed validation. */
export interface LineFault {
  /** 1-based line number in the body. */
  readonly line: number;
  readonly reason: string;
  /** The line's text, cut to a readable length. */
  readonly text: string;
}

/** What scanLine learned about one line; reused across lines so the scan allocates nothing. */
interface LineState {
  /** Index of the line's '\n', or the body's length. */
  end: number;
  /** First byte of the point, after leading whitespace. */
  start: number;
  /** Just past the last field value: where a missing timestamp goes. */
  fieldsEnd: number;
  kind: LineKind;
  /** Newlines inside quoted field values, so line numbers match what an editor shows. */
  innerNewlines: number;
  reason: string;
}

const enum LineKind {
  Skip,
  Stamped,
  Unstamped,
  Fault,
}

export function formatFault(fault: LineFault): string {
  return `unable to parse line ${fault.line} '${fault.text}': ${fault.reason}`;
}

/**
 * Validates every line of a body and gives lines without a timestamp the one `timestamp()` returns
 * (called at most once). Returns the first fault, or the body to send: the same Buffer when no line
 * needed a timestamp.
 */
export function validateBody(body: Buffer, timestamp: () => Buffer): { body: Buffer; points: number } | LineFault {
  const state = newLineState();
  let unstamped: number[] | undefined;
  let points = 0;
  let line = 1;
  for (let pos = 0; pos < body.length; pos = state.end + 1) {
    scanLine(body, pos, state);
    if (state.kind === LineKind.Fault) return fault(body, pos, state, line);
    if (state.kind !== LineKind.Skip) points++;
    if (state.kind === LineKind.Unstamped) (unstamped ??= []).push(state.fieldsEnd);
    line += 1 + state.innerNewlines;
  }
  return { body: unstamped ? insertTimestamps(body, unstamped, timestamp()) : body, points };
}

/**
 * Walks a body line by line, for UDP where each line stands alone: good lines are handed to `onPoint`
 * (timestamped when they had none), bad ones to `onFault`.
 */
export function forEachPoint(
  body: Buffer,
  timestamp: () => Buffer,
  onPoint: (point: Buffer) => void,
  onFault: (fault: LineFault) => void,
): void {
  const state = newLineState();
  let stamp: Buffer | undefined;
  let line = 1;
  for (let pos = 0; pos < body.length; pos = state.end + 1) {
    scanLine(body, pos, state);
    if (state.kind === LineKind.Fault) onFault(fault(body, pos, state, line));
    else if (state.kind === LineKind.Stamped) onPoint(body.subarray(state.start, trimEnd(body, state.start, state.end)));
    else if (state.kind === LineKind.Unstamped) {
      stamp ??= timestamp();
      const point = body.subarray(state.start, state.fieldsEnd);
      onPoint(Buffer.concat([point, SPACE_BUFFER, stamp], point.length + 1 + stamp.length));
    }
    line += 1 + state.innerNewlines;
  }
}

const SPACE_BUFFER = Buffer.from(" ");

function newLineState(): LineState {
  return { end: 0, start: 0, fieldsEnd: 0, kind: LineKind.Skip, innerNewlines: 0, reason: "" };
}

function fault(body: Buffer, pos: number, state: LineState, line: number): LineFault {
  const end = trimEnd(body, pos, state.end);
  const cut = Math.min(end, state.start + 200);
  const text = body.toString("utf8", state.start, cut) + (cut < end ? "…" : "");
  return { line, reason: state.reason, text };
}

function trimEnd(body: Buffer, start: number, end: number): number {
  while (end > start && (body[end - 1] === SPACE || body[end - 1] === TAB || body[end - 1] === CR)) end--;
  return end;
}

function insertTimestamps(body: Buffer, positions: readonly number[], stamp: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length + positions.length * (stamp.length + 1));
  let from = 0;
  let to = 0;
  for (const at of positions) {
    to += body.copy(out, to, from, at);
    out[to++] = SPACE;
    to += stamp.copy(out, to);
    from = at;
  }
  body.copy(out, to, from);
  return out;
}

/** Scans the line starting at `pos` and records what it found in `s`. */
function scanLine(buf: Buffer, pos: number, s: LineState): void {
  const n = buf.length;
  s.innerNewlines = 0;
  let i = pos;
  while (i < n && (buf[i] === SPACE || buf[i] === TAB || buf[i] === CR)) i++;
  s.start = i;
  if (i >= n || buf[i] === NL || buf[i] === HASH) return skipLine(buf, i, s);

  if (buf[i] === COMMA) return fail(buf, i, s, "missing measurement");
  i = skipName(buf, i, n, MEASUREMENT_STOP);
  if (i >= n || buf[i] === NL) return fail(buf, i, s, "missing fields");

  while (buf[i] === COMMA) {
    const keyStart = ++i;
    i = skipName(buf, i, n, NAME_STOP);
    if (i === keyStart) return fail(buf, i, s, "missing tag key");
    if (buf[i] !== EQUALS) return fail(buf, i, s, "missing tag value");
    const valueStart = ++i;
    i = skipName(buf, i, n, NAME_STOP);
    if (i === valueStart) return fail(buf, i, s, "missing tag value");
    if (buf[i] === EQUALS) return fail(buf, i, s, "invalid tag format");
  }
  if (buf[i] !== SPACE) return fail(buf, i, s, "missing fields");

  while (i < n && (buf[i] === SPACE || buf[i] === TAB)) i++;
  if (i >= n || buf[i] === NL || buf[i] === CR) return fail(buf, i, s, "missing fields");
  for (;;) {
    const keyStart = i;
    i = skipName(buf, i, n, NAME_STOP);
    if (i === keyStart) return fail(buf, i, s, "missing field key");
    if (buf[i] !== EQUALS) return fail(buf, i, s, "missing field value");
    const valueStart = ++i;
    const c = i < n ? buf[i]! : NL;
    if (c === QUOTE) i = skipString(buf, i, s);
    else if (DIGIT[c] === 1 || c === MINUS || c === DOT) i = skipNumber(buf, i, n);
    else if (c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46) i = skipBoolean(buf, i, n);
    else return fail(buf, i, s, VALUE_END[c] === 1 ? "missing field value" : "invalid field format");
    // An unbalanced quote runs to the end of the body, as it does in InfluxDB.
    if (i < 0) return fail(buf, i === BAD_STRING ? n : valueStart, s, errorOfValue(i, c));
    if (i < n && VALUE_END[buf[i]!] === 0) return fail(buf, i, s, "invalid field format");
    if (buf[i] !== COMMA) break;
    i++;
  }
  s.fieldsEnd = i;

  while (i < n && (buf[i] === SPACE || buf[i] === TAB)) i++;
  if (atLineEnd(buf, i, n)) {
    s.kind = LineKind.Unstamped;
    return endLine(buf, i, s);
  }
  i = skipTimestamp(buf, i, n);
  if (i < 0) return fail(buf, pos, s, "bad timestamp");
  while (i < n && (buf[i] === SPACE || buf[i] === TAB)) i++;
  if (!atLineEnd(buf, i, n)) return fail(buf, i, s, "bad timestamp");
  s.kind = LineKind.Stamped;
  endLine(buf, i, s);
}

function atLineEnd(buf: Buffer, i: number, n: number): boolean {
  return i >= n || buf[i] === NL || (buf[i] === CR && (i + 1 >= n || buf[i + 1] === NL));
}

function endLine(buf: Buffer, i: number, s: LineState): void {
  s.end = i < buf.length && buf[i] === CR ? i + 1 : i;
}

function skipLine(buf: Buffer, i: number, s: LineState): void {
  const end = buf.indexOf(NL, i);
  s.end = end < 0 ? buf.length : end;
  s.kind = LineKind.Skip;
}

function fail(buf: Buffer, i: number, s: LineState, reason: string): void {
  s.reason = reason;
  s.kind = LineKind.Fault;
  const end = i < buf.length && buf[i] === NL ? i : buf.indexOf(NL, i);
  s.end = end < 0 ? buf.length : end;
}

/** Skips a name up to an unescaped byte of `stop`. A backslash escapes the next byte, but never a newline. */
function skipName(buf: Buffer, i: number, n: number, stop: Uint8Array): number {
  while (i < n) {
    const c = buf[i]!;
    if (stop[c] === 0) i++;
    else if (c === BACKSLASH) i += i + 1 < n && buf[i + 1] !== NL ? 2 : 1;
    else return i;
  }
  return i;
}

// Value scanners return the index after the value, or one of these negative codes.
const BAD_STRING = -1;
const BAD_NUMBER = -2;
const OUT_OF_RANGE = -3;
const BAD_BOOLEAN = -4;

function errorOfValue(code: number, first: number): string {
  if (code === BAD_STRING) return "unbalanced quotes";
  if (code === OUT_OF_RANGE) return "value out of range";
  if (code === BAD_BOOLEAN) return "invalid boolean";
  return first === MINUS || first === DOT || DIGIT[first] === 1 ? "invalid number" : "invalid field format";
}

function skipString(buf: Buffer, i: number, s: LineState): number {
  const n = buf.length;
  for (i++; i < n; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
    else if (c === NL) s.innerNewlines++;
  }
  return BAD_STRING;
}

function skipNumber(buf: Buffer, i: number, n: number): number {
  const negative = buf[i] === MINUS;
  if (negative) i++;
  const intStart = i;
  while (i < n && DIGIT[buf[i]!] === 1) i++;
  const intEnd = i;
  let digits = intEnd - intStart;
  let isFloat = false;
  if (buf[i] === DOT) {
    isFloat = true;
    const fracStart = ++i;
    while (i < n && DIGIT[buf[i]!] === 1) i++;
    digits += i - fracStart;
  }
  if (digits === 0) return BAD_NUMBER;
  const c = buf[i];
  if (c === 0x65 || c === 0x45) {
    i++;
    if (buf[i] === PLUS || buf[i] === MINUS) i++;
    const expStart = i;
    while (i < n && DIGIT[buf[i]!] === 1) i++;
    return i === expStart ? BAD_NUMBER : i;
  }
  if (c === 0x69 /* i */) {
    if (isFloat) return BAD_NUMBER;
    return fitsIn(buf, intStart, intEnd, negative ? INT64_MIN_ABS : INT64_MAX) ? i + 1 : OUT_OF_RANGE;
  }
  if (c === 0x75 /* u */) {
    if (isFloat || negative) return BAD_NUMBER;
    return fitsIn(buf, intStart, intEnd, UINT64_MAX) ? i + 1 : OUT_OF_RANGE;
  }
  return i;
}

/** Whether the decimal digits buf[start, end) are at most `limit`, without leading zeros mattering. */
function fitsIn(buf: Buffer, start: number, end: number, limit: string): boolean {
  while (start < end - 1 && buf[start] === 0x30) start++;
  const length = end - start;
  if (length !== limit.length) return length < limit.length;
  // Nanosecond timestamps have as many digits as the limit: the first digit nearly always settles it.
  if (buf[start]! < limit.charCodeAt(0)) return true;
  for (let k = 0; k < length; k++) {
    const d = buf[start + k]! - limit.charCodeAt(k);
    if (d !== 0) return d < 0;
  }
  return true;
}

function skipBoolean(buf: Buffer, i: number, n: number): number {
  let end = i;
  while (end < n && VALUE_END[buf[end]!] === 0) end++;
  for (const word of BOOLEANS) {
    if (word.length === end - i && buf.compare(word, 0, word.length, i, end) === 0) return end;
  }
  return BAD_BOOLEAN;
}

/** A signed decimal timestamp that fits in int64 nanoseconds. */
function skipTimestamp(buf: Buffer, i: number, n: number): number {
  const negative = buf[i] === MINUS;
  if (negative) i++;
  const start = i;
  while (i < n && DIGIT[buf[i]!] === 1) i++;
  if (i === start || !fitsIn(buf, start, i, negative ? INT64_MIN_ABS : INT64_MAX)) return -1;
  return i;
}

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (const ch of chars) set[ch.charCodeAt(0)] = 1;
  return set;
}
