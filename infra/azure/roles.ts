// Azure's built-in roles the programs grant, and the id a role assignment names one by.
import * as authorization from "@pulumi/azure-native/authorization/index.js";
import * as pulumi from "@pulumi/pulumi";

export const BUILT_IN_ROLES = {
  storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
  acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
} as const;

/** Grants a managed identity (a service principal, not the SDK's default "User") a built-in role on `scope`. */
export function grantBuiltInRole(
  name: string,
  args: { readonly role: keyof typeof BUILT_IN_ROLES; readonly principalId: pulumi.Input<string>; readonly scope: pulumi.Input<string> },
  parent: pulumi.Resource,
): authorization.RoleAssignment {
  const subscriptionId = authorization.getClientConfigOutput({ parent }).subscriptionId;
  return new authorization.RoleAssignment(
    name,
    {
      principalId: args.principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES[args.role]}`,
      scope: args.scope,
    },
    { parent },
  );
}
