// Before any test: the real InfluxDB and HAProxy from Debian's packages must be there (installed when root).
import { HAPROXY, INFLUXD, ensureTools } from "../local/tools.js";

export default function setup(): void {
  ensureTools([INFLUXD, HAPROXY]);
}
