// Line protocol validation and timestamping, done by scanning bytes: no strings are built on the
// hot path, and a body whose lines all carry a timestamp goes out as the very Buffer that came in.
// Lines are split, parsed and refused as InfluxDB 1.6's models.ParsePointsWithPrecision does
// (models/points.go), with its error wording: a body the relay forwards has no line a replica's parser
// refuses, so no replica writes only part of it for its syntax. It is stricter only where influxd
// would break itself or store something other than the line says; each case is marked "Stricter than
// influxd" below and listed in the README.
import { NS_PER_UNIT, type Precision } from "./precision.js";

const TAB = 0x09;
const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** What a byte means inside a measurement, tag key, tag value or field key. */
const ORDINARY = 0;
/** Ends the name when unescaped: the delimiters of its kind, and '\n'. */
const DELIMITER = 1;
/** A backslash: the byte after it is part of the name. */
const ESCAPE = 2;
/**
 * Stricter than influxd: control bytes other than TAB, CR and LF. influxd stores them, but echoes names in
 * the X-Influxdb-Error header of later refusals (a field type conflict, a series limit) with only CR and LF
 * turned into spaces; HTTP forbids the others there, and undici cannot read such an answer.
 */
const CONTROL = 3;
/**
 * A byte of a multi-byte UTF-8 sequence, checked as it is met (ASCII names never get there). Stricter than
 * influxd: it stores invalid UTF-8 in names, but a shard holding it in a measurement or field key answers 500
 * to every write after a restart, and JSON answers turn such names into U+FFFD, so two can look the same.
 */
const HIGH = 4;

const MEASUREMENT_BYTES = nameBytes(", \n");
const NAME_BYTES = nameBytes(",= \n");
/** influxd's skipWhitespace: around the fields, and blank lines. */
const WHITESPACE = byteSet(" \t\0");
const DIGIT = byteSet("0123456789");
/** Bytes that may start a number (influxd's scanFields: isNumeric, '-', and 'N'/'n' to refuse NaN). */
const NUMBER_START = byteSet("0123456789.-Nn");
const BOOLEANS = ["t", "T", "f", "F", "true", "True", "TRUE", "false", "False", "FALSE"].map((w) => Buffer.from(w));

const INT64_MAX = "9223372036854775807";
const INT64_MIN_ABS = "9223372036854775808";
/** models.MaxKeyLength: measurement and tags, and with each field key (plus 4 bytes of separator). */
const MAX_KEY_LENGTH = 65535;
/** influxd parses a float only when it has an exponent or this many characters; shorter ones are always finite. */
const FLOAT_PARSE_LENGTH = 25;
/** Up to this many tags, a Bloom filter picks the keys that may repeat one; more are all sorted. */
const FILTERED_TAGS = 24;

/** models.MaxNanoTime; MinNanoTime is its negation. */
const MAX_NANO_TIME = 9_223_372_036_854_775_806n;
/** The largest timestamp magnitude, in ticks of each precision, that models.SafeCalcTime accepts. */
const MAX_TICKS = Object.fromEntries(
  Object.entries(NS_PER_UNIT).map(([precision, ns]) => [precision, (MAX_NANO_TIME / ns).toString()]),
) as Readonly<Record<Precision, string>>;
const TIME_OUT_OF_RANGE = `time outside range -${MAX_NANO_TIME} - ${MAX_NANO_TIME}`;

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
  /** Index of the '\n' that ends the line, or the body's length: where a missing timestamp goes. */
  end: number;
  /** First byte of the point, after leading whitespace. */
  start: number;
  kind: LineKind;
  /** Newlines inside the line (in quoted strings, or a comment's), so line numbers match an editor's. */
  innerNewlines: number;
  reason: string;
  /** Largest magnitude of a timestamp, as decimal digits, for the request's precision. */
  maxTicks: string;
  /** influxd's line splitter may end this line elsewhere (see splitterAgrees). */
  splitMayDiffer: boolean;
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
 * (called at most once), at the end of the line. Returns the first fault, or the body to send: the same
 * Buffer when no line needed a timestamp. `precision` bounds the timestamps as influxd does.
 */
