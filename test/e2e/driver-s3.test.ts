// The driver's state-sensitive cases with the state in an S3-compatible bucket (versitygw on loopback, one server
// for the file), as platform teams keep it: plan, a second run refused while one holds the lock, recover after a
// SIGKILL of the engine - reading the bucket's lock objects through the S3 API, so without --force - and rollback.
// The cases are the file backend's own (state-cases.ts); only the backend differs.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gatewayBinary, gatewayVersion, startGateway, type Gateway } from "./fleet-s3-gateway.ts";
import { LocalStack } from "./harness.ts";
import { killedUpRecoverRerun, planOnFreshStack, rollbackUnderLoad, runThenPlan, secondRunAndRecoverRefused, type Repave } from "./state-cases.ts";

describe("repave driver with state in an S3-compatible bucket (versitygw)", () => {
    const root = mkdtempSync(join(tmpdir(), "repave-s3-driver-root-"));
    const builtAt = new Date(Date.now() - 3 * 86_400_000);
    let gateway: Gateway;
    let stack: LocalStack;
    const repave: Repave = (...args) => stack.repave(args);

    before(async () => {
        const { bin, buildSeconds } = await gatewayBinary();
        console.log(`versitygw ${gatewayVersion}: ${buildSeconds ? `built in ${buildSeconds.toFixed(1)} s` : "cached"}`);
        gateway = await startGateway(bin, root, ["state"]);
        stack = await LocalStack.create("driver-s3", gateway.stateBackend("state"));
        stack.prebuild("1.1.0", builtAt);
    });
    after(async () => {
        if (stack) await stack.cleanup();
        if (gateway) await gateway.stop();
        rmSync(root, { recursive: true, force: true });
    });

    it("plan on a fresh stack, run, plan again: the state is in the bucket", async () => {
        await planOnFreshStack(stack, repave);
        await runThenPlan(stack, repave, builtAt);
        assert.ok(existsSync(join(root, "state", ".pulumi", "stacks", "repave", `${stack.stack}.json`)), "the checkpoint is an object of the bucket");
        assert.ok(!existsSync(join(stack.dir, ".pulumi-state", ".pulumi")), "nothing in a file backend");
    });

    it("a second run while one holds the lock is refused (exit 4), so is recover, and the live update completes", () => secondRunAndRecoverRefused(stack));

    it("pulumi up SIGKILLed mid-changeover: recover reads the bucket's lock object and clears it without --force; a rerun converges", () =>
        killedUpRecoverRerun(stack, /hello-generation\s+creating replacement/));

    it("rollback redeploys the previous image as a new gated generation, with 0 failed requests", async () => {
        await rollbackUnderLoad(stack, repave);
    });
});
