// The /api/v2/write → 1.x /write mapping and the version rule that picks it, as pure functions.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { takesV2Writes, v2WriteAsV1 } from "../../relay/v2-to-v1.js";

const V1_PRECISION = { ns: "n", us: "u", ms: "ms", s: "s" } as const;

describe("v2WriteAsV1", () => {
  it("maps any bucket db/rp, precision and Token user:password to db, rp, the v1 precision and Basic of the same bytes", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((db) => !db.includes("/")),
        fc.string({ minLength: 1 }),
        fc.constantFrom("ns", "us", "ms", "s"),
        // The scheme's separator is any run of spaces (RFC 9110's 1*SP), so a user cannot start with one.
        fc.string().filter((user) => !user.includes(":") && !/^\s/.test(user)),
        fc.string(),
        fc.string(),
        (db, rp, precision, user, password, org) => {
          const v2 = new URLSearchParams({ org, bucket: `${db}/${rp}`, precision }).toString();
          const v1 = v2WriteAsV1(v2, `Token ${user}:${password}`);
          expect(Object.fromEntries(new URLSearchParams(v1.query))).toEqual({ db, rp, precision: V1_PRECISION[precision] });
          const basic = /^Basic (.*)$/.exec(v1.authorization ?? "");
          expect(Buffer.from(basic![1]!, "base64").toString("utf8")).toBe(`${user}:${password}`);
        },
      ),
    );
  });

  it("leaves out what is absent, and passes Basic and Bearer as they are", () => {
    expect(v2WriteAsV1("bucket=telegraf", undefined)).toEqual({ query: "db=telegraf", authorization: undefined });
    expect(v2WriteAsV1("bucket=telegraf%2F&org=x", "Basic Ym9iOng=")).toEqual({ query: "db=telegraf", authorization: "Basic Ym9iOng=" });
    expect(v2WriteAsV1("bucket=d", "Bearer eyJhbGciOi")).toEqual({ query: "db=d", authorization: "Bearer eyJhbGciOi" });
    expect(v2WriteAsV1("bucket=d", "Token abcdef")).toEqual({ query: "db=d", authorization: undefined });
    expect(v2WriteAsV1("bucket=d", "Token ")).toEqual({ query: "db=d", authorization: undefined });
  });
});

describe("takesV2Writes", () => {
  it("is true from InfluxDB 1.8 (and for 2.x), false before, and true for what is not an InfluxDB version", () => {
    const cases: Array<[string | undefined, boolean]> = [
      ["1.6.7~rc0", false],
      ["1.7.11", false],
      ["0.13.0", false],
      ["1.8.0", true],
      ["1.8.10", true],
      ["1.11.8", true],
      ["1.8.10-c1.8.10", true],
      ["v2.7.1", true],
      ["2.7.1", true],
      ["scripted", true],
      [undefined, true],
    ];
    expect(cases.map(([version]) => [version, takesV2Writes(version)])).toEqual(cases);
  });
});
