// How the relay reaches the VMs without npm or any outside registry: the program bundles it
// (infra/relay-bundle.ts) and uploads it as a private blob named by its SHA-256. The nodes read it with
// a user-assigned managed identity that may read that one container, and check the hash before running it.
import * as managedidentity from "@pulumi/azure-native/managedidentity/index.js";
import * as storage from "@pulumi/azure-native/storage/index.js";
import * as pulumi from "@pulumi/pulumi";
import type { RelayBundle } from "../relay-bundle.js";
import { grantBuiltInRole } from "./roles.js";

export interface RelayArtifactArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly bundle: RelayBundle;
}

export class RelayArtifact extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly sha256: string;
  /** The identity the nodes use: its resource id (for the VM) and client id (for the token request). */
  readonly identityId: pulumi.Output<string>;
  readonly identityClientId: pulumi.Output<string>;

  constructor(name: string, args: RelayArtifactArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:RelayArtifact", name, {}, opts);
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };

    const account = new storage.StorageAccount(
      `${name}-storage`,
      {
        ...common,
        kind: "StorageV2",
        sku: { name: "Standard_ZRS" },
        allowBlobPublicAccess: false,
        minimumTlsVersion: "TLS1_2",
        enableHttpsTrafficOnly: true,
      },
      { parent: this },
    );
    const container = new storage.BlobContainer(
      `${name}-container`,
      { resourceGroupName: args.resourceGroupName, accountName: account.name, publicAccess: "None" },
      { parent: this },
    );
    const blob = new storage.Blob(
      `${name}-blob`,
      {
        resourceGroupName: args.resourceGroupName,
        accountName: account.name,
        containerName: container.name,
        blobName: `influx-relay-${args.bundle.version}-${args.bundle.sha256.slice(0, 16)}.mjs`,
        type: "Block",
        contentType: "text/javascript",
        source: new pulumi.asset.FileAsset(args.bundle.path),
      },
      { parent: this },
    );

    const identity = new managedidentity.UserAssignedIdentity(`${name}-identity`, common, { parent: this });
    grantBuiltInRole(`${name}-reader`, { role: "storageBlobDataReader", principalId: identity.principalId, scope: container.id }, this);

    this.url = blob.url;
    this.sha256 = args.bundle.sha256;
    this.identityId = identity.id;
    this.identityClientId = identity.clientId;
    this.registerOutputs({ url: this.url, identityId: this.identityId, identityClientId: this.identityClientId });
  }
}
