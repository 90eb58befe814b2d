// What an influxd has served, from its /debug/vars: which replica a read went to, and whether a remote
// write reached it at all.
import { request } from "undici";

/** The replica's count of /query requests since it started; -1 while it does not answer. */
export function queriesServed(url: string): Promise<number> {
  return httpdCount(url, "queryReq");
}

/** The replica's count of /api/v1/prom/write requests since it started, refused ones included; -1 while it does not answer. */
export function promWritesServed(url: string): Promise<number> {
  return httpdCount(url, "promWriteReq");
}

async function httpdCount(url: string, stat: string): Promise<number> {
  try {
    const res = await request(`${url}/debug/vars`);
    const vars = (await res.body.json()) as Record<string, { name?: string; values?: Record<string, number> }>;
    return Object.values(vars).find((v) => v?.name === "httpd")?.values?.[stat] ?? 0;
  } catch {
    return -1;
  }
}
