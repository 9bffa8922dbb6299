// What the driver says when the engine fails: one line, then - when the engine said more (a process's log, a hint) -
// that text. The fixture is the output of a real `pulumi up` whose front door could not bind its port.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classify, errorDetail, exitCodes } from "../../cli/errors.ts";

const engineOutput = [
    "Updating (e2e):",
    " +  repave:local:FrontDoor hello-front-door creating (0s) error: front door for hello did not start on 127.0.0.1:33747/46255: process 25167 exited (code 3) before it was ready; its log ends with:",
    " +  repave:local:FrontDoor hello-front-door **creating failed** error: front door for hello did not start on 127.0.0.1:33747/46255: process 25167 exited (code 3) before it was ready; its log ends with:",
    " +  pulumi:pulumi:Stack repave-e2e creating (1s) error: update failed",
    " +  pulumi:pulumi:Stack repave-e2e **creating failed** 1 error",
    "Diagnostics:",
    "  pulumi:pulumi:Stack (repave-e2e):",
    "    error: update failed",
    "",
    "  repave:local:FrontDoor (hello-front-door):",
    "    error: front door for hello did not start on 127.0.0.1:33747/46255: process 25167 exited (code 3) before it was ready; its log ends with:",
    "    [ALERT]    (25185) : Binding [/tmp/s/haproxy.cfg:45] for frontend production: cannot bind socket (Address already in use) for [127.0.0.1:33747]",
    "    front door: cannot start: HAProxy exited at start (its log is above)",
    "    ",
    "    (hint: is another process using these ports? choose others with local.port / local.testPort)",
    "",
    "Resources:",
    "    + 5 created",
    "    2 errored",
].join("\n");

describe("the driver's account of a failed update", () => {
    it("says the first error in one line, and the rest of that resource's message below it", () => {
        const err = classify(new Error(engineOutput), "repave run");
        assert.equal(err.exitCode, exitCodes.failed);
        assert.match(err.message, /^repave run: front door for hello did not start .* its log ends with:$/);
        assert.equal(
            err.detail,
            [
                "[ALERT]    (25185) : Binding [/tmp/s/haproxy.cfg:45] for frontend production: cannot bind socket (Address already in use) for [127.0.0.1:33747]",
                "front door: cannot start: HAProxy exited at start (its log is above)",
                "",
                "(hint: is another process using these ports? choose others with local.port / local.testPort)",
            ].join("\n"),
        );
    });

    it("takes the detail from the error the line reports, never from another resource's listed before it", () => {
        const twoErrors = engineOutput.replace(
            "Diagnostics:\n",
            "Diagnostics:\n  repave:local:Gate (hello-gate):\n    error: another failure\n    with its own second line\n\n",
        );
        const err = classify(new Error(twoErrors), "repave run");
        assert.match(err.message, /^repave run: front door for hello did not start/);
        assert.match(err.detail ?? "", /^\[ALERT\]/);
        assert.doesNotMatch(err.detail ?? "", /its own second line/);
    });

    it("adds nothing when the engine said nothing more, or printed no Diagnostics section", () => {
        assert.equal(errorDetail("Diagnostics:\n  pulumi:pulumi:Stack (s):\n    error: update failed\n\nResources:\n"), undefined);
        assert.equal(errorDetail("Diagnostics:\n  r (x):\n    error: one line only\n\nResources:\n"), undefined);
        assert.equal(errorDetail(engineOutput.split("Diagnostics:")[0]!), undefined);
        assert.equal(classify(new Error("error: boom"), "repave run").detail, undefined);
    });
});
