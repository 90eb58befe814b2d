// The package version: read once from package.json, found from this file both in the sources and in dist/,
// or set at build time in the relay bundle.
import { readFileSync } from "node:fs";

function readVersion(): string {
  for (const relative of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "influx-ha" && pkg.version) return pkg.version;
    } catch {
      // not at this depth: try the next
    }
  }
  return "unknown";
}

// Defined by the bundler (infra/relay-bundle.ts): a bundle has no package.json beside it.
declare const BUNDLED_VERSION: string | undefined;

export const VERSION = typeof BUNDLED_VERSION === "string" ? BUNDLED_VERSION : readVersion();
/** What /ping reports in X-Influxdb-Version. */
export const PING_VERSION = `influx-ha-relay-${VERSION}`;
