// Scheduled rotation on the real engine: the local CA and the front door's admin token are replaced in place by
// the first deploy after their period, with overlap - a client that trusts the CA bundle it fetched before keeps
// verifying every answer through the switch, and the admin token before the current one keeps working until the
// next rotation (old resources in state still hold it), never longer.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { frontDoorClient } from "../../components/local/changeover.ts";
import { LocalStack, verifiedCall } from "./harness.ts";

const period = 12;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pems = (bundle: string) => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

describe("scheduled rotation of the local CA and the admin token", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("rotation");
        stack.api = { ...stack.api, local: { port: stack.port, testPort: stack.testPort, caRotation: `${period}s`, adminTokenRotation: `${period}s` } };
        stack.writeConfig();
    });
    after(async () => stack && (await stack.cleanup()));

    it("rotates both in place, with overlap; a client holding the old bundle sees no failure", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const bundle1 = await stack.caPem();
        const token1 = await stack.frontDoorAdminToken();
        const credential = await stack.credential();
        const frontDoorUrn = (await stack.hello()).frontDoorUrn;
        assert.equal(pems(bundle1).length, 2, "the bundle holds the signing CA and the next");

        await sleep((period + 1) * 1000);
        let calls = 0;
        const failures: number[] = [];
        let running = true;
        const client = (async () => {
            while (running) {
                const { status } = await verifiedCall(stack.port, bundle1, credential);
                calls++;
                if (status !== 200) failures.push(status);
                await sleep(50);
            }
        })();
        const second = await stack.up();
        running = false;
        await client;
        assert.equal(second.code, 0, second.out);
        assert.ok(calls > 20, `the old-bundle client kept calling (${calls} calls)`);
        assert.deepEqual(failures, [], "a client with the bundle from before the rotation verified every answer");

        const bundle2 = await stack.caPem();
        assert.notEqual(bundle2, bundle1);
        assert.equal(pems(bundle2)[0], pems(bundle1)[1], "the CA published a period ago now signs");
        assert.equal((await stack.hello()).frontDoorUrn, frontDoorUrn, "rotated in place: the front door is the same");
        const token2 = await stack.frontDoorAdminToken();
        assert.notEqual(token2, token1);
        await frontDoorClient(stack.stateDir, token1).state(); // the previous token: still accepted

        await sleep((period + 1) * 1000);
        const third = await stack.up();
        assert.equal(third.code, 0, third.out);
        const token3 = await stack.frontDoorAdminToken();
        assert.notEqual(token3, token2);
        await assert.rejects(frontDoorClient(stack.stateDir, token1).state(), /401/, "two rotations old: refused");
        await frontDoorClient(stack.stateDir, token2).state();
        assert.equal((await verifiedCall(stack.port, bundle2, await stack.credential())).status, 200, "a client with the previous bundle still verifies");
    });
});
