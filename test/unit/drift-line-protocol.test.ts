// drift/line-protocol.ts: points read back from a replica written out again as line protocol. Every line it
// makes must be one that the relay's validator (influxd 1.6's grammar) takes as one point; the round trip
// through a real influxd is in test/integration/drift-influxd.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FieldTypeError,
  formatField,
  formatLine,
  formatRows,
  seriesKey,
  type FieldType,
  type FieldValue,
} from "../../drift/line-protocol.js";
import { validateBody } from "../../relay/lineprotocol.js";
import { typedPoint as point } from "../helpers/line-points.js";

describe("formatLine", () => {
  it("makes one line the validator takes as exactly one point, whatever the names and values", () => {
    fc.assert(
      fc.property(point, (p) => {
        const types = new Map(p.fields.map(([name, [type]]) => [name, type]));
        const line = formatLine({ ...p, fields: new Map(p.fields.map(([name, [, value]]) => [name, value])) }, types);
        const result = validateBody(Buffer.from(line), () => {
          throw new Error("the line carries its timestamp");
        });
        expect(result).toEqual({ body: Buffer.from(line), points: 1 });
      }),
      { numRuns: 500 },
    );
  });

  it("writes each type as influxd reads it back: i on integers, quoted and escaped strings, shortest floats", () => {
    const fields = new Map<string, FieldValue>([
      ["i", 9_223_372_036_854_775_807n],
      ["small", 3],
      ["f", 1],
      ["g", 0.1],
      ["s", 'say "hi" \\ bye'],
      ["b", false],
    ]);
    const types = new Map<string, FieldType>([
      ["i", "integer"],
      ["small", "integer"],
      ["f", "float"],
      ["g", "float"],
      ["s", "string"],
      ["b", "boolean"],
    ]);
    expect(formatLine({ measurement: "cpu load", tags: { "host name": "a,b", empty: "", z: "x=y" }, fields, time: -5n }, types)).toBe(
      'cpu\\ load,host\\ name=a\\,b,z=x\\=y i=9223372036854775807i,small=3i,f=1,g=0.1,s="say \\"hi\\" \\\\ bye",b=false -5',
    );
  });

  it("refuses a value that is not of its field's type, and a field without a type", () => {
    expect(() => formatField("3", "integer")).toThrow(FieldTypeError);
    expect(() => formatField(1.5, "integer")).toThrow("number value 1.5 is not an integer");
    expect(() => formatField(true, "string")).toThrow(FieldTypeError);
    expect(() => formatLine({ measurement: "m", tags: {}, fields: new Map([["v", 1]]), time: 1n }, new Map())).toThrow(
      'field "v" of "m" has no type in SHOW FIELD KEYS',
    );
  });

  it("keys a series by its tags in sorted order, leaving out empty ones, as influxd does", () => {
    expect(seriesKey("m", { b: "2", a: "1", c: "" })).toBe("m,a=1,b=2");
  });
});

describe("formatRows", () => {
  it("gives the same lines as formatLine row by row, and passes a row it cannot write to refuse", () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 5 }), (points) => {
        const first = points[0]!;
        const columns = ["time", ...first.fields.map(([name]) => name)];
        const types = new Map(first.fields.map(([name, [type]]) => [name, type]));
        const values = points.map((p, r) => [
          p.time,
          ...first.fields.map(([, [, value]], i) => (i === r % first.fields.length ? null : value)),
        ]);
        const refused: number[] = [];
        const lines = formatRows({ name: first.measurement, tags: first.tags, columns, values }, types, (row) => refused.push(row));
        const expected = values.flatMap((row) => {
          const fields = new Map(columns.slice(1).flatMap((c, i) => (row[i + 1] === null ? [] : [[c, row[i + 1] as FieldValue] as const])));
          return fields.size === 0
            ? []
            : [formatLine({ measurement: first.measurement, tags: first.tags, fields, time: row[0] as bigint }, types)];
        });
        expect(refused).toEqual([]);
        expect(lines).toEqual(expected);
      }),
    );
    const refused: Array<[number, string]> = [];
    const lines = formatRows(
      {
        name: "m",
        columns: ["time", "v", "w"],
        values: [
          [1, 1, null],
          [2, null, 5],
        ],
      },
      new Map([["v", "float"]]),
      (row, problem) => refused.push([row, problem]),
    );
    expect(lines).toEqual(["m v=1 1"]);
    expect(refused).toEqual([[1, 'field "w" of "m" has no type in SHOW FIELD KEYS']]);
  });
});
