// Before any test: the real tools the tests run must be there (installed with apt-get when root):
// InfluxDB and HAProxy from Debian's packages, and the validators of what infra/ renders.
import { HAPROXY, INFLUXD, ensureTools, type Tool } from "../local/tools.js";

const VALIDATORS: readonly Tool[] = [
  { binary: "cloud-init", aptPackage: "cloud-init" },
  { binary: "shellcheck", aptPackage: "shellcheck" },
  { binary: "systemd-analyze", aptPackage: "systemd" },
];

export default function setup(): void {
  ensureTools([INFLUXD, HAPROXY, ...VALIDATORS]);
}
