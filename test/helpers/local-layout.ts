// The local layout (Debian's haproxy, our relays, Debian's influxd) for one test file: planned on a free
// port plan in a temp run dir, started before the file's tests, stopped and removed after them.
import { rmSync } from "node:fs";
import { afterAll, beforeAll } from "vitest";
import { LocalLayout } from "../../local/layout.js";
import { planLocalLayout, type LocalPlan } from "../../local/plan.js";
import type { QueueSpec } from "../../topology/build.js";
import { freeLayoutPort } from "./layout-port.js";
import { tempDir } from "./temp.js";

export interface LayoutFixture {
  /** Set once the layout has started (in beforeAll). */
  readonly plan: LocalPlan;
  readonly layout: LocalLayout;
}

export interface LayoutFixtureOptions {
  /** Names the run dir and the secrets. */
  readonly name: string;
  readonly databases: readonly string[];
  /** The layout's warnings: a replica or relay that died, say. */
  readonly warn?: (line: string) => void;
  /** Queue bounds other than the topology's defaults (a short max-queue-age, say). */
  readonly queue?: QueueSpec;
}

export function useLocalLayout(opts: LayoutFixtureOptions): LayoutFixture {
  const fixture: { plan?: LocalPlan; layout?: LocalLayout } = {};
  beforeAll(async () => {
    const runDir = tempDir(`influx-ha-${opts.name}-`);
    const port = await freeLayoutPort();
    fixture.plan = planLocalLayout(
      { port, replicas: 2, runDir, databases: opts.databases, watch: false, ...(opts.queue === undefined ? {} : { queue: opts.queue }) },
      { statsPassword: `${opts.name}-stats-password`, relayAdminToken: `${opts.name}-relay-admin-token` },
    );
    // Restarts off: the tests kill and restart processes themselves, as with npm start --no-restart.
    fixture.layout = new LocalLayout(fixture.plan, { info: () => undefined, warn: opts.warn ?? (() => undefined) }, { restart: false });
    await fixture.layout.start();
  }, 90_000);
  afterAll(async () => {
    await fixture.layout?.stop();
    if (fixture.plan) rmSync(fixture.plan.runDir, { recursive: true, force: true, maxRetries: 3 });
  }, 60_000);
  return {
    get plan() {
      if (!fixture.plan) throw new Error("the layout is planned in beforeAll");
      return fixture.plan;
    },
    get layout() {
      if (!fixture.layout) throw new Error("the layout is started in beforeAll");
      return fixture.layout;
    },
  };
}
