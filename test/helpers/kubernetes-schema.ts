// Validates a Kubernetes object against its OpenAPI schema, with kubernetes-models' generated validators.
/** Throws, naming the object and the failing fields, when the schema refuses it. */
export async function validateKubernetesObject(object: Record<string, any>): Promise<void> {
  const { apiVersion, kind } = object as { apiVersion: string; kind: string };
  // Resolved at run time from the object's own apiVersion and kind, so vite is told not to analyse it.
  const module = (await import(/* @vite-ignore */ `kubernetes-models/${apiVersion}/${kind}`)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >;
  const Model = module[kind];
  if (Model === undefined) throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  try {
    new Model(object).validate();
  } catch (err) {
    throw new Error(`${apiVersion} ${kind} ${object.metadata?.name ?? "(auto-named)"}: ${(err as Error).message}`);
  }
}