export function validateBody(
  body: Buffer,
  timestamp: () => Buffer,
  precision: Precision = "ns",
): { body: Buffer; points: number } | LineFault {
  const state = newLineState(precision);
  let unstamped: number[] | undefined;
  let points = 0;
  let line = 1;
  for (let pos = 0; pos < body.length; pos = state.end + 1) {
    scanLine(body, pos, state);
    if (state.splitMayDiffer) checkSplit(body, pos, state);
    if (state.kind === LineKind.Fault) return fault(body, pos, state, line);
    if (state.kind !== LineKind.Skip) points++;
    if (state.kind === LineKind.Unstamped) (unstamped ??= []).push(state.end);
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
  precision: Precision = "ns",
): void {
  const state = newLineState(precision);
  let stamp: Buffer | undefined;
  let line = 1;
  for (let pos = 0; pos < body.length; pos = state.end + 1) {
    scanLine(body, pos, state);
    if (state.splitMayDiffer) checkSplit(body, pos, state);
    if (state.kind === LineKind.Fault) onFault(fault(body, pos, state, line));
    else if (state.kind === LineKind.Stamped) onPoint(body.subarray(state.start, trimEnd(body, state.start, state.end)));
    else if (state.kind === LineKind.Unstamped) {
      stamp ??= timestamp();
      const point = body.subarray(state.start, state.end);
      onPoint(Buffer.concat([point, SPACE_BUFFER, stamp], point.length + 1 + stamp.length));
    }
    line += 1 + state.innerNewlines;
  }
}

const SPACE_BUFFER = Buffer.from(" ");

function newLineState(precision: Precision): LineState {
  return {
    end: 0,
    start: 0,
    kind: LineKind.Skip,
    innerNewlines: 0,
    reason: "",
    maxTicks: MAX_TICKS[precision],
    splitMayDiffer: false,
  };
}

function fault(body: Buffer, pos: number, state: LineState, line: number): LineFault {
  const end = trimEnd(body, pos, state.end);
  const cut = Math.min(end, state.start + 200);
  const text = body.toString("utf8", state.start, cut) + (cut < end ? "…" : "");
  return { line, reason: state.reason, text };
}

/** Drops trailing whitespace (and a CR, for the text of a fault). */
function trimEnd(body: Buffer, start: number, end: number): number {
  while (end > start && (body[end - 1] === SPACE || body[end - 1] === TAB || body[end - 1] === CR)) end--;
  return end;
}

/** Puts " <stamp>" at each position: the end of a line, after any whitespace, where influxd's scanTime looks. */
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

/** Scans the line starting at `pos` as influxd's parser does, and records what it found in `s`. */
function scanLine(buf: Buffer, pos: number, s: LineState): void {
  s.innerNewlines = 0;
  s.splitMayDiffer = false;
  const n = buf.length;
  let i = pos;
  while (i < n && WHITESPACE[buf[i]!] === 1) {
    // influxd's splitter takes a space as the start of the fields: leading spaces make it count the key's '='.
    if (buf[i] === SPACE) s.splitMayDiffer = true;
    i++;
  }
  s.start = i;
  if (i >= n || buf[i] === NL) return skipLine(i, s);
  if (buf[i] === HASH) return skipComment(buf, pos, s);

  // The key: the measurement and its tags, as influxd's scanKey reads them.
  if (buf[i] === COMMA) return fail(buf, i, s, "missing measurement");
  i = scanKeyName(buf, i, n, MEASUREMENT_BYTES, s);
  if (i < 0) return fail(buf, ~i, s, `${s.reason} in measurement`);
  const measurementEnd = i;
  let tagCount = 0;
  let duplicateTags = false;
  let keyFilter = 0;
  let timeTag = false;
  while (buf[i] === COMMA) {
    const keyStart = ++i;
    if (i >= n || NAME_BYTES[buf[i]!] === DELIMITER) return fail(buf, i, s, "missing tag key");
    i = scanKeyName(buf, i, n, NAME_BYTES, s);
    if (i < 0) return fail(buf, ~i, s, `${s.reason} in tag key`);
    if (buf[i] !== EQUALS) return fail(buf, i, s, "missing tag value");
    const tagKeyLength = i - keyStart;
    if (tagKeyLength === 4 && isTime(buf, keyStart)) timeTag = true;
    if (tagCount < FILTERED_TAGS) {
      // A 32-bit Bloom filter on each key's length and first and last bytes: only a key that may repeat an
      // earlier one is compared with them.
      const bits = (1 << ((buf[keyStart]! + 7 * tagKeyLength) & 31)) | (1 << ((5 * buf[i - 1]! + tagKeyLength) & 31));
      if ((keyFilter & bits) === bits && isEarlierKey(buf, measurementEnd, keyStart, i)) duplicateTags = true;
      keyFilter |= bits;
    }
    tagCount++;
    i++;
    if (i >= n || buf[i] === COMMA || buf[i] === SPACE || buf[i] === NL) return fail(buf, i, s, "missing tag value");
    // influxd checks only the first byte of a tag value for ',' and ' ': a leading '=' is part of the value.
    if (buf[i] === EQUALS) i++;
    i = scanKeyName(buf, i, n, NAME_BYTES, s);
    if (i < 0) return fail(buf, ~i, s, `${s.reason} in tag value`);
    if (buf[i] === EQUALS) return fail(buf, i, s, "invalid tag format");
    if (i >= n || buf[i] === NL) return fail(buf, i, s, "missing fields");
  }
  if (i >= n || buf[i] === NL) return fail(buf, i, s, "missing fields");
  if (duplicateTags || (tagCount > FILTERED_TAGS && hasDuplicateKey(buf, measurementEnd, i))) return fail(buf, i, s, "duplicate tags");
  const keyLength = i - s.start;
  if (keyLength > MAX_KEY_LENGTH) return fail(buf, i, s, `max key length exceeded: ${keyLength} > ${MAX_KEY_LENGTH}`);

  // The fields, as influxd's scanFields and walkFields read them.
  i++;
  while (i < n && WHITESPACE[buf[i]!] === 1) i++;
  if (i >= n || buf[i] === NL) return fail(buf, i, s, "invalid field format");
  // influxd refuses "=1" after a space but not after a TAB or NUL: that field's key is empty.
  if (buf[i] === EQUALS && buf[i - 1] === SPACE) return fail(buf, i, s, "missing field key");
  let onlyTimeFields = true;
  // A field key makes a series key with the key above and 4 bytes of separator (models.seriesKeySize).
  const maxFieldKeyLength = MAX_KEY_LENGTH - 4 - keyLength;
  for (;;) {
    const keyStart = i;
    i = scanFieldKey(buf, i, n, s);
    if (i < 0) return fail(buf, ~i, s, `${s.reason} in field key`);
    // Stricter than influxd on an unescaped ',' in a field key: it takes one when an '=' inside a later
    // string balances its count of '=' and ',' (m a,b="c="d" stores a field "a,b" holding c="d).
    if (buf[i] !== EQUALS) return fail(buf, i, s, "invalid field format");
    if (i === keyStart && buf[i - 1] === COMMA) return fail(buf, i, s, "missing field key");
    // Stricter than influxd: after an escaped backslash its field scanners disagree on where the key ends,
    // and it refuses the line or stores a field named after the rest of the line.
    if (buf[i - 1] === BACKSLASH && i > keyStart) return fail(buf, i, s, "field key ends in an escaped backslash");
    if (i - keyStart > maxFieldKeyLength) {
      return fail(buf, i, s, `max key length exceeded: ${keyLength + 4 + (i - keyStart)} > ${MAX_KEY_LENGTH}`);
    }
    if (onlyTimeFields && (i - keyStart !== 4 || !isTime(buf, keyStart))) onlyTimeFields = false;

    i++;
    const c = i < n ? buf[i]! : NL;
    if (c === NL || c === COMMA || c === SPACE) return fail(buf, i, s, "missing field value");
    if (NUMBER_START[c] === 1) {
      const end = plainFloatEnd(buf, i, n);
      i = end > 0 ? end : scanNumber(buf, i, n, s);
    } else if (c === QUOTE) i = scanString(buf, i, n, s);
    else i = scanBoolean(buf, i, n, s);
    if (i < 0) return fail(buf, ~i, s, s.reason);
    if (buf[i] !== COMMA) break;
    i++;
  }

  // The timestamp, as influxd's scanTime reads it, or whitespace only.
  while (i < n && WHITESPACE[buf[i]!] === 1) i++;
  let kind = LineKind.Unstamped;
  if (i < n && buf[i] !== NL) {
    kind = LineKind.Stamped;
    i = scanTimestamp(buf, i, n, s);
    if (i < 0) return fail(buf, ~i, s, s.reason);
    // After a timestamp, influxd allows spaces only.
    while (i < n && buf[i] === SPACE) i++;
    if (i < n && buf[i] !== NL) return fail(buf, i, s, "point is invalid");
  }

  // The shard drops these points: refused here, so that no body is only partly written.
  if (timeTag || onlyTimeFields) {
    const measurement = buf.toString("utf8", s.start, measurementEnd);
    return fail(
      buf,
      i,
      s,
      timeTag
        ? `invalid tag key: input tag "time" on measurement "${measurement}" is invalid`
        : `invalid field name: input field "time" on measurement "${measurement}" is invalid`,
    );
  }
  s.end = i;
  s.kind = kind;
}

/**
 * Skips a measurement, tag key or tag value up to an unescaped delimiter of `bytes` (or the body's end),
 * and returns its index, or ~index of a byte it refuses (with s.reason). As in influxd's scanMeasurement
 * and scanTags, a byte is escaped when a backslash precedes it, even one that is itself escaped.
 */
function scanKeyName(buf: Buffer, i: number, n: number, bytes: Uint8Array, s: LineState): number {
  for (;;) {
    // Plain bytes in a loop small enough for V8 to inline; the others one at a time, out of line.
    let kind = DELIMITER;
    while (i < n && (kind = bytes[buf[i]!]!) === ORDINARY) i++;
    if (i >= n || kind === DELIMITER) return i;
    i = skipKeyNameByte(buf, i, n, bytes, kind, s);
    if (i < 0) return i;
  }
}

/**
 * Past a byte of a measurement, tag key or tag value that is not plain: a UTF-8 sequence, or a backslash run
 * and the byte it escapes. Returns the index after it (that of a '\n' that ends the line), or ~index.
 */
function skipKeyNameByte(buf: Buffer, i: number, n: number, bytes: Uint8Array, kind: number, s: LineState): number {
  if (kind === HIGH) return skipUtf8(buf, i, n, s);
  if (kind === CONTROL) return refuseAt(s, i, "control character");
  const run = i;
  do i++;
  while (i < n && buf[i] === BACKSLASH);
  if (i >= n) return i;
  const escaped = buf[i]!;
  const evenRun = (i - run) % 2 === 0;
  // influxd's line splitter pairs backslashes up: after an even run it sees the '\n' or ' ' unescaped.
  if (escaped === NL) {
    if (evenRun) return i;
    s.innerNewlines++;
  }
  if (escaped === SPACE && evenRun) s.splitMayDiffer = true;
  const escapedKind = bytes[escaped]!;
  if (escapedKind === CONTROL) return refuseAt(s, i, "control character");
  return escapedKind === HIGH ? skipUtf8(buf, i, n, s) : i + 1;
}

/** A field key up to an unescaped '=', ',', ' ' or '\n'; a backslash escapes the byte after it, as in scanFields. */
function scanFieldKey(buf: Buffer, i: number, n: number, s: LineState): number {
  for (;;) {
    let kind = DELIMITER;
    while (i < n && (kind = NAME_BYTES[buf[i]!]!) === ORDINARY) i++;
    if (i >= n || kind === DELIMITER) return i;
    i = skipFieldKeyByte(buf, i, n, kind, s);
    if (i < 0) return i;
  }
}

/** Past a byte of a field key that is not plain: a UTF-8 sequence, or a backslash and the byte it escapes. */
function skipFieldKeyByte(buf: Buffer, i: number, n: number, kind: number, s: LineState): number {
  if (kind === HIGH) return skipUtf8(buf, i, n, s);
  if (kind === CONTROL) return refuseAt(s, i, "control character");
  if (++i >= n) return i;
  const escapedKind = NAME_BYTES[buf[i]!]!;
  if (escapedKind === CONTROL) return refuseAt(s, i, "control character");
  // influxd keeps an escaped '\n' in the line and in the key.
  if (buf[i] === NL) s.innerNewlines++;
  return escapedKind === HIGH ? skipUtf8(buf, i, n, s) : i + 1;
}

function skipUtf8(buf: Buffer, i: number, n: number, s: LineState): number {
  const length = utf8Length(buf, i, n);
  return length === 0 ? refuseAt(s, i, "invalid UTF-8") : i + length;
}

/** Records why a scanner stops at buf[i]: it returns the ~i this gives, and scanLine reports the fault there. */
function refuseAt(s: LineState, i: number, reason: string): number {
  s.reason = reason;
  return ~i;
}

/**
 * The length of the UTF-8 sequence at buf[i], or 0 when it is not well-formed as Go's utf8.Valid sees it
 * (no overlong forms, surrogates or code points past U+10FFFF; Unicode's table 3-7).
 */
function utf8Length(buf: Buffer, i: number, n: number): number {
  const lead = buf[i]!;
  let length = 4;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed) high = 0x9f;
  } else if (lead === 0xf0) low = 0x90;
  else if (lead === 0xf4) high = 0x8f;
  else if (lead < 0xf1 || lead > 0xf3) return 0;
  if (i + length > n || buf[i + 1]! < low || buf[i + 1]! > high) return 0;
  for (let k = 2; k < length; k++) if (buf[i + k]! < 0x80 || buf[i + k]! > 0xbf) return 0;
  return length;
}

