// The line protocol validator: what it takes and refuses (InfluxDB 1.6's grammar and wording, checked against the
// real influxd in test/integration/lineprotocol-influxd.test.ts), where it is stricter, where it puts missing
// timestamps, and property tests (fast-check) on generated bodies and arbitrary bytes.
import { isUtf8 } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatFault, forEachPoint, validateBody, type LineFault } from "../../relay/lineprotocol.js";
import { timestampDigits, v1Precision, v2Precision, type Precision } from "../../relay/precision.js";

const STAMP = Buffer.from("1700000000");
const stamp = () => STAMP;

function validate(text: string | Buffer, precision?: Precision) {
  return validateBody(typeof text === "string" ? Buffer.from(text) : text, stamp, precision);
}

function faultOf(text: string | Buffer, precision?: Precision): LineFault {
  const result = validate(text, precision);
  if (!("reason" in result)) throw new Error(`expected a fault for ${JSON.stringify(text.toString())}`);
  return result;
}

const latin1 = (text: string) => Buffer.from(text, "latin1");

describe("validateBody", () => {
  it("passes a body whose lines all have timestamps through as the same Buffer", () => {
    const body = Buffer.from('cpu,host=a,region=eu usage=1.5,count=3i,ok=true,msg="hi there" 1700000000000000000\nmem free=2i 1\n');
    const result = validateBody(body, () => {
      throw new Error("no timestamp is needed");
    });
    expect(result).toEqual({ body, points: 2 });
    expect((result as { body: Buffer }).body).toBe(body);
  });

  it("stamps only the lines without a timestamp, at the end of the line after any whitespace, as influxd reads it", () => {
    const result = validate('cpu v=1\ncpu v=2 42\ncpu v=3 \t\0\n# comment v=4\n\ncpu s="a\nb"');
    expect(result).toEqual({
      body: Buffer.from('cpu v=1 1700000000\ncpu v=2 42\ncpu v=3 \t\0 1700000000\n# comment v=4\n\ncpu s="a\nb" 1700000000'),
      points: 4,
    });
  });

  it.each([
    ["field types, exponents and integer limits", "cpu v=1.5e-3,w=-.5,x=3.,y=1E+9,z=-0i,i=9223372036854775807i,j=-9223372036854775808i 1"],
    ["every boolean spelling", "cpu a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1"],
    ["escapes in every name", 'weather\\ station,loc\\,x=a\\ b\\=c temp\\=x=1,note="say \\"hi\\"\\\\" 1'],
    ["a measurement with '=' and a negative timestamp", "cpu=x,host=a v=1 -1000"],
    ["the largest timestamps", "cpu v=1 9223372036854775806\ncpu v=1 -9223372036854775806"],
    ["a newline in a string", 'log msg="two\nlines" 5'],
    ["a tag value that starts with '='", "cpu,t== v=1 1\ncpu,t==x v=1 1"],
    ["an escaped backslash before a comma: the comma is escaped (influxd's name rule)", "cpu\\\\,host=a v=1 1"],
    ["a backslash before a newline in a tag value or field key (kept in the name)", "cpu,host=a\\\nb v=1 1\ncpu f\\\nk=1 1"],
    ["an empty field key after a TAB or NUL", "cpu \t=1 1\ncpu \0=1 1"],
    ["TAB and CR inside names", "cpu\tx,t=a\rb f\tk=1 1"],
    ["NUL, TAB and spaces as whitespace", "\0\tcpu \0 v=1 \t\0 5\n\0\0\0\n \t\0"],
    ["a float too long to skip parsing, and one just below the double limit", `cpu v=${"9".repeat(30)},w=1.7976931348623157e308 1`],
    ["a tiny float (it rounds to 0)", "cpu v=1e-400 1"],
    ["invalid UTF-8 and control bytes in a string value", latin1('cpu s="\xff\xc3(\x00\x01\x7f" 1')],
    ["valid UTF-8 in every name", 'température,ville=Zürich 值=1,😀="🎉" 1'],
    ["the same field twice", "cpu v=1,v=2 1"],
    ["many tags, unsorted", `cpu,${Array.from({ length: 40 }, (_, k) => `t${39 - k}=${k}`).join(",")} v=1 1`],
    ["a comment whose quote influxd carries over the next lines", '# a b="x\nnot line protocol at all\n" rest of it\ncpu v=1 1'],
  ])("accepts %s", (_, text) => {
    expect(validate(text)).not.toHaveProperty("reason");
  });

  it.each([
    ["cpu", "missing fields"],
    ["cpu,host=a", "missing fields"],
    ["cpu ", "invalid field format"],
    [",host=a v=1", "missing measurement"],
    ["cpu,=a v=1", "missing tag key"],
    ["cpu,host= v=1", "missing tag value"],
    ["cpu,host v=1", "missing tag value"],
    ["cpu,a=b=c v=1", "invalid tag format"],
    ["cpu,host=a\\\\ v=1", "invalid tag format"],
    ["cpu,a\\\\=b v=1", "missing tag value"],
    ["cpu,b=1,a=2,b=3 v=1", "duplicate tags"],
    ["cpu =1", "missing field key"],
    ["cpu v=1,=2", "missing field key"],
    ["cpu v", "invalid field format"],
    ["cpu v=1,w", "invalid field format"],
    ["cpu v=", "missing field value"],
    ["cpu v=,w=1", "missing field value"],
    ["cpu v=abc", "invalid boolean"],
    ["cpu v=tru", "invalid boolean"],
    ["cpu v=+1", "invalid boolean"],
    ["cpu v=1x", "invalid number"],
    ["cpu v=1.2.3", "invalid number"],
    ["cpu v=-", "invalid number"],
    ["cpu v=NaN", "invalid number"],
    ["cpu v=-Inf", "invalid number"],
    ["cpu v=1.5i", "invalid number"],
    ["cpu v=1u", "invalid number"],
    ["cpu v=1\t5", "invalid number"],
    ["cpu v=1e", "invalid float"],
    ["cpu v=1.8e308", "invalid float"],
    [`cpu v=1${"0".repeat(309)}`, "invalid float"],
    ["cpu v=9223372036854775808i", "unable to parse integer 9223372036854775808: value out of range"],
    ['cpu v="open', "unbalanced quotes"],
    ["cpu v=1 12x", "bad timestamp"],
    ["cpu v=1 -", "bad timestamp"],
    ["cpu v=1 5\t", "bad timestamp"],
    ["cpu v=1 1 2", "point is invalid"],
    ["cpu v=1 5 \t", "point is invalid"],
    ["cpu v=1 9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806"],
    ["cpu v=1 -9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806"],
    ["cpu,time=1 v=1 1", 'invalid tag key: input tag "time" on measurement "cpu" is invalid'],
    ["cpu time=1 1", 'invalid field name: input field "time" on measurement "cpu" is invalid'],
    [`cpu,t=${"x".repeat(65535)} v=1`, "max key length exceeded: 65541 > 65535"],
    ["cpu v=1 1\r", "bad timestamp"],
    ["cpu v=1\r", "invalid number"],
    ["\r", "missing fields"],
  ])("refuses %j as influxd does: %s", (line, reason) => {
    expect(faultOf(line).reason).toBe(reason);
  });

  it.each([
    ["m\xff v=1", "invalid UTF-8 in measurement"],
    ["m,t\xc3=a v=1", "invalid UTF-8 in tag key"],
    ["m,t=\xed\xa0\x80 v=1", "invalid UTF-8 in tag value"],
    ["m,t=\xc0\xaf v=1", "invalid UTF-8 in tag value"],
    ["m,t=\xf4\x90\x80\x80 v=1", "invalid UTF-8 in tag value"],
    ["m f\xff=1", "invalid UTF-8 in field key"],
    ["m\x01 v=1", "control character in measurement"],
    ["m,t\x1b=a v=1", "control character in tag key"],
    ["m,t=a\\\x00 v=1", "control character in tag value"],
    ["m v=1,f\x7f=2", "control character in field key"],
    ['m s="x"abc', "characters after a string's closing quote"],
    ['m s="x"\r', "characters after a string's closing quote"],
    ["m fk\\\\=1,b=2", "field key ends in an escaped backslash"],
    ['  m=x,t="y v=1 1\nm v=2 2', "unbalanced quotes"],
  ])("is stricter than influxd on %j (bytes as latin1): %s", (line, reason) => {
    expect(faultOf(latin1(line)).reason).toBe(reason);
  });

  it("bounds timestamps by the precision, as influxd's SafeCalcTime", () => {
    expect(validate("cpu v=1 9223372036\ncpu v=1 -9223372036", "s")).toMatchObject({ points: 2 });
    expect(faultOf("cpu v=1 9223372037", "s").reason).toBe("time outside range -9223372036854775806 - 9223372036854775806");
    expect(validate("cpu v=1 2562047", "h")).toMatchObject({ points: 1 });
    expect(faultOf("cpu v=1 -2562048", "h").reason).toMatch(/^time outside range/);
    // Without a precision the bound is the nanosecond one, the loosest.
    expect(validate("cpu v=1 9223372037")).toMatchObject({ points: 1 });
  });

  it("names the line number, counting blank lines, comments and newlines inside strings and names", () => {
    const fault = faultOf('cpu v=1 1\n\n# note="a\nb"\nlog msg="a\nb" 2\ncpu,t=a\\\nb v=1 3\ncpu,host=a v=oops 3\ncpu v=2');
    expect(fault).toEqual({ line: 9, reason: "invalid boolean", text: "cpu,host=a v=oops 3" });
    expect(formatFault(fault)).toBe("unable to parse line 9 'cpu,host=a v=oops 3': invalid boolean");
  });

  it("cuts a long faulty line in the message", () => {
    const fault = faultOf(`cpu,host=${"x".repeat(500)} v=`);
    expect(fault.text).toHaveLength(201);
    expect(fault.text.endsWith("…")).toBe(true);
  });

  it("counts an empty body as no points", () => {
    expect(validate("")).toEqual({ body: Buffer.alloc(0), points: 0 });
    expect(validate("\n\n  \n\0\n")).toMatchObject({ points: 0 });
  });
});

