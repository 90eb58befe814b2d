import { describe, expect, it } from "vitest";
import { formatFault, forEachPoint, validateBody, type LineFault } from "../relay/lineprotocol.js";
import { timestampDigits, v1Precision, v2Precision } from "../relay/precision.js";

const STAMP = Buffer.from("1700000000");
const stamp = () => STAMP;

function validate(text: string) {
  return validateBody(Buffer.from(text), stamp);
}

function faultOf(text: string): LineFault {
  const result = validate(text);
  if (!("reason" in result)) throw new Error(`expected a fault for ${JSON.stringify(text)}`);
  return result;
}

describe("validateBody", () => {
  it("passes a body whose lines all have timestamps through as the same Buffer", () => {
    const body = Buffer.from('cpu,host=a,region=eu usage=1.5,count=3i,ok=true,msg="hi there" 1700000000000000000\nmem free=2u 1\n');
    const result = validateBody(body, () => {
      throw new Error("no timestamp is needed");
    });
    expect(result).toEqual({ body, points: 2 });
    expect((result as { body: Buffer }).body).toBe(body);
  });

  it("stamps only the lines without a timestamp, leaving every other byte in place", () => {
    const result = validate("cpu v=1\ncpu v=2 42\r\ncpu v=3   \n# comment v=4\n\ncpu v=5");
    expect(result).toEqual({
      body: Buffer.from("cpu v=1 1700000000\ncpu v=2 42\r\ncpu v=3 1700000000   \n# comment v=4\n\ncpu v=5 1700000000"),
      points: 4,
    });
  });

  it("accepts the field types, escapes and number forms InfluxDB accepts", () => {
    for (const line of [
      "cpu v=1.5e-3,w=-.5,x=3.,y=1E+9,z=-0i,u=18446744073709551615u 1",
      "cpu a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1",
      'weather\\ station,loc\\,x=a\\ b\\=c temp\\=x=1,note="say \\"hi\\"\\\\" 1',
      "cpu=x,host=a v=1 -1000",
      "cpu v=9223372036854775807i,w=-9223372036854775808i 9223372036854775807",
      'log msg="two\nlines" 5',
    ]) {
      expect(validate(line), line).toMatchObject({ points: 1 });
    }
  });

  it.each([
    ["cpu", "missing fields"],
    ["cpu,host=a", "missing fields"],
    ["cpu ", "missing fields"],
    [",host=a v=1", "missing measurement"],
    ["cpu,=a v=1", "missing tag key"],
    ["cpu,host= v=1", "missing tag value"],
    ["cpu,host v=1", "missing tag value"],
    ["cpu,a=b=c v=1", "invalid tag format"],
    ["cpu =1", "missing field key"],
    ["cpu v", "missing field value"],
    ["cpu v=", "missing field value"],
    ["cpu v=,w=1", "missing field value"],
    ["cpu v=abc", "invalid field format"],
    ["cpu v=1x", "invalid field format"],
    ["cpu v=1.2.3", "invalid field format"],
    ["cpu v=-", "invalid number"],
    ["cpu v=1.5i", "invalid number"],
    ["cpu v=-1u", "invalid number"],
    ["cpu v=1e", "invalid number"],
    ["cpu v=9223372036854775808i", "value out of range"],
    ["cpu v=18446744073709551616u", "value out of range"],
    ["cpu v=tru", "invalid boolean"],
    ['cpu v="open', "unbalanced quotes"],
    ["cpu v=1 12x", "bad timestamp"],
    ["cpu v=1 1 2", "bad timestamp"],
    ["cpu v=1 9223372036854775808", "bad timestamp"],
  ])("rejects %j: %s", (line, reason) => {
    expect(faultOf(line).reason).toBe(reason);
  });

  it("names the line number, counting blank lines, comments and newlines inside strings", () => {
    const fault = faultOf('cpu v=1 1\n\n# note\nlog msg="a\nb" 2\ncpu,host=a v=oops 3\ncpu v=2');
    expect(fault).toEqual({ line: 6, reason: "invalid field format", text: "cpu,host=a v=oops 3" });
    expect(formatFault(fault)).toBe("unable to parse line 6 'cpu,host=a v=oops 3': invalid field format");
  });

  it("cuts a long faulty line in the message", () => {
    const fault = faultOf(`cpu,host=${"x".repeat(500)} v=`);
    expect(fault.text).toHaveLength(201);
    expect(fault.text.endsWith("…")).toBe(true);
  });

  it("counts an empty body as no points", () => {
    expect(validate("")).toEqual({ body: Buffer.alloc(0), points: 0 });
    expect(validate("\n\n  \n")).toMatchObject({ points: 0 });
  });
});

describe("forEachPoint", () => {
  it("hands over good lines trimmed and stamped, and faults by line", () => {
    const points: string[] = [];
    const faults: string[] = [];
    forEachPoint(
      Buffer.from("cpu v=1\nbad\n  cpu v=2 5 \r\n\ncpu v=3\n"),
      stamp,
      (point) => points.push(point.toString()),
      (fault) => faults.push(formatFault(fault)),
    );
    expect(points).toEqual(["cpu v=1 1700000000", "cpu v=2 5", "cpu v=3 1700000000"]);
    expect(faults).toEqual(["unable to parse line 2 'bad': missing fields"]);
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