/**
 * The [start, end) of each tag key in buf[from, end), the tags of a scanned line from the ',' after its
 * measurement: a key ends at a '=' and a value at a ',' that no backslash precedes, and a value's first byte
 * belongs to it whatever it is. Only for the rare lines that may repeat a tag key, so it may allocate.
 */
function tagKeys(buf: Buffer, from: number, end: number): number[] {
  const keys: number[] = [];
  for (let i = from; i < end;) {
    const start = i + 1;
    let equals = start + 1;
    while (buf[equals] !== EQUALS || buf[equals - 1] === BACKSLASH) equals++;
    keys.push(start, equals);
    i = equals + 2;
    while (i < end && (buf[i] !== COMMA || buf[i - 1] === BACKSLASH)) i++;
  }
  return keys;
}

/** Whether the tag key buf[start, end) repeats one before it in the tags from `from`. */
function isEarlierKey(buf: Buffer, from: number, start: number, end: number): boolean {
  const keys = tagKeys(buf, from, start - 1);
  for (let k = 0; k < keys.length; k += 2) {
    if (keys[k + 1]! - keys[k]! === end - start && sameBytes(buf, keys[k]!, start, end - start)) return true;
  }
  return false;
}

/** Duplicate keys among many tags, by sorting them. */
function hasDuplicateKey(buf: Buffer, from: number, end: number): boolean {
  const ranges = tagKeys(buf, from, end);
  const keys = Array.from({ length: ranges.length / 2 }, (_, t) => buf.subarray(ranges[2 * t]!, ranges[2 * t + 1]!)).sort(Buffer.compare);
  return keys.some((key, k) => k > 0 && key.equals(keys[k - 1]!));
}

