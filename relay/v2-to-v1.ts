// An /api/v2/write request as InfluxDB 1.x's /write takes it, for backends older than 1.8 (which lack
// /api/v2/write). It maps what 1.8's own v2 compatibility maps: bucket "db/rp" to db and rp, the v2
// precisions to the v1 names, and "Authorization: Token user:password" to Basic credentials, which every
// 1.x takes and which keep the password out of URLs. Applied at send time to the request as the client
// sent it, so queued records (old spools too) replay the same way, and an upgraded backend gets them as v2.

/** The query string (without '?') and Authorization header of a 1.x /write. */
export interface V1Write {
  readonly query: string;
  readonly authorization: string | undefined;
}

const V1_PRECISION: Readonly<Record<string, string>> = { ns: "n", us: "u", ms: "ms", s: "s" };

/** `query` holds an /api/v2/write request's org, bucket and precision, as the relay forwards them. */
export function v2WriteAsV1(query: string, authorization: string | undefined): V1Write {
  const v2 = new URLSearchParams(query);
  const v1 = new URLSearchParams();
  // As 1.8's bucket2dbrp: split at the first '/'; no '/' (or nothing after it) leaves the database's default policy.
  const bucket = v2.get("bucket") ?? "";
  const slash = bucket.indexOf("/");
  const db = slash === -1 ? bucket : bucket.slice(0, slash);
  const rp = slash === -1 ? "" : bucket.slice(slash + 1);
  if (db !== "") v1.set("db", db);
  if (rp !== "") v1.set("rp", rp);
  const precision = v2.get("precision");
  if (precision) v1.set("precision", V1_PRECISION[precision] ?? precision);
  return { query: v1.toString(), authorization: v1Authorization(authorization) };
}

/**
 * "Token user:password" (what 1.8's v2 compatibility takes) becomes Basic credentials. A token without ':'
 * names no 1.x user: it is not passed on, so a 1.x without auth takes the write, as it ignores credentials,
 * and one with auth answers 401 as it would to 1.8. Basic and Bearer (JWT) are 1.x's own and pass as they are.
 */
function v1Authorization(authorization: string | undefined): string | undefined {
  const token = /^token\s+(.*)$/is.exec(authorization ?? "");
  if (!token) return authorization;
  const credentials = token[1]!;
  return credentials.includes(":") ? `Basic ${Buffer.from(credentials, "utf8").toString("base64")}` : undefined;
}

/**
 * Whether a backend reporting this X-Influxdb-Version takes /api/v2/write: 1.8 and later do, 2.x too.
 * A version that is not InfluxDB's "major.minor…" (none yet, or some other server) keeps the request as v2.
 */
export function takesV2Writes(version: string | undefined): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version ?? "");
  if (!match) return true;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 1 || (major === 1 && minor >= 8);
}
