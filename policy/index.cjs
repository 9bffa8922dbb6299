// The policy pack's entry: `pulumi preview --policy-pack policy` (or `up`). The policy host require()s this file
// and awaits what it exports; the rules are TypeScript that Node runs itself (type stripping), loaded with import()
// - a require() of a .ts file would go through the host's vendored ts-node and an old compiler instead.
"use strict";

module.exports = async function loadPack() {
    const { PolicyPack } = require("@pulumi/policy");
    const { policies } = await import("./policies.ts");
    new PolicyPack("repave", { enforcementLevel: "mandatory", policies });
};
