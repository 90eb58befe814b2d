// Before any test: the real tools the tests run must be there (installed with apt-get when root):
// InfluxDB and HAProxy from Debian's packages, the validators of what infra/ renders, and the tools the
// tests and the rendered scripts call, which a minimal Debian (a CI container) lacks, Debian's influx CLI, and
// Debian's Prometheus (prometheus and promtool), which the tests start themselves, never as a service.
import { HAPROXY, INFLUXD, ensureTools, type Tool } from "../local/tools.js";
import { PROMETHEUS, PROMTOOL } from "./helpers/prometheus.js";

const VALIDATORS: readonly Tool[] = [
  { binary: "cloud-init", aptPackage: "cloud-init" },
  { binary: "shellcheck", aptPackage: "shellcheck" },
  { binary: "systemd-analyze", aptPackage: "systemd" },
];
const TEST_TOOLS: readonly Tool[] = [
  // A real third-party client of the layout: Debian's influx CLI.
  { binary: "influx", aptPackage: "influxdb-client" },
  { binary: "openssl", aptPackage: "openssl" },
  { binary: "curl", aptPackage: "curl" },
  { binary: "sfdisk", aptPackage: "fdisk" },
  { binary: "mkfs.ext4", aptPackage: "e2fsprogs" },
  // observability/: the alerting rules under promtool, and a real Prometheus against the local layout.
  PROMETHEUS,
  PROMTOOL,
];

export default function setup(): void {
  ensureTools([INFLUXD, HAPROXY, ...VALIDATORS, ...TEST_TOOLS]);
}
