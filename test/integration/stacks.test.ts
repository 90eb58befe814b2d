// The stack files in stacks/: each is commented, holds secrets only as `secure:` values, uses only keys
// the program declares, and, with its secrets set, is a config the program accepts.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { NAMESPACE, parseStackConfig, SECRET_KEYS } from "../../infra/config.js";
import { projectConfig, setAsTheHeaderSays, stackFileReader, stackFiles, type StackFile } from "../helpers/stack-files.js";

/** The keys a stack file holds in plain text that should have been set with --secret. */
function plainSecrets(config: Readonly<Record<string, unknown>>): string[] {
  return SECRET_KEYS.map((key) => `${NAMESPACE}:${key}`).filter((key) => {
    const value = config[key];
    if (value === undefined) return false;
    return !(typeof value === "object" && value !== null && typeof (value as { secure?: unknown }).secure === "string");
  });
}

const stacks = stackFiles();
const byName = (name: string): StackFile => stacks.find((s) => s.name === name)!;

describe("the stack files", () => {
  it("are dev, prod-vm and prod-aks, each opening with comments that say what it is and what to set", () => {
    expect(stacks.map((s) => s.name)).toEqual(["dev", "prod-aks", "prod-vm"]);
    for (const stack of stacks) {
      expect(
        stack.text
          .split("\n")
          .slice(0, 3)
          .every((line) => line.startsWith("# ")),
      ).toBe(true);
      expect(stack.text).toContain("pulumi config set --secret influxAdminPassword");
    }
  });

  it("hold no secret in plain text, and the check catches one that is", () => {
    for (const stack of stacks) {
      expect(plainSecrets(stack.config), stack.name).toEqual([]);
      expect(stack.text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    }
    const leaked = parseYaml(
      "config:\n  influx-ha:influxAdminPassword: hunter2-hunter2\n  influx-ha:statsPassword:\n    secure: v1:abc:def\n",
    );
    expect(plainSecrets(leaked.config)).toEqual(["influx-ha:influxAdminPassword"]);
  });

  it("use only keys Pulumi.yaml declares, and the Azure location", () => {
    const declared = Object.keys(projectConfig());
    for (const stack of stacks) {
      for (const key of Object.keys(stack.config)) {
        expect(key === "azure-native:location" || declared.includes(key.slice(`${NAMESPACE}:`.length)), `${stack.name}: ${key}`).toBe(true);
      }
    }
  });

  it("are configs the program accepts once their secrets are set, each the layout its comment describes", () => {
    const config = (name: string) => parseStackConfig(stackFileReader(byName(name), setAsTheHeaderSays(byName(name))));
    const dev = config("dev");
    expect(dev).toMatchObject({ target: "vm", replicas: 2, clientTls: "opt-out" });
    expect(dev.vm).toMatchObject({ vmSize: "Standard_D2s_v5", dataDisk: { sku: "Premium_LRS", sizeGb: 64, protect: true } });

    const prodVm = config("prod-vm");
    expect(prodVm).toMatchObject({ target: "vm", replicas: 3, publicEndpoint: false, clientTls: "internal", udpDatabase: "telegraf" });
    expect(prodVm.vm).toMatchObject({ zones: ["1", "2", "3"], dataDisk: { sku: "PremiumV2_LRS", iops: 6000, mbps: 250, protect: true } });

    const prodAks = config("prod-aks");
    expect(prodAks).toMatchObject({ target: "aks", replicas: 3, clientPort: 443, clientTls: "haproxy" });
    expect(prodAks.kubernetes).toMatchObject({ relays: 3, haproxies: 2, volumeSizeGb: 512 });
    expect(prodAks.aks).toMatchObject({ influxdbVmSize: "Standard_E4s_v5", zones: ["1", "2", "3"] });
  });

  it("are refused until the secrets their headers name are set", () => {
    const { [`${NAMESPACE}:tlsCertificate`]: _, ...withoutCertificate } = setAsTheHeaderSays(byName("prod-aks"));
    expect(() => parseStackConfig(stackFileReader(byName("prod-aks"), withoutCertificate))).toThrow(/publicEndpoint is true without TLS/);
    expect(() => parseStackConfig(stackFileReader(byName("dev"), {}))).toThrow(/influxAdminPassword is required/);
  });
});
