// The policy pack Pulumi serves: `pulumi preview --policy-pack infra/policy` (index.cjs loads this file).
import { PolicyPack } from "@pulumi/policy";
import { INFLUX_HA_POLICIES } from "./rules.js";

new PolicyPack("influx-ha", { policies: INFLUX_HA_POLICIES });
