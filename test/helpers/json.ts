// Moved to local/json.ts (the local layout queries influxd too); re-exported for the tests.
export { parseJsonLossless } from "../../local/json.js";
