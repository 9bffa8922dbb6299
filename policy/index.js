// The policy pack: `pulumi preview --policy-pack policy` (or `up`). Plain CommonJS on purpose: Pulumi runs policy
// packs through its vendored ts-node, which would compile TypeScript with an old compiler.
"use strict";
const { PolicyPack } = require("@pulumi/policy");
const { policies } = require("./policies.js");

new PolicyPack("repave", { enforcementLevel: "mandatory", policies });