function sameBytes(buf: Buffer, a: number, b: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

/** Whether the 4 bytes at buf[i] spell "time", the tag and field name the shard refuses. */
function isTime(buf: Buffer, i: number): boolean {
  return buf[i] === 0x74 && buf[i + 1] === 0x69 && buf[i + 2] === 0x6d && buf[i + 3] === 0x65;
}

/**
 * The end of a float without exponent, short enough that influxd does not parse it (the common case, in a
 * loop small enough to inline), or 0 to leave the number to scanNumber.
 */
function plainFloatEnd(buf: Buffer, i: number, n: number): number {
  const start = i;
  if (buf[i] === MINUS) i++;
  const digitsStart = i;
  while (i < n && DIGIT[buf[i]!] === 1) i++;
  let digits = i - digitsStart;
  if (buf[i] === DOT) {
    const fraction = ++i;
    while (i < n && DIGIT[buf[i]!] === 1) i++;
    digits += i - fraction;
  }
  const c = i < n ? buf[i]! : NL;
  return digits > 0 && i - start < FLOAT_PARSE_LENGTH && (c === COMMA || c === SPACE || c === NL) ? i : 0;
}

/** A number as influxd's scanNumber reads it, up to ',', ' ' or the line's end. */
function scanNumber(buf: Buffer, i: number, n: number, s: LineState): number {
  const start = i;
  let isInt = false;
  let isUnsigned = false;
  let decimal = false;
  let scientific = false;
  if (buf[i] === MINUS) i++;
  for (;;) {
    while (i < n && DIGIT[buf[i]!] === 1) i++;
    if (i >= n) break;
    const c = buf[i]!;
    if (c === COMMA || c === SPACE || c === NL) break;
    if (c === 0x69 /* i */ && i > start && !isInt && !isUnsigned) isInt = true;
    else if (c === 0x75 /* u */ && i > start && !isInt && !isUnsigned) isUnsigned = true;
    else if (c === DOT) {
      if (decimal) return refuseAt(s, start, "invalid number");
      decimal = true;
    } else if ((c === 0x65 || c === 0x45) /* e E */ && i > start) scientific = true;
    else if ((c !== PLUS && c !== MINUS) || (buf[i - 1] !== 0x65 && buf[i - 1] !== 0x45)) return refuseAt(s, start, "invalid number");
    i++;
  }
  if ((isInt || isUnsigned) && (decimal || scientific)) return refuseAt(s, start, "invalid number");
  const digits = i - start - (isInt ? 1 : 0) - (decimal ? 1 : 0) - (buf[start] === MINUS ? 1 : 0);
  if (digits === 0) return refuseAt(s, start, "invalid number");
  if (isInt) {
    if (buf[i - 1] !== 0x69) return refuseAt(s, start, "invalid number");
    const negative = buf[start] === MINUS;
    if (!fitsIn(buf, negative ? start + 1 : start, i - 1, negative ? INT64_MIN_ABS : INT64_MAX)) {
      return refuseAt(s, start, `unable to parse integer ${buf.toString("latin1", start, i - 1)}: value out of range`);
    }
  } else if (isUnsigned) {
    // Every InfluxDB 1.x build leaves uint64 support off (the "uint" build tag).
    return refuseAt(s, start, "invalid number");
  } else if (scientific || i - start >= FLOAT_PARSE_LENGTH) {
    // The characters are digits, '.', '-', '+' and 'e' only: Number() reads them as strconv.ParseFloat does.
    if (!Number.isFinite(Number(buf.toString("latin1", start, i)))) return refuseAt(s, start, "invalid float");
  }
  return i;
}

/**
 * A quoted string: a backslash escapes the byte after it, and newlines may be inside. Stricter than influxd:
 * only ',', ' ' or the line's end may follow the closing quote. influxd takes more bytes into the value and
 * then drops its last byte (`s="x"abc` is stored as `x"ab`).
 */
function scanString(buf: Buffer, i: number, n: number, s: LineState): number {
  const start = i;
  for (i++; i < n; i++) {
    const c = buf[i];
    if (c === QUOTE) {
      const next = i + 1 < n ? buf[i + 1]! : NL;
      if (next === COMMA || next === SPACE || next === NL) return i + 1;
      return refuseAt(s, start, "characters after a string's closing quote");
    }
    if (c === BACKSLASH) {
      if (buf[++i] === NL) s.innerNewlines++;
    } else if (c === NL) s.innerNewlines++;
  }
  return refuseAt(s, start, "unbalanced quotes");
}

/** t, T, true, True, TRUE, f, F, false, False or FALSE, up to ',', ' ' or the line's end. */
function scanBoolean(buf: Buffer, i: number, n: number, s: LineState): number {
  let end = i;
  while (end < n && buf[end] !== COMMA && buf[end] !== SPACE && buf[end] !== NL) end++;
  for (const word of BOOLEANS) {
    if (word.length === end - i && buf.compare(word, 0, word.length, i, end) === 0) return end;
  }
  return refuseAt(s, i, "invalid boolean");
}

/** A decimal timestamp with an optional '-', within models.SafeCalcTime's range for the precision. */
function scanTimestamp(buf: Buffer, i: number, n: number, s: LineState): number {
  const start = buf[i] === MINUS ? i + 1 : i;
  let end = start;
  while (end < n && DIGIT[buf[end]!] === 1) end++;
  if (end === start || (end < n && buf[end] !== SPACE && buf[end] !== NL)) return refuseAt(s, end, "bad timestamp");
  return fitsIn(buf, start, end, s.maxTicks) ? end : refuseAt(s, end, TIME_OUT_OF_RANGE);
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

/**
 * Stricter than influxd when its splitter would end the line elsewhere (rare: see splitterAgrees). It would
 * then store parts of two lines as one point, or refuse them.
 */
function checkSplit(buf: Buffer, pos: number, s: LineState): void {
  if (s.kind !== LineKind.Skip && !splitterAgrees(buf, pos, s.end)) {
    s.kind = LineKind.Fault;
    s.reason = "unbalanced quotes";
  }
}

/**
 * influxd splits lines before parsing them (scanLine), tracking quotes by counting '=' and ',' from the
 * first space on, with backslashes paired up. That agrees with the parse unless the line has leading
 * spaces or an escaped backslash before a space in its key, and a quote: then it may end elsewhere.
 */
function splitterAgrees(buf: Buffer, pos: number, end: number): boolean {
  // Only this line is searched: a body with no quote after it would otherwise be scanned to its end once per
  // line, quadratic in the body (seconds for a few MB of lines with leading spaces).
  return !buf.subarray(pos, end).includes(QUOTE) || influxLineEnd(buf, pos) === end;
}

/** Where influxd's scanLine ends the line starting at `i`: its '\n' or the body's end. */
function influxLineEnd(buf: Buffer, i: number): number {
  const n = buf.length;
  let quoted = false;
  let fields = false;
  let equals = 0;
  let commas = 0;
  while (i < n) {
    const c = buf[i]!;
    if (c === BACKSLASH && i + 2 < n) {
      i += 2;
      continue;
    }
    if (c === SPACE) fields = true;
    if (fields && !quoted && c === EQUALS) equals++;
    else if (fields && !quoted && c === COMMA) commas++;
    else if (fields && c === QUOTE && equals > commas) quoted = !quoted;
    else if (c === NL && !quoted) break;
    i++;
  }
  return i;
}

function skipLine(end: number, s: LineState): void {
  s.end = end;
  s.kind = LineKind.Skip;
}

/** A comment runs to the end of influxd's line, which a quote after "=" can carry past newlines. */
function skipComment(buf: Buffer, pos: number, s: LineState): void {
  const end = influxLineEnd(buf, pos);
  for (let nl = buf.indexOf(NL, pos); nl >= 0 && nl < end; nl = buf.indexOf(NL, nl + 1)) s.innerNewlines++;
  skipLine(end, s);
}

function fail(buf: Buffer, i: number, s: LineState, reason: string): void {
  s.reason = reason;
  s.kind = LineKind.Fault;
  const end = i < buf.length && buf[i] === NL ? i : buf.indexOf(NL, i);
  s.end = end < 0 ? buf.length : end;
}

/** The kind of every byte in a name ended by `delimiters`. */
function nameBytes(delimiters: string): Uint8Array {
  const kinds = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) kinds[b] = CONTROL;
  kinds[0x7f] = CONTROL;
  kinds[TAB] = ORDINARY;
  kinds[CR] = ORDINARY;
  for (let b = 0x80; b < 0x100; b++) kinds[b] = HIGH;
  for (const ch of delimiters) kinds[ch.charCodeAt(0)] = DELIMITER;
  kinds[BACKSLASH] = ESCAPE;
  return kinds;
}

function byteSet(chars: string): Uint8Array {
  const set = new Uint8Array(256);
  for (const ch of chars) set[ch.charCodeAt(0)] = 1;
  return set;
}
