// The relay's container image for AKS: the program builds relay/Dockerfile around the relay bundle and
// pushes it to an Azure Container Registry of its own; the cluster's kubelet identity may pull from it.
// Building needs a Docker engine (with buildx) where `pulumi up` runs.
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import * as containerregistry from "@pulumi/azure-native/containerregistry/index.js";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import type { RelayBundle } from "../relay-bundle.js";
import { grantBuiltInRole } from "./roles.js";

export interface RelayImageArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly bundle: RelayBundle;
  /** Object id of the identity that pulls the image: the cluster's kubelet identity. */
  readonly pullerPrincipalId: pulumi.Input<string>;
}

const DOCKERFILE = fileURLToPath(new URL("../../relay/Dockerfile", import.meta.url));

export class RelayImage extends pulumi.ComponentResource {
  /** The pushed image by digest (<registry>/influx-relay:<version>@sha256:...): a new build rolls the relays. */
  readonly ref: pulumi.Output<string>;
  readonly registryLoginServer: pulumi.Output<string>;

  constructor(name: string, args: RelayImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:RelayImage", name, {}, opts);

    const registry = new containerregistry.Registry(
      `${name}-registry`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        sku: { name: "Standard" },
        // The push authenticates with the admin credentials; the cluster pulls with its kubelet identity.
        adminUserEnabled: true,
      },
      { parent: this },
    );
    const credentials = containerregistry.listRegistryCredentialsOutput(
      { resourceGroupName: args.resourceGroupName, registryName: registry.name },
      { parent: this },
    );

    const image = new dockerBuild.Image(
      `${name}-image`,
      {
        context: { location: dirname(args.bundle.path) },
        dockerfile: { location: DOCKERFILE },
        platforms: ["linux/amd64"],
        push: true,
        tags: [pulumi.interpolate`${registry.loginServer}/influx-relay:${args.bundle.version}`],
        registries: [
          {
            address: registry.loginServer,
            username: credentials.apply((c) => c.username ?? ""),
            password: pulumi.secret(credentials.apply((c) => c.passwords?.[0]?.value ?? "")),
          },
        ],
      },
      { parent: this },
    );

    grantBuiltInRole(`${name}-acr-pull`, { role: "acrPull", principalId: args.pullerPrincipalId, scope: registry.id }, this);

    this.ref = image.ref;
    this.registryLoginServer = registry.loginServer;
    this.registerOutputs({ ref: this.ref, registryLoginServer: this.registryLoginServer });
  }
}
