// The gate's temporary access and the after-switch cleanup (components/temporary-access.ts) as the engine runs
// them, with the cloud CLI replaced by a script on PATH that records each call and answers like the EC2 API for a
// rule that exists already or is gone already (error codes InvalidPermission.Duplicate / InvalidPermission.NotFound,
// EC2 API Reference, "Error codes").
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { afterSwitchProvider, runnerAccessProvider, type RunnerAccessInputs, type RunnerAccessOutputs } from "../../../components/temporary-access.ts";

let bin = "";
let calls = "";
const rule = (verb: string) => ["aws", "ec2", `${verb}-security-group-ingress`, "--group-id", "sg-0123456789abcdef0", "--ip-permissions", "IpProtocol=tcp,FromPort=8443,ToPort=8443,IpRanges=[{CidrIp={cidr}}]"];
const inputs = (generation: string): RunnerAccessInputs => ({
    api: "orders",
    generation,
    open: rule("authorize"),
    close: rule("revoke"),
    alreadyDone: ["InvalidPermission.Duplicate", "InvalidPermission.NotFound"],
});
const recorded = (): string[] => readFileSync(calls, "utf8").split("\n").filter(Boolean);

before(() => {
    bin = mkdtempSync(join(tmpdir(), "repave-access-cli-"));
    calls = join(bin, "calls.log");
    // Answers like EC2: a second authorize of the same CIDR is a duplicate, a revoke of a missing one not found;
    // a "broken" file makes every call fail like a CLI without credentials.
    writeFileSync(
        join(bin, "aws"),
        `#!/bin/sh
if [ -e "${bin}/broken" ]; then echo "Unable to locate credentials" >&2; exit 255; fi
echo "aws $*" >> "${calls}"
state="${bin}/rules"; touch "$state"; cidr=$(echo "$*" | sed -n 's/.*CidrIp=\\([^},]*\\).*/\\1/p')
case "$2" in
  authorize-security-group-ingress) if grep -qx "$cidr" "$state"; then echo "An error occurred (InvalidPermission.Duplicate)" >&2; exit 254; fi; echo "$cidr" >> "$state";;
  revoke-security-group-ingress) if ! grep -qx "$cidr" "$state"; then echo "An error occurred (InvalidPermission.NotFound)" >&2; exit 254; fi; grep -vx "$cidr" "$state" > "$state.new"; mv "$state.new" "$state";;
esac
`,
    );
    chmodSync(join(bin, "aws"), 0o755);
    process.env["PATH"] = `${bin}:${process.env["PATH"] ?? ""}`;
});

after(() => rmSync(bin, { recursive: true, force: true }));

const reset = () => {
    writeFileSync(calls, "");
    writeFileSync(join(bin, "rules"), "");
    rmSync(join(bin, "broken"), { force: true });
};
const open = () => readFileSync(join(bin, "rules"), "utf8").split("\n").filter(Boolean);

describe("gate access for a runner without a stable address (issue #13 item 9)", () => {
    it("opens the test listener to the runner's /32 for the gate, and the after-switch step closes it", async () => {
        reset();
        process.env["REPAVE_RUNNER_IP"] = "198.51.100.7";
        const created = (await runnerAccessProvider.create(inputs("g1"))).outs as RunnerAccessOutputs;
        assert.equal(created.cidr, "198.51.100.7/32");
        assert.deepEqual(open(), ["198.51.100.7/32"]);
        const closed = await afterSwitchProvider.create({ api: "orders", generation: "g1", commands: [created.close], cidr: created.cidr, alreadyDone: created.alreadyDone });
        assert.deepEqual((closed.outs as { problems: string[] }).problems, []);
        assert.deepEqual(open(), [], "nothing stays open after the deploy");
    });

    it("a deploy that failed before closing: the next one closes the old address before opening its own", async () => {
        reset();
        process.env["REPAVE_RUNNER_IP"] = "198.51.100.7";
        const failed = (await runnerAccessProvider.create(inputs("g1"))).outs as RunnerAccessOutputs;
        process.env["REPAVE_RUNNER_IP"] = "203.0.113.9";
        const next = (await runnerAccessProvider.update!("runner-access-orders", failed, inputs("g2"))).outs as RunnerAccessOutputs;
        assert.equal(next.cidr, "203.0.113.9/32");
        assert.deepEqual(open(), ["203.0.113.9/32"], "the failed deploy's runner is no longer allowed");
    });

    it("a retry on the same runner is no failure (the rule exists already), nor is closing what is closed", async () => {
        reset();
        process.env["REPAVE_RUNNER_IP"] = "198.51.100.7";
        const first = (await runnerAccessProvider.create(inputs("g1"))).outs as RunnerAccessOutputs;
        await runnerAccessProvider.create(inputs("g1"));
        const closed = await afterSwitchProvider.create({ api: "orders", generation: "g1", commands: [first.close, first.close], cidr: first.cidr, alreadyDone: first.alreadyDone });
        assert.deepEqual((closed.outs as { problems: string[] }).problems, []);
    });

    it("an address that cannot be opened fails before the gate; one that cannot be closed is reported, not fatal", async () => {
        reset();
        writeFileSync(join(bin, "broken"), "");
        process.env["REPAVE_RUNNER_IP"] = "198.51.100.7";
        await assert.rejects(runnerAccessProvider.create(inputs("g1")), /gate access: could not open the test listener to 198\.51\.100\.7\/32.*Unable to locate credentials/);
        const closed = await afterSwitchProvider.create({ api: "orders", generation: "g1", commands: [rule("revoke")], cidr: "198.51.100.7/32", alreadyDone: [] });
        assert.match((closed.outs as { problems: string[] }).problems.join(), /revoke-security-group-ingress .*198\.51\.100\.7\/32.*Unable to locate credentials/);
    });

    it("refuses a runner address that is not an IP address", async () => {
        reset();
        process.env["REPAVE_RUNNER_IP"] = "runner.example.com";
        await assert.rejects(runnerAccessProvider.create(inputs("g1")), /is not an IP address \(hint: set REPAVE_RUNNER_IP/);
        assert.deepEqual(recorded(), []);
    });
});
