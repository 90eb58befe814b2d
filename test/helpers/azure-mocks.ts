// Pulumi mocks for the azure-native resources the programs declare: each resource's state is its inputs
// plus the outputs Azure would compute and the programs read (addresses, URLs, identity ids).
import * as pulumi from "@pulumi/pulumi";

export const MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa";
export const MOCK_PUBLIC_IP = "203.0.113.7";

/** Sets Pulumi's mocks for project influx-ha; `onResource` sees each resource's inputs as the engine gets them. */
export async function setAzureMocks(onResource: (args: pulumi.runtime.MockResourceArgs) => void): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        onResource(args);
        return { id: `${args.name}-id`, state: { ...args.inputs, name: args.inputs.name ?? args.name, ...computed(args) } };
      },
      call: (args) => (args.token === "azure-native:authorization:getClientConfig" ? { subscriptionId: MOCK_SUBSCRIPTION } : args.inputs),
    },
    "influx-ha",
    "test",
    false,
  );
}

function computed(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  switch (args.type) {
    case "azure-native:network:PublicIPAddress":
      return { ipAddress: MOCK_PUBLIC_IP };
    case "azure-native:storage:Blob":
      return { url: `https://acct.blob.core.windows.net/relay/${args.inputs.blobName}` };
    case "azure-native:managedidentity:UserAssignedIdentity":
      return { clientId: "client-1", principalId: "principal-1" };
    default:
      return {};
  }
}

/** Resolves an output (under mocks every output is known). */
export function value<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}
