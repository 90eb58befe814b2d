// How many /query requests an influxd has served, from its /debug/vars: which replica a read went to.
import { request } from "undici";

/** The replica's count of /query requests since it started; -1 while it does not answer. */
export async function queriesServed(url: string): Promise<number> {
  try {
    const res = await request(`${url}/debug/vars`);
    const vars = (await res.body.json()) as Record<string, { name?: string; values?: { queryReq?: number } }>;
    return Object.values(vars).find((v) => v?.name === "httpd")?.values?.queryReq ?? 0;
  } catch {
    return -1;
  }
}
