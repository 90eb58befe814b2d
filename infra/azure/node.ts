// One node: its NIC (static private IP, in the load balancer's pool), its InfluxDB data disk, and the VM
// running InfluxDB, a relay and HAProxy, all set up by cloud-init.
//
// The data disk is its own resource in the VM's zone, attached at a fixed LUN and protected. A change of
// customData replaces the VM (Azure cannot change it in place), deleting the old VM first so the disk,
// which the old VM detaches, can be attached to the new one; the disk itself is never replaced.
import * as compute from "@pulumi/azure-native/compute/index.js";
import * as network from "@pulumi/azure-native/network/index.js";
import * as pulumi from "@pulumi/pulumi";
import type { DataDiskConfig } from "../config.js";
import { COMPONENT_TAG, COMPONENTS } from "../marks.js";
import { DATA_DISK_LUN, type VmNode } from "../vm/plan.js";

export interface InfluxNodeArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly location: pulumi.Input<string>;
  readonly subnetId: pulumi.Input<string>;
  readonly backendPoolId: pulumi.Input<string>;
  readonly node: VmNode;
  readonly vmSize: string;
  readonly dataDisk: DataDiskConfig;
  readonly adminUsername: string;
  readonly sshPublicKey: string;
  /** The user-assigned identity that may read the relay bundle. */
  readonly identityId: pulumi.Input<string>;
  /** The rendered #cloud-config; it holds secrets. */
  readonly userData: pulumi.Input<string>;
}

/** Debian 12: its haproxy (2.6) is the one the tests run against; cloud-init and waagent are in the image. */
const NODE_IMAGE = { publisher: "Debian", offer: "debian-12", sku: "12-gen2", version: "latest" } as const;
const OS_DISK_GB = 64;

export class InfluxNode extends pulumi.ComponentResource {
  readonly vmId: pulumi.Output<string>;
  readonly dataDiskId: pulumi.Output<string>;

  constructor(name: string, args: InfluxNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("influx-ha:azure:InfluxNode", name, {}, opts);
    const { node, dataDisk } = args;
    const common = { resourceGroupName: args.resourceGroupName, location: args.location };
    const zones = node.zone === undefined ? undefined : [node.zone];

    const nic = new network.NetworkInterface(
      `${name}-nic`,
      {
        ...common,
        ipConfigurations: [
          {
            name: "primary",
            primary: true,
            subnet: { id: args.subnetId },
            privateIPAllocationMethod: "Static",
            privateIPAddress: node.privateIp,
            loadBalancerBackendAddressPools: [{ id: args.backendPoolId }],
          },
        ],
      },
      { parent: this },
    );

    const disk = new compute.Disk(
      `${name}-data`,
      {
        ...common,
        zones,
        sku: { name: dataDisk.sku },
        diskSizeGB: dataDisk.sizeGb,
        creationData: { createOption: "Empty" },
        tags: { [COMPONENT_TAG]: COMPONENTS.dataDisk },
        ...(dataDisk.iops === undefined ? {} : { diskIOPSReadWrite: dataDisk.iops }),
        ...(dataDisk.mbps === undefined ? {} : { diskMBpsReadWrite: dataDisk.mbps }),
      },
      { parent: this, protect: dataDisk.protect },
    );

    const vm = new compute.VirtualMachine(
      `${name}-vm`,
      {
        ...common,
        vmName: node.name,
        zones,
        tags: { [COMPONENT_TAG]: COMPONENTS.node },
        hardwareProfile: { vmSize: args.vmSize },
        identity: { type: "UserAssigned", userAssignedIdentities: [args.identityId] },
        securityProfile: { securityType: "TrustedLaunch", uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } },
        ...(dataDisk.sku === "UltraSSD_LRS" ? { additionalCapabilities: { ultraSSDEnabled: true } } : {}),
        storageProfile: {
          imageReference: { ...NODE_IMAGE },
          osDisk: {
            createOption: "FromImage",
            diskSizeGB: OS_DISK_GB,
            managedDisk: { storageAccountType: "Premium_LRS" },
            deleteOption: "Delete",
          },
          dataDisks: [
            {
              lun: DATA_DISK_LUN,
              createOption: "Attach",
              managedDisk: { id: disk.id },
              // InfluxDB's WAL fsyncs; PremiumV2 and Ultra disks allow no host cache at all.
              caching: "None",
              deleteOption: "Detach",
            },
          ],
        },
        osProfile: {
          computerName: node.name,
          adminUsername: args.adminUsername,
          customData: pulumi.secret(pulumi.output(args.userData).apply((text) => Buffer.from(text, "utf8").toString("base64"))),
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            ssh: { publicKeys: [{ path: `/home/${args.adminUsername}/.ssh/authorized_keys`, keyData: args.sshPublicKey }] },
          },
        },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: "Detach" }] },
      },
      { parent: this, replaceOnChanges: ["osProfile.customData"], deleteBeforeReplace: true },
    );

    this.vmId = vm.id;
    this.dataDiskId = disk.id;
    this.registerOutputs({ vmId: this.vmId, dataDiskId: this.dataDiskId });
  }
}
