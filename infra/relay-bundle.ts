// The relay as one self-contained ES module: what the VMs fetch from blob storage and the container image
// copies. Node 22 runs it with nothing else installed (no node_modules, no npm registry at boot).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildSync } from "esbuild";
import { VERSION } from "../relay/version.js";

export interface RelayBundle {
  /** Absolute path of the bundle file. */
  readonly path: string;
  /** Hex SHA-256 of the file: names the blob and is checked on the VM before the relay runs. */
  readonly sha256: string;
  readonly version: string;
}

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RELAY_BUNDLE_FILE = "influx-relay.mjs";

/** Where the Pulumi program builds it: a fixed path (dist/ is not committed), so previews stay quiet. */
const DEFAULT_OUT_DIR = join(REPO_ROOT, "dist", "bundle");

/** Bundles relay/main.ts into `outDir`/influx-relay.mjs. Deterministic: the same sources give the same bytes. */
export function buildRelayBundle(outDir: string = DEFAULT_OUT_DIR): RelayBundle {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, RELAY_BUNDLE_FILE);
  buildSync({
    entryPoints: [join(REPO_ROOT, "relay", "main.ts")],
    outfile: path,
    bundle: true,
    platform: "node",
    format: "esm",
    // The deployed images and VMs run Node 22; Node 20 still runs it (the tests do).
    target: "node20",
    define: { BUNDLED_VERSION: JSON.stringify(VERSION) },
    // Bundled CommonJS dependencies require Node's built-ins; an ES module has no `require` of its own.
    banner: {
      js: 'import { createRequire as __influxHaRequire } from "node:module";\nconst require = __influxHaRequire(import.meta.url);',
    },
    legalComments: "none",
    logLevel: "error",
  });
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  return { path, sha256, version: VERSION };
}

// `npm run bundle`: builds dist/bundle/influx-relay.mjs, the build context of relay/Dockerfile.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bundle = buildRelayBundle();
  console.log(`${bundle.path} (influx-relay ${bundle.version}, sha256 ${bundle.sha256})`);
}
