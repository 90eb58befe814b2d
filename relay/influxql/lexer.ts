// InfluxQL tokenizer, following InfluxDB 1.x's scanner (github.com/influxdata/influxql, scanner.go) so that
// a query splits into statements exactly where influxd splits it: the relay routes each statement by what
// it does, so a ';' inside a string, a quoted identifier, a regex or a comment must never split.

export type TokenKind =
  "keyword-or-ident" | "quoted-ident" | "string" | "number" | "duration" | "regex" | "param" | "operator" | "semicolon";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** offsets into the source */
  readonly start: number;
  readonly end: number;
}

/** InfluxQL's reserved words (token.go), upper-case: an unquoted identifier spelled like one (in any case) is that keyword. */
export const KEYWORDS: ReadonlySet<string> = new Set(
  (
    "ALL ALTER ANALYZE AND ANY AS ASC BEGIN BY CARDINALITY CREATE CONTINUOUS DATABASE DATABASES DEFAULT DELETE DESC " +
    "DESTINATIONS DIAGNOSTICS DISTINCT DROP DURATION END EVERY EXACT EXPLAIN FALSE FIELD FOR FROM FUTURE GRANT GRANTS " +
    "GROUP GROUPS IN INF INSERT INTO KEY KEYS KILL LIMIT MEASUREMENT MEASUREMENTS NAME OFFSET ON OR ORDER PASSWORD PAST " +
    "POLICY POLICIES PRIVILEGES QUERIES QUERY READ REPLICATION RESAMPLE RETENTION REVOKE SELECT SERIES SET SHOW SHARD " +
    "SHARDS SLIMIT SOFFSET STATS SUBSCRIPTION SUBSCRIPTIONS TAG TO TRUE USER USERS VALUES VERBOSE WHERE WITH WRITE"
  ).split(" "),
);

/** The keyword an unquoted word is, upper-case, or undefined for any other token. */
export function keywordOf(token: Token): string | undefined {
  if (token.kind !== "keyword-or-ident") return undefined;
  const word = token.text.toUpperCase();
  return KEYWORDS.has(word) ? word : undefined;
}

/** Tokens without whitespace and comments, or the first lexical error with its offset. */
export function tokenize(source: string): { readonly tokens: readonly Token[] } | { readonly error: string; readonly offset: number } {
  // influxd's reader returns NUL as end of input, yet a NUL right after a word or inside whitespace is
  // skipped and the text after it still runs ("CR\0EATE DATABASE x" creates x). No tokenizer short of
  // its parser can say which, so a NUL anywhere is an error, reported before any other.
  const nul = source.indexOf("\0");
  if (nul >= 0) return { error: "NUL character", offset: nul };
  try {
    return { tokens: new Scanner(source).scan() };
  } catch (error) {
    if (error instanceof LexicalError) return { error: error.message, offset: error.offset };
    throw error;
  }
}

class LexicalError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

// '\r' too: influxd's reader turns "\r\n" and a lone "\r" into "\n".
const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const NEWLINES = new Set(["\n", "\r"]);
/** The only escapes influxd accepts in strings and quoted identifiers; any other is "bad escape". */
const STRING_ESCAPES = new Set(["n", "\\", "'", '"']);
/** Continues a duration's unit as a letter does: "10µs". */
const MICRO = "\u00b5";
/** Longest first, so "<=" is not read as "<" then "=". */
const OPERATORS = [
  "=~",
  "!~",
  "!=",
  "<>",
  "<=",
  ">=",
  "::",
  "+",
  "-",
  "*",
  "/",
  "%",
  "&",
  "|",
  "^",
  "=",
  "<",
  ">",
  "(",
  ")",
  ",",
  ":",
  ".",
];

function isLetter(char: string | undefined): boolean {
  return char !== undefined && ((char >= "a" && char <= "z") || (char >= "A" && char <= "Z"));
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= "0" && char <= "9";
}

function isIdentChar(char: string | undefined): boolean {
  return isLetter(char) || isDigit(char) || char === "_";
}

class Scanner {
  private pos = 0;
  private readonly tokens: Token[] = [];
  private readonly regexSites = new RegexSites();

  constructor(private readonly source: string) {}

  scan(): Token[] {
    const src = this.source;
    while (this.pos < src.length) {
      const char = src[this.pos]!;
      const next = src[this.pos + 1];
      if (WHITESPACE.has(char)) this.pos++;
      else if (char === "-" && next === "-") this.skipLineComment();
      else if (char === "/" && next === "*") this.skipBlockComment();
      else if (char === "/" && this.regexSites.regexMayStart) this.scanRegex();
      else if (isLetter(char) || char === "_") this.scanWord();
      else if (char === '"') this.scanQuoted("quoted-ident", this.pos);
      else if (char === "'") this.scanQuoted("string", this.pos);
      else if (isDigit(char) || (char === "." && isDigit(next))) this.scanNumber();
      else if (char === "$") this.scanParam();
      else if (char === ";") this.push("semicolon", this.pos, this.pos + 1);
      else this.scanOperator();
    }
    return this.tokens;
  }

  private push(kind: TokenKind, start: number, end: number): void {
    const token: Token = { kind, text: this.source.slice(start, end), start, end };
    this.tokens.push(token);
    this.regexSites.observe(token);
    this.pos = end;
  }

  private skipLineComment(): void {
    while (this.pos < this.source.length && !NEWLINES.has(this.source[this.pos]!)) this.pos++;
  }

  private skipBlockComment(): void {
    const close = this.source.indexOf("*/", this.pos + 2);
    if (close < 0) throw new LexicalError("unterminated comment", this.pos);
    this.pos = close + 2;
  }

