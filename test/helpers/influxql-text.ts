// Text for property tests of the InfluxQL lexer and classifier: made of the characters that matter to the
// scanner (quotes, escapes, comment and regex starts, separators), so that generated input meets its corners often.
import fc from "fast-check";

const SCANNER_CORNERS = [";", "'", '"', "\\", "/", "*", "-", "=~", ".", ",", "(", ")", " ", "\n", "a", "1"] as const;

/** Strings of the scanner's corner characters and `words`, up to `maxLength` units. */
export function nastyInfluxql(words: readonly string[], maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...SCANNER_CORNERS, ...words), maxLength });
}