describe("forEachPoint", () => {
  it("hands over good lines trimmed and stamped, and faults by line", () => {
    const points: string[] = [];
    const faults: string[] = [];
    forEachPoint(
      Buffer.from("cpu v=1\nbad\n  cpu v=2 5 \n\ncpu v=3 \t\n"),
      stamp,
      (point) => points.push(point.toString()),
      (fault) => faults.push(formatFault(fault)),
    );
    expect(points).toEqual(["cpu v=1 1700000000", "cpu v=2 5", "cpu v=3 \t 1700000000"]);
    expect(faults).toEqual(["unable to parse line 2 'bad': missing fields"]);
  });
});

// --- properties ---------------------------------------------------------------------------------------

/** Line protocol's escapes: ',' and ' ' in a measurement, and '=' too in tag keys, tag values and field keys. */
const escapeName = (name: string, special: RegExp) => name.replace(special, (c) => `\\${c}`);
const MEASUREMENT_SPECIAL = /[, ]/gu;
const NAME_SPECIAL = /[,= ]/gu;

/** Characters of names, with the ones line protocol treats specially often among them. */
const nameChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(",", "=", " ", "\\", '"', "\t", "\r", "#", "'", "é") },
  { weight: 5, arbitrary: fc.constantFrom(..."abctxyz019_-.") },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);

