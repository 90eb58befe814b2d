// Pre-generated request bodies of realistic InfluxDB line protocol, so the load
// generator spends its CPU on sending rather than formatting.
import { mulberry32 } from "./random.js";

const REGIONS = [
  { region: "eu-west", dcs: ["ams1", "ams2", "dub1"] },
  { region: "us-east", dcs: ["iad1", "iad2"] },
  { region: "ap-south", dcs: ["bom1", "sin1"] },
] as const;

const HOSTS = 10_000;
const BASE_NS = 1_732_000_000_000_000_000n;
const INTERVAL_NS = 10_000_000_000n;

/** `count` distinct bodies of `lines` points each: one 10 s collection interval per body. */
export function makeBodies(count: number, lines: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => makeBody(i, lines));
}

function makeBody(index: number, lines: number): Buffer {
  // Seeded so every run sends byte-identical data and results stay comparable.
  const rand = mulberry32(0x9e3779b9 ^ index);
  const intervalNs = BASE_NS + BigInt(index) * INTERVAL_NS;
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const host = (index * 617 + i) % HOSTS;
    const { region, dcs } = REGIONS[host % REGIONS.length]!;
    const dc = dcs[Math.floor(host / REGIONS.length) % dcs.length]!;
    const user = rand() * 60;
    const system = rand() * 20;
    const iowait = rand() * 5;
    const idle = 100 - user - system - iowait;
    // Hosts report at slightly different moments within the interval.
    const ts = intervalNs + BigInt(Math.floor(rand() * 1e9));
    out.push(
      `cpu,host=server${String(host).padStart(4, "0")},region=${region},dc=${dc},rack=r${host % 40}` +
        ` usage_user=${user.toFixed(4)},usage_system=${system.toFixed(5)},usage_idle=${idle.toFixed(3)},usage_iowait=${iowait.toFixed(4)}` +
        ` ${ts}`,
    );
  }
  return Buffer.from(out.join("\n") + "\n");
}
