// The Debian packages the local layout and the tests run for real, found on PATH or installed with apt-get.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface Tool {
  readonly binary: string;
  readonly aptPackage: string;
}

export const INFLUXD: Tool = { binary: "influxd", aptPackage: "influxdb" };
export const HAPROXY: Tool = { binary: "haproxy", aptPackage: "haproxy" };

/** Absolute path of an executable on PATH or in the sbin directories, where Debian puts haproxy. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/bin", "/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Makes sure every tool is installed: as root, missing ones are installed with apt-get;
 * otherwise the error says exactly what to install.
 */
export function ensureTools(tools: readonly Tool[], log: (line: string) => void = console.log): void {
  const missing = tools.filter((tool) => !findBinary(tool.binary));
  if (missing.length === 0) return;
  const packages = missing.map((tool) => tool.aptPackage);
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${missing.map((t) => t.binary).join(" and ")} not found: install with "sudo apt-get install -y ${packages.join(" ")}"`,
    );
  }
  log(`installing ${packages.join(" ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...packages]]) {
    const result = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed with exit code ${result.status}`);
  }
  const stillMissing = missing.filter((tool) => !findBinary(tool.binary));
  if (stillMissing.length > 0)
    throw new Error(`apt-get installed ${packages.join(" ")} but ${stillMissing.map((t) => t.binary).join(", ")} is still not on PATH`);
}
