import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Real influxd and relay processes take seconds to start.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more workers only make the real processes race each other.
    maxWorkers: 2,
  },
});
