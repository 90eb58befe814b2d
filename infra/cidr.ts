// IPv4/IPv6 CIDR checks and IPv4 address arithmetic for the stack config and the VM plan. Pure.
import { isIP } from "node:net";

export function cidrProblem(cidr: string, family: 4 | "any"): string | undefined {
  const [address = "", prefix, extra] = cidr.split("/");
  const version = isIP(address);
  const maxPrefix = version === 6 ? 128 : 32;
  if (version === 0 || extra !== undefined || (family === 4 && version !== 4)) {
    return family === 4 ? "must be an IPv4 CIDR such as 10.42.0.0/16" : "must be an IP address or CIDR such as 203.0.113.0/24";
  }
  if (prefix === undefined) return family === 4 ? "needs a prefix length, such as /16" : undefined;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > maxPrefix) return `has a prefix length that is not 0 to ${maxPrefix}`;
  if (version === 4 && (ipv4ToInt(address) & ~prefixMask(Number(prefix))) !== 0) {
    return `has host bits set; the network is ${intToIpv4(ipv4ToInt(address) & prefixMask(Number(prefix)))}/${prefix}`;
  }
  return undefined;
}

export function cidrContains(outer: string, inner: string): boolean {
  const [outerIp, outerPrefix] = splitCidr(outer);
  const [innerIp, innerPrefix] = splitCidr(inner);
  return innerPrefix >= outerPrefix && (innerIp & prefixMask(outerPrefix)) === outerIp;
}

/** Addresses in an IPv4 network, its network and broadcast addresses included. */
export function subnetHostCount(cidr: string): number {
  return 2 ** (32 - splitCidr(cidr)[1]);
}

/** The address `hostNumber` hosts into an IPv4 network, e.g. ("10.42.1.0/24", 10) → 10.42.1.10. */
export function hostAddress(cidr: string, hostNumber: number): string {
  return intToIpv4(splitCidr(cidr)[0] + hostNumber);
}

function splitCidr(cidr: string): [number, number] {
  const [ip = "", prefix = "32"] = cidr.split("/");
  return [ipv4ToInt(ip), Number(prefix)];
}

function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0) >>> 0;
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join(".");
}
