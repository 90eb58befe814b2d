// The test suite as two vitest projects: unit (no external tool or child process, nothing to install) and
// integration (real influxd, haproxy, validators and processes, which the global setup installs when missing).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Real influxd and relay processes take seconds to start.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only make the real processes race each other.
    maxWorkers: 2,
    // The root's options above apply to both (extends: true); only integration needs the tools installed.
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: { name: "integration", include: ["test/integration/**/*.test.ts"], globalSetup: ["test/global-setup.ts"] },
      },
    ],
  },
});
