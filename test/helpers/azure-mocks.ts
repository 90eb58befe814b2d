// Pulumi mocks for the resources the programs declare (azure-native, docker-build, kubernetes): each
// resource's state is its inputs plus the outputs the cloud or the cluster would compute and the programs
// read (addresses, URLs, identity ids, image refs, auto-generated object names).
import * as pulumi from "@pulumi/pulumi";

export const MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000aa";
export const MOCK_PUBLIC_IP = "203.0.113.7";
export const MOCK_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n";
export const MOCK_KUBELET_OBJECT_ID = "kubelet-object-1";
export const MOCK_IMAGE_DIGEST = `sha256:${"ab".repeat(32)}`;

/** Sets Pulumi's mocks for project influx-ha; `onResource` sees each resource's inputs as the engine gets them. */
export async function setAzureMocks(onResource: (args: pulumi.runtime.MockResourceArgs) => void): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        onResource(args);
        return { id: `${args.name}-id`, state: { ...args.inputs, name: args.inputs.name ?? args.name, ...computed(args) } };
      },
      call: (args) => {
        switch (args.token) {
          case "azure-native:authorization:getClientConfig":
            return { subscriptionId: MOCK_SUBSCRIPTION };
          case "azure-native:containerservice:listManagedClusterAdminCredentials":
            return { kubeconfigs: [{ name: "clusterAdmin", value: Buffer.from(MOCK_KUBECONFIG).toString("base64") }] };
          case "azure-native:containerregistry:listRegistryCredentials":
            return { username: "registry-admin", passwords: [{ name: "password", value: "registry-password" }] };
          default:
            return args.inputs;
        }
      },
    },
    "influx-ha",
    "test",
    false,
  );
}

function computed(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  if (args.type.startsWith("kubernetes:")) return kubernetesComputed(args);
  switch (args.type) {
    case "azure-native:network:PublicIPAddress":
      return { ipAddress: MOCK_PUBLIC_IP };
    case "azure-native:storage:Blob":
      return { url: `https://acct.blob.core.windows.net/relay/${args.inputs.blobName}` };
    case "azure-native:managedidentity:UserAssignedIdentity":
      return { clientId: "client-1", principalId: "principal-1" };
    case "azure-native:containerservice:ManagedCluster":
      return { identityProfile: { kubeletidentity: { objectId: MOCK_KUBELET_OBJECT_ID, clientId: "kubelet-client-1" } } };
    case "azure-native:containerregistry:Registry":
      return { loginServer: `${args.name.replaceAll("-", "")}.azurecr.io` };
    case "docker-build:index:Image":
      return { ref: `${(args.inputs.tags as string[])[0]}@${MOCK_IMAGE_DIGEST}` };
    default:
      return {};
  }
}

/** Resolves an output (under mocks every output is known). */
export function value<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Kubernetes: an object without metadata.name gets Pulumi's auto-name; a LoadBalancer Service an address. */
function kubernetesComputed(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
  const metadata = (args.inputs.metadata ?? {}) as Record<string, unknown>;
  const state: Record<string, unknown> = { metadata: { ...metadata, name: metadata.name ?? `${args.name}-0a1b2c3d` } };
  if (args.type === "kubernetes:core/v1:Service") {
    const spec = args.inputs.spec as { type?: string; ports: Array<Record<string, unknown>> };
    state.spec = { ...spec, ports: spec.ports.map((port, i) => (spec.type === "NodePort" ? { ...port, nodePort: 30_000 + i } : port)) };
    state.status = spec.type === "LoadBalancer" ? { loadBalancer: { ingress: [{ ip: MOCK_PUBLIC_IP }] } } : {};
  }
  return state;
}

// Pulumi's marker for a secret value as the engine receives it.
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The inputs with every secret replaced by its value. */
export function unwrapSecrets(input: unknown): unknown {
  if (Array.isArray(input)) return input.map(unwrapSecrets);
  if (input === null || typeof input !== "object") return input;
  const record = input as Record<string, unknown>;
  if (record["4dabf18193072939515e22adb298388d"] === SECRET_SIG) return unwrapSecrets(record.value);
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
}