/**
 * Names as clients send them: any Unicode but control bytes (refused) and newlines, with no backslash before
 * a delimiter or at the end (influxd reads it as escaping what follows), and not "time" (the shard refuses it).
 */
const name = fc
  .string({ unit: nameChar, minLength: 1, maxLength: 12 })
  .map((s) => s.replace(/[\u0000-\u0008\u000a-\u000c\u000e-\u001f\u007f]/gu, "_").replace(/\\+(?=[,= ]|$)/gu, ""))
  .filter((s) => s.length > 0 && s !== "time");

const stringValue = fc.string({ unit: "binary", maxLength: 20 }).map((s) => `"${s.replace(/[\\"]/gu, (c) => `\\${c}`)}"`);
const fieldValue = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => String(v)),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => `${v}i`),
  fc.constantFrom("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"),
  stringValue,
);

/** One valid point, without a timestamp. */
const point = fc
  .record({
    measurement: name,
    tags: fc.uniqueArray(fc.tuple(name, name), { maxLength: 4, selector: ([key]) => escapeName(key, NAME_SPECIAL) }),
    fields: fc.array(fc.tuple(name, fieldValue), { minLength: 1, maxLength: 4 }),
  })
  .map(({ measurement, tags, fields }) => {
    // A line starting with '#' is a comment, and a leading TAB is whitespace, not part of the measurement.
    const escaped = escapeName(measurement, MEASUREMENT_SPECIAL);
    const first = /^[#\t]/u.test(escaped) ? `m${escaped}` : escaped;
    const tagText = tags.map(([k, v]) => `,${escapeName(k, NAME_SPECIAL)}=${escapeName(v, NAME_SPECIAL)}`).join("");
    const fieldText = fields.map(([k, v]) => `${escapeName(k, NAME_SPECIAL)}=${v}`).join(",");
    return `${first}${tagText} ${fieldText}`;
  });
const timestamp = fc.bigInt({ min: -(2n ** 63n) + 2n, max: 2n ** 63n - 2n });

describe("validateBody properties", () => {
  it("never throws on arbitrary bytes, and forEachPoint agrees with it line by line", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Bytes that matter to the grammar, so the scan gets deep into lines.
      fc
        .array(fc.constantFrom(...'ab1.-e,= \\"\n\r\t\0#iuTf\xff\xc3\x01'.split("").map((c) => c.charCodeAt(0))), { maxLength: 80 })
        .map((codes) => Uint8Array.from(codes)),
    );
    fc.assert(
      fc.property(bytes, (array) => {
        const body = Buffer.from(array);
        const result = validateBody(body, stamp);
        const points: Buffer[] = [];
        const faults: LineFault[] = [];
        forEachPoint(
          body,
          stamp,
          (p) => points.push(p),
          (f) => faults.push(f),
        );
        if ("reason" in result) expect(faults[0]).toEqual(result);
        else {
          expect(faults).toEqual([]);
          expect(points).toHaveLength(result.points);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("takes every body built from valid points, with their count, and hands each line back whole (escapes round-trip)", () => {
    const line = fc.tuple(point, timestamp).map(([p, t]) => `${p} ${t}`);
    const filler = fc.constantFrom("", "# a comment", "  ", "\t# indented comment");
    fc.assert(
      fc.property(fc.array(fc.tuple(line, filler), { minLength: 1, maxLength: 8 }), (pairs) => {
        const lines = pairs.map(([l]) => l);
        const body = Buffer.from(pairs.flatMap(([l, f]) => [l, f]).join("\n"));
        const result = validateBody(body, () => {
          throw new Error("every line has a timestamp");
        });
        expect(result).toEqual({ body, points: lines.length });
        expect((result as { body: Buffer }).body).toBe(body);
        const handed: string[] = [];
        forEachPoint(
          body,
          stamp,
          (p) => handed.push(p.toString()),
          (f) => expect.fail(formatFault(f)),
        );
        expect(handed).toEqual(lines);
      }),
      { numRuns: 500 },
    );
  });

  it("adds a timestamp after each line without one, after its trailing whitespace, keeping every other byte", () => {
    // After the fields influxd allows spaces, TABs and NULs; a TAB or NUL right after a value is part of it.
    const trailing = fc.array(fc.constantFrom(" ", "\t", "\0"), { maxLength: 3 }).map((ws) => (ws.length === 0 ? "" : ` ${ws.join("")}`));
    const line = fc.tuple(point, fc.option(timestamp), trailing).map(([p, t, ws]) => ({
      text: t === null ? `${p}${ws}` : `${p} ${t}`,
      stamped: t !== null,
    }));
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
        const result = validateBody(Buffer.from(lines.map((l) => l.text).join("\n")), stamp);
        const expected = lines.map((l) => (l.stamped ? l.text : `${l.text} ${STAMP}`)).join("\n");
        expect(result).toEqual({ body: Buffer.from(expected), points: lines.length });
      }),
      { numRuns: 500 },
    );
  });

  it("refuses a line exactly when two of its tags share a key, however many tags it has", () => {
    // Short keys from few characters, so keys repeat and the filter often has to compare.
    const key = fc.string({ unit: fc.constantFrom("a", "b", "\\,", "\\ ", "é"), minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 40 }), (keys) => {
        const result = validate(`m,${keys.map((k, n) => `${k}=${n}`).join(",")} v=1 1`);
        if (new Set(keys).size === keys.length) expect(result).toMatchObject({ points: 1 });
        else expect(result).toMatchObject({ reason: "duplicate tags" });
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a tag value exactly when its bytes are not UTF-8", () => {
    const value = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) =>
      // No delimiters, backslashes or control bytes: only the UTF-8 of the value decides.
      Buffer.from(bytes.map((b) => (b < 0x20 || b === 0x7f || b === 0x2c || b === 0x3d || b === 0x20 || b === 0x5c ? 0x61 : b))),
    );
    fc.assert(
      fc.property(value, (bytes) => {
        const result = validateBody(Buffer.concat([Buffer.from("m,t="), bytes, Buffer.from(" v=1 1")]), stamp);
        if (isUtf8(bytes)) expect(result).toMatchObject({ points: 1 });
        else expect(result).toMatchObject({ reason: "invalid UTF-8 in tag value" });
      }),
      { numRuns: 3000 },
    );
  });

  it("bounds integers to int64 and timestamps to influxd's range in each precision", () => {
    const precisions: readonly (readonly [Precision, bigint])[] = [
      ["ns", 1n],
      ["u", 1_000n],
      ["ms", 1_000_000n],
      ["s", 1_000_000_000n],
      ["m", 60_000_000_000n],
      ["h", 3_600_000_000_000n],
    ];
    const near = (limit: bigint) => fc.bigInt({ min: -limit - 3n, max: limit + 3n });
    fc.assert(
      fc.property(near(2n ** 63n), fc.constantFrom(...precisions), near(2n ** 63n / 1000n), (integer, [precision, ns], ticks) => {
        const intOk = integer >= -(2n ** 63n) && integer < 2n ** 63n;
        expect("points" in validate(`m v=${integer}i 1`)).toBe(intOk);
        const scaled = ticks * ns;
        const timeOk = scaled >= -(2n ** 63n - 2n) && scaled <= 2n ** 63n - 2n;
        expect("points" in validate(`m v=1 ${ticks}`, precision)).toBe(timeOk);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("precision", () => {
  it("accepts InfluxDB's /write precisions and refuses others in its wording", () => {
    expect(["", "n", "ns", "u", "ms", "s", "m", "h"].map((p) => v1Precision(p))).toEqual(["ns", "n", "ns", "u", "ms", "s", "m", "h"]);
    expect(v1Precision("us")).toEqual({ error: 'invalid precision "us" (use n, u, ms, s, m or h)' });
    expect(["ns", "us", "ms", "s"].map((p) => v2Precision(p))).toEqual(["ns", "u", "ms", "s"]);
    expect(v2Precision("h")).toEqual({ error: 'invalid precision "h" (use ns, us, ms or s)' });
  });

  it("expresses a time in the requested precision", () => {
    const t = 1_700_000_123_456_789_012n;
    expect(["ns", "u", "ms", "s", "m", "h"].map((p) => timestampDigits(t, p as "ns").toString())).toEqual([
      "1700000123456789012",
      "1700000123456789",
      "1700000123456",
      "1700000123",
      "28333335",
      "472222",
    ]);
  });
});
