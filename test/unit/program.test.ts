// The program's stack-level settings: `repave:protectFrontDoor` reaches the cloud targets' components and is refused,
// with nothing registered, where a target cannot honour it (a setting silently ignored protects nothing).
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorProtection } from "../../components/program.ts";

const withConfig = (value: string | undefined) => {
    pulumi.runtime.setAllConfig(value === undefined ? {} : { "repave:protectFrontDoor": value });
    return new pulumi.Config("repave");
};

describe("repave:protectFrontDoor", () => {
    afterEach(() => pulumi.runtime.setAllConfig({}));

    it("is off unless set, and read as a boolean on aws and gcp", () => {
        assert.equal(frontDoorProtection(withConfig(undefined), "aws"), false);
        assert.equal(frontDoorProtection(withConfig("true"), "aws"), true);
        assert.equal(frontDoorProtection(withConfig("true"), "gcp"), true);
        assert.equal(frontDoorProtection(withConfig("false"), "gcp"), false);
    });

    it("is refused on a target that cannot honour it, and when it is not a boolean", () => {
        assert.throws(() => frontDoorProtection(withConfig("true"), "local"), /the local target does not support it yet/);
        assert.throws(() => frontDoorProtection(withConfig("true"), "kubernetes"), /the kubernetes target does not support it yet/);
        assert.equal(frontDoorProtection(withConfig("false"), "local"), false);
        assert.throws(() => frontDoorProtection(withConfig('"yes"'), "aws"), /repave:protectFrontDoor: expected true or false, got "yes"/);
    });
});
