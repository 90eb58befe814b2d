// Free ports and bounded polling for tests, shared with the local layout and the benchmark.
export { freePort, freeUdpPort } from "../../local/ports.js";
export { sleep, waitFor, type WaitForOptions } from "../../local/wait.js";
