// Generated points with names and values that make line protocol hard (spaces, commas, =, quotes, backslashes,
// non-ASCII, int64 extremes, shortest floats): shared by the unit tests of drift/line-protocol.ts and the round
// trip through a real influxd.
import fc from "fast-check";
import type { FieldType, FieldValue } from "../../drift/line-protocol.js";

/** Names influxd stores and gives back as they are: no backslash, newline or control byte, no leading #. */
const nastyName = fc
  .string({ unit: fc.constantFrom("a", "b", "Z", "0", " ", ",", "=", '"', "'", "é", "中", "🙂", "-", "_"), minLength: 1, maxLength: 8 })
  .map((s) => `k${s}`);

const typedValue: fc.Arbitrary<[FieldType, FieldValue]> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v): [FieldType, FieldValue] => ["float", Object.is(v, -0) ? 0 : v]),
  fc.bigInt({ min: -(2n ** 63n) + 1n, max: 2n ** 63n - 1n }).map((v): [FieldType, FieldValue] => ["integer", v]),
  fc.integer().map((v): [FieldType, FieldValue] => ["integer", v]),
  fc
    .string({ unit: fc.constantFrom("a", " ", '"', "\\", ",", "=", "\n", "é", "🙂"), maxLength: 10 })
    .map((v): [FieldType, FieldValue] => ["string", v]),
  fc.boolean().map((v): [FieldType, FieldValue] => ["boolean", v]),
);

/** A point whose fields carry their type; times within what influxd stores. */
export const typedPoint = fc.record({
  measurement: nastyName,
  tags: fc.dictionary(nastyName, nastyName, { maxKeys: 3 }),
  fields: fc.uniqueArray(fc.tuple(nastyName, typedValue), { minLength: 1, maxLength: 4, selector: ([name]) => name }),
  time: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
});
