// The Pulumi program (Pulumi.yaml's main): reads and checks the stack config, then declares the target's
// layout. A bad config stops here, before any resource is declared, with every problem listed.
import * as pulumi from "@pulumi/pulumi";
import { StackConfigError, parseStackConfig, type StackConfig } from "./config.js";
import { VmLayout } from "./azure/vm-layout.js";
import { buildRelayBundle } from "./relay-bundle.js";

function readStackConfig(): StackConfig {
  try {
    // The raw values, secrets included: they are wrapped as secrets again wherever they are used.
    return parseStackConfig((key) => pulumi.runtime.getConfig(key));
  } catch (err) {
    // A RunError is shown without a stack trace: the message is the whole story.
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const config = readStackConfig();
if (config.target !== "vm" || config.vm === undefined) {
  throw new pulumi.RunError(`influx-ha:target "${config.target}" is not available yet; "vm" is (infra/README.md)`);
}

const layout = new VmLayout("influx-ha", {
  config,
  vm: config.vm,
  relayBundle: buildRelayBundle(),
});

export const resourceGroupName = layout.resourceGroupName;
export const clientEndpoint = layout.clientEndpoint;
export const udpEndpoint = layout.udpEndpoint;
export const statsUrls = layout.statsUrls;
export const statsUser = layout.statsUser;
export const statsPassword = layout.statsPassword;
export const nodePrivateIps = layout.nodePrivateIps;
