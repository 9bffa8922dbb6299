// repave's provider plugin on the real engine (#11 item 1): identity from what the user declared, never from a path
// of the checkout - a fresh checkout elsewhere on the same state repaves and keeps its front door (with dynamic
// resources the checkout's path was in the front door's inputs: a replace, refused by the I1 guard) - and `read`
// reports liveness, so `pulumi refresh` shows a dead front door and the next `up` brings it back.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exitCodes } from "../../cli/errors.ts";
import { LocalStack, portOpen } from "./harness.ts";

const frontDoorPid = (stack: LocalStack) => (JSON.parse(readFileSync(join(stack.stateDir, "frontdoor.json"), "utf8")) as { pid: number }).pid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("repave's provider plugin", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("plugin");
        const first = await stack.repave(["run"]);
        assert.equal(first.code, exitCodes.ok, first.out);
    });
    after(async () => stack && (await stack.cleanup()));

    it("a fresh checkout in another folder, on the same state, repaves and keeps the front door", async () => {
        const pid = frontDoorPid(stack);
        const live = await stack.hello();
        const clone = stack.reclone();
        try {
            const plan = await clone.repave(["plan", "--format", "json"]);
            assert.equal(plan.code, exitCodes.repavePending, plan.out);
            assert.doesNotMatch(plan.out, /front door/i, "no front-door change is planned");
            const run = await clone.repave(["run"]);
            assert.equal(run.code, exitCodes.ok, run.out);
            const now = await clone.hello();
            assert.notEqual(now.generation, live.generation, "a new generation serves");
            assert.equal(now.url, live.url);
            assert.equal(frontDoorPid(stack), pid, "the same front door daemon, in the folder it runs from");
        } finally {
            rmSync(clone.dir, { recursive: true, force: true });
        }
    });

    it("refresh shows a dead front door (pid 0), and the next up restarts it on its port", async () => {
        process.kill(frontDoorPid(stack), "SIGKILL");
        // Its HAProxy stops with it (the watchdog): the address goes dark.
        for (let i = 0; i < 50 && (await portOpen(stack.port)); i++) await sleep(100);
        const refreshed = await stack.pulumi(["refresh", "--yes", "--skip-preview", "--stack", stack.stack]);
        assert.equal(refreshed.code, 0, refreshed.out);
        const door = (await stack.exportState()).deployment.resources.find((r) => r.type.endsWith(":FrontDoor"));
        assert.equal(door?.outputs?.["pid"], 0, "the state says the front door is dead");
        const up = await stack.up();
        assert.equal(up.code, 0, up.out);
        assert.equal(await portOpen(stack.port), true);
        assert.notEqual((await stack.exportState()).deployment.resources.find((r) => r.type.endsWith(":FrontDoor"))?.outputs?.["pid"], 0);
    });
});
