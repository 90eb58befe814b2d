// Lossless JSON parsing for InfluxDB /query answers.
//
// With epoch=ns every timestamp after 1970-04-15 exceeds 2^53, so plain
// JSON.parse silently rounds it (1700000000123456789 -> ...456800). Node 20
// has no JSON.parse source-text access, so we rewrite the text first: every
// integer literal outside a string that is not a safe JS integer is wrapped in
// quotes and comes back as its exact decimal string. Safe integers and all
// non-integers stay numbers.

/** JSON.parse, except unsafe integers (|n| > 2^53 - 1) become decimal strings. */
export function parseJsonLossless(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

function quoteUnsafeIntegers(text: string): string {
  let out = "";
  let copiedUpTo = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = skipString(text, i);
      continue;
    }
    if (c === 0x2d /* - */ || isDigit(c)) {
      const start = i;
      let isInteger = true;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (isDigit(d)) {
          i++;
        } else if (d === 0x2e /* . */ || d === 0x65 /* e */ || d === 0x45 /* E */ || d === 0x2b /* + */ || d === 0x2d /* - */) {
          isInteger = false;
          i++;
        } else {
          break;
        }
      }
      const token = text.slice(start, i);
      if (isInteger && !Number.isSafeInteger(Number(token))) {
        out += text.slice(copiedUpTo, start) + '"' + token + '"';
        copiedUpTo = i;
      }
      continue;
    }
    i++;
  }
  return copiedUpTo === 0 ? text : out + text.slice(copiedUpTo);
}

/** Index just past the string literal that starts at `start` (an opening quote). */
function skipString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      i += 2; // skip the escaped character, whatever it is
    } else if (c === 0x22 /* " */) {
      return i + 1;
    } else {
      i++;
    }
  }
  return i; // unterminated: JSON.parse will report it
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
