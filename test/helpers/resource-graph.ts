// The resource graph a component declares under Pulumi's mocks: each resource's type, name and options
// (seen by a transformation on the component) with its inputs and provider as the engine received them.
import * as pulumi from "@pulumi/pulumi";
import { waitFor } from "./ports.js";

export interface Declared {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  readonly opts: pulumi.ResourceOptions;
  /** The provider reference it was registered with. */
  readonly provider: string | undefined;
}

export class ResourceGraph {
  private registered = new Map<string, pulumi.runtime.MockResourceArgs>();

  /** Give to setAzureMocks: records every registration. */
  readonly onResource = (args: pulumi.runtime.MockResourceArgs): void => {
    this.registered.set(args.name, args);
  };

  /**
   * Builds a component with a recording transformation, then waits (bounded) until every resource below
   * it has registered: those whose inputs wait on other outputs register late.
   */
  async declare<T>(build: (opts: pulumi.ComponentResourceOptions) => T, timeoutMs: number): Promise<{ result: T; all: Declared[] }> {
    this.registered = new Map();
    const seen: Array<Pick<Declared, "type" | "name" | "opts">> = [];
    const record: pulumi.ResourceTransformation = ({ type, name, opts }) => {
      seen.push({ type, name, opts });
      return undefined;
    };
    const result = build({ transformations: [record] });
    const resources = (): typeof seen => seen.filter((d) => !d.type.startsWith("influx-ha:"));
    const allRegistered = (): boolean => resources().every((d) => this.registered.has(d.name));
    await waitFor(async () => allRegistered(), { timeoutMs, intervalMs: 10, what: "every resource to register" });
    const all = seen.map((d) => {
      const args = this.registered.get(d.name);
      return { ...d, inputs: args?.inputs ?? {}, provider: args?.provider };
    });
    return { result, all };
  }
}
