// The stack files in stacks/, read as the Pulumi CLI hands them to the program: each value as a string
// (lists as JSON), the project's declared defaults for keys the stack leaves out, and the secrets, which
// a stack file holds only as `secure:` ciphertext, filled in by the test.
import { readdirSync, readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { NAMESPACE, type ConfigReader } from "../../infra/config.js";
import { VM_STACK } from "./stack-config.js";
import { selfSignedPem } from "./tls.js";

const STACKS_DIR = new URL("../../stacks/", import.meta.url);

export interface StackFile {
  readonly name: string;
  readonly text: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export function stackFiles(): StackFile[] {
  return readdirSync(STACKS_DIR)
    .filter((file) => /^Pulumi\..+\.yaml$/.test(file))
    .sort()
    .map((file) => {
      const text = readFileSync(new URL(file, STACKS_DIR), "utf8");
      const parsed = (parseYaml(text) ?? {}) as { config?: Record<string, unknown> };
      return { name: file.slice("Pulumi.".length, -".yaml".length), text, config: parsed.config ?? {} };
    });
}

/** Test values for what a stack file leaves to `pulumi config set`. */
const SET_BY_HAND: Record<string, () => string> = {
  influxAdminPassword: () => "correct-horse-battery",
  statsPassword: () => "stats-password-1234",
  sshPublicKey: () => VM_STACK[`${NAMESPACE}:sshPublicKey`]!,
  tlsCertificate: () => selfSignedPem().pem,
};

/** The keys a stack's header comment tells the operator to set, with test values. */
export function setAsTheHeaderSays(stack: StackFile): Record<string, string> {
  const keys = [...stack.text.matchAll(/^#\s+pulumi config set (?:--secret )?(\w+)/gm)].map((m) => m[1]!);
  return Object.fromEntries(keys.map((key) => [`${NAMESPACE}:${key}`, SET_BY_HAND[key]!()]));
}

/** Pulumi.yaml's config block: every key the program reads, as the project declares it. */
export function projectConfig(): Record<string, { type: string; default?: unknown; description: string }> {
  return (parseYaml(readFileSync(new URL("../../Pulumi.yaml", import.meta.url), "utf8")) as { config: ReturnType<typeof projectConfig> })
    .config;
}

/** Pulumi.yaml's declared defaults, by full key, as the program sees them when a stack leaves the key out. */
export function projectDefaults(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(projectConfig())
      .filter(([, declared]) => declared.default !== undefined)
      .map(([key, declared]) => [`${NAMESPACE}:${key}`, asConfigString(declared.default)]),
  );
}

/** What the program reads for a stack: its values over the project's defaults, and `filled` for what the stack file cannot hold. */
export function stackFileReader(stack: StackFile, filled: Readonly<Record<string, string>>): ConfigReader {
  const values: Record<string, string> = { ...projectDefaults(), ...filled };
  for (const [key, value] of Object.entries(stack.config)) values[key] = asConfigString(value);
  return (key) => values[key];
}

function asConfigString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