  /**
   * A regex runs to the next '/' not escaped as "\/"; any other backslash stands for itself, so "\\/"
   * is a backslash and an escaped '/' and does not close it (ScanDelimited). It may not span lines.
   */
  private scanRegex(): void {
    const start = this.pos;
    let i = start + 1;
    for (;;) {
      const char = this.source[i];
      if (char === undefined || NEWLINES.has(char)) throw new LexicalError("unterminated regex", start);
      if (char === "/") return this.push("regex", start, i + 1);
      i += char === "\\" && this.source[i + 1] === "/" ? 2 : 1;
    }
  }

  /** Letters, digits and '_', not starting with a digit. influxd reads a '"' right after one as part of it: ab"c d" is the identifier `c d`. */
  private scanWord(): void {
    const start = this.pos;
    let end = start + 1;
    while (isIdentChar(this.source[end])) end++;
    if (this.source[end] === '"') return this.scanQuoted("quoted-ident", start, end);
    this.push("keyword-or-ident", start, end);
  }

  /** $name, where the name may be empty or quoted like an identifier, as influxd reads it. */
  private scanParam(): void {
    const start = this.pos;
    let end = start + 1;
    while (isIdentChar(this.source[end])) end++;
    if (this.source[end] === '"') return this.scanQuoted("param", start, end);
    this.push("param", start, end);
  }

  /** A '...' string or "..." identifier whose opening quote is at `quote`; the token starts at `start`. */
  private scanQuoted(kind: TokenKind, start: number, quote = start): void {
    const closing = this.source[quote]!;
    const what = closing === "'" ? "string" : "quoted identifier";
    let i = quote + 1;
    for (;;) {
      const char = this.source[i];
      if (char === undefined) throw new LexicalError(`unterminated ${what}`, quote);
      if (NEWLINES.has(char)) throw new LexicalError(`newline in ${what}`, i);
      if (char === closing) return this.push(kind, start, i + 1);
      if (char === "\\") {
        const escaped = this.source[i + 1];
        if (escaped === undefined || !STRING_ESCAPES.has(escaped)) throw new LexicalError(`bad escape \\${escaped ?? ""} in ${what}`, i);
        i += 2;
      } else i++;
    }
  }

  /**
   * 12, 1.5, .5 and "1." (influxd keeps the '.' even without digits after it), or a duration: digits
   * then letters, then letters and digits ("1h30m"; "1x" too: influxd rejects bad units when parsing).
   */
  private scanNumber(): void {
    const src = this.source;
    const start = this.pos;
    let end = start;
    while (isDigit(src[end])) end++;
    if (src[end] === ".") {
      end++;
      while (isDigit(src[end])) end++;
      return this.push("number", start, end);
    }
    if (!isLetter(src[end]) && src[end] !== MICRO) return this.push("number", start, end);
    while (isLetter(src[end]) || isDigit(src[end]) || src[end] === MICRO) end++;
    this.push("duration", start, end);
  }

  private scanOperator(): void {
    const operator = OPERATORS.find((candidate) => this.source.startsWith(candidate, this.pos));
    if (operator === undefined) {
      const char = String.fromCodePoint(this.source.codePointAt(this.pos)!);
      throw new LexicalError(`illegal character ${JSON.stringify(char)}`, this.pos);
    }
    this.push("operator", this.pos, this.pos + operator.length);
  }
}

/** Tokens after which a '/' opens a regex (see RegexSites). */
const REGEX_OPENERS = new Set(["=~", "!~", "=", ",", "(", "SELECT", "FROM", "BY"]);

/**
 * Whether a '/' opens a regex or divides. influxd's parser decides while parsing: it scans a regex where
 * a field may be one (after SELECT and a field list's commas), a source (after FROM, a FROM list's
 * commas, "WITH MEASUREMENT =" or "=~", and a '.' inside a source: FROM db.rp./cpu/), a GROUP BY
 * dimension (after BY and its commas), a function argument (after "name(" and its commas), and the right
 * side of =~ and !~.
 *
 * Here a '/' opens a regex when the last token was =~, !~, =, ',', '(', SELECT, FROM or BY, or a '.' in a
 * FROM list. Those are influxd's places plus some where an operand must follow, where influxd would read
 * a division and refuse the query; so on every query influxd accepts the two read the same. The '.'
 * counts only in a FROM list because elsewhere influxd drops it and divides: "a./b/2" is a / b / 2.
 * Whitespace and comments in between change nothing: influxd allows whitespace there and refuses the
 * query when a comment comes before the regex.
 *
 * A "/*" is always a comment, also where influxd scans a regex: that regex would begin with '*', which
 * Go's regexp rejects, so influxd refuses such a query whichever way it is read.
 */
class RegexSites {
  regexMayStart = false;
  /** Per open parenthesis (a subquery has its own FROM list), whether the tokens are in a FROM list. */
  private inSourceList = [false];
  private previousKeyword: string | undefined;

  observe(token: Token): void {
    const keyword = keywordOf(token);
    const symbol = token.kind === "operator" ? token.text : undefined;
    const depth = this.inSourceList.length - 1;
    if (token.kind === "semicolon") this.inSourceList = [false];
    else if (symbol === "(") this.inSourceList.push(false);
    else if (symbol === ")") {
      if (depth > 0) this.inSourceList.pop();
    } else if (keyword !== undefined) this.inSourceList[depth] = keyword === "FROM";
    else if ((symbol === "=" || symbol === "=~") && this.previousKeyword === "MEASUREMENT") this.inSourceList[depth] = true;

    const opener = keyword ?? symbol;
    this.regexMayStart =
      (opener !== undefined && REGEX_OPENERS.has(opener)) || (symbol === "." && this.inSourceList[this.inSourceList.length - 1] === true);
    this.previousKeyword = keyword;
  }
}
