// A deploy that would replace or delete part of a deployed front door, on the real engine and the local target:
// `repave plan` names it and exits 8; `repave run` refuses it with nothing changed (the front door keeps serving on
// its address) unless --allow-front-door-change, which then moves it in one update.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exitCodes } from "../../cli/errors.ts";
import type { Plan } from "../../cli/plan.ts";
import { LocalStack, freePort, portOpen, processesWith } from "./harness.ts";

describe("a change to a deployed front door", () => {
    let stack: LocalStack;
    let oldPort: number;
    let newPort: number;

    before(async () => {
        stack = await LocalStack.create("frontdoor-change");
        oldPort = stack.port;
        const first = await stack.repave(["run"]);
        assert.equal(first.code, exitCodes.ok, first.out);
        // The front door's port is its identity: another port replaces it (and moves the API's address).
        newPort = await freePort();
        stack.api = { ...stack.api, local: { port: newPort, testPort: stack.testPort } };
        stack.writeConfig();
    });
    after(async () => stack && (await stack.cleanup()));

    it("repave plan lists the replaced front door and exits 8", async () => {
        const out = join(stack.dir, "plan.json");
        const r = await stack.repave(["plan", "--format", "json", "--out", out]);
        assert.equal(r.code, exitCodes.frontDoorChange, r.out);
        const plan = JSON.parse(readFileSync(out, "utf8")) as Plan;
        assert.equal(plan.frontDoorChanged, true);
        assert.deepEqual(plan.apis[0]!.frontDoorChanges, [{ name: "hello-front-door", type: "local:FrontDoor", op: "replace" }]);
        assert.match(r.out, /would replace or delete part of the front door \(I4\): hello: replace hello-front-door/);
    });

    it("repave run refuses it (exit 8) and changes nothing: the front door still serves on its old port", async () => {
        const generation = (await stack.hello()).generation;
        const r = await stack.repave(["run"]);
        assert.equal(r.code, exitCodes.frontDoorChange, r.out);
        assert.match(r.out, /refused: .*hello: replace hello-front-door .*--allow-front-door-change/);
        assert.equal((await stack.hello()).generation, generation, "no update ran");
        assert.equal(await portOpen(oldPort), true, "the deployed front door still listens");
        assert.equal(await portOpen(newPort), false);
    });

    it("with --allow-front-door-change the update moves the front door: the API serves on the new port, the old one is closed and its daemon gone", async () => {
        const r = await stack.repave(["run", "--allow-front-door-change"]);
        assert.equal(r.code, exitCodes.ok, r.out);
        assert.doesNotMatch(r.out, /refused: this deploy would replace/);
        const now = await stack.hello();
        assert.equal(now.url, `https://localhost:${newPort}`);
        assert.equal(await portOpen(newPort), true);
        assert.equal(await portOpen(oldPort), false, "the old address is closed");
        // One front door daemon for the stack: the replaced one stopped with its HAProxy (none left behind).
        assert.equal(processesWith(`--repave-frontdoor=${stack.stateDir}`).length, 1);
    });
});
