// A Job that creates the admin user and the configured databases on every replica, with the same script
// the VMs run (influxdb/bootstrap-replicas.sh), in the InfluxDB image (bash and curl). It runs again
// whenever its inputs change: a new database, a new replica.
import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { hardenedContainer, placement, POD_SECURITY } from "./pod.js";
import { componentLabels, PATHS, type KubernetesPlan } from "./plan.js";

const BOOTSTRAP_SCRIPT = readFileSync(new URL("../../influxdb/bootstrap-replicas.sh", import.meta.url), "utf8");
// A replica that is new may wait for its volume and its image: 10 minutes of /ping before giving up.
const PING_ATTEMPTS = 300;

export interface DatabaseBootstrapArgs {
  readonly plan: KubernetesPlan;
  readonly namespace: pulumi.Input<string>;
  readonly image: string;
  /** Keys username, password and create-admin.influxql. */
  readonly adminSecretName: pulumi.Input<string>;
  /** The replicas' StatefulSet and Services: Pulumi waits for them to be ready, so the Job seldom waits for /ping. */
  readonly replicas: readonly pulumi.Resource[];
}

const labels = componentLabels("bootstrap");

export class DatabaseBootstrap extends pulumi.ComponentResource {
  readonly job: k8s.batch.v1.Job;

  constructor(name: string, args: DatabaseBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:k8s:DatabaseBootstrap", name, {}, opts);
    const { plan, namespace } = args;

    const files = new k8s.core.v1.ConfigMap(
      `${name}-files`,
      {
        metadata: { namespace, labels },
        data: { "bootstrap-replicas.sh": BOOTSTRAP_SCRIPT, "create-databases.influxql": plan.createDatabases },
      },
      { parent: this },
    );

    this.job = new k8s.batch.v1.Job(
      `${name}-job`,
      {
        metadata: { namespace, labels },
        spec: {
          backoffLimit: 4,
          activeDeadlineSeconds: 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              securityContext: POD_SECURITY,
              ...placement(plan, "bootstrap", "prefer-spread"),
              containers: [
                hardenedContainer({
                  name: "bootstrap",
                  image: args.image,
                  command: ["bash", `${PATHS.bootstrapDir}/bootstrap-replicas.sh`, ...plan.replicaUrls],
                  env: [
                    { name: "INFLUX_ADMIN_USER", valueFrom: { secretKeyRef: { name: args.adminSecretName, key: "username" } } },
                    { name: "INFLUX_ADMIN_PASSWORD_FILE", value: `${PATHS.bootstrapSecretDir}/password` },
                    { name: "CREATE_ADMIN_FILE", value: `${PATHS.bootstrapSecretDir}/create-admin.influxql` },
                    { name: "CREATE_DATABASES_FILE", value: `${PATHS.bootstrapDir}/create-databases.influxql` },
                    { name: "PING_ATTEMPTS", value: String(PING_ATTEMPTS) },
                  ],
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "128Mi" } },
                  volumeMounts: [
                    { name: "files", mountPath: PATHS.bootstrapDir, readOnly: true },
                    { name: "secret", mountPath: PATHS.bootstrapSecretDir, readOnly: true },
                    // mktemp's answers; the root filesystem is read-only.
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                }),
              ],
              volumes: [
                { name: "files", configMap: { name: files.metadata.name } },
                // Readable by the pod's group (fsGroup) only.
                { name: "secret", secret: { secretName: args.adminSecretName, defaultMode: 0o440 } },
                { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
              ],
            },
          },
        },
      },
      { parent: this, dependsOn: [...args.replicas] },
    );

    this.registerOutputs({ jobName: this.job.metadata.name });
  }
}
