// I3 with the harshest interruption: SIGKILL of the whole `pulumi up` process group mid-changeover.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LocalStack, startLoad } from "./harness.ts";
import { killedUpRecoverRerun } from "./state-cases.ts";

for (const [stage, when] of [
    ["while the candidate generation is being created", /hello-generation\s+creating replacement/],
    ["while the gate runs on the test listener", /hello-gate\s+updating/],
] as const) {
    describe(`pulumi up killed ${stage}`, () => {
        let stack: LocalStack;
        before(async () => {
            stack = await LocalStack.create("kill");
        });
        after(async () => stack && (await stack.cleanup()));

        it("keeps traffic on the live generation; `repave recover` then a rerun converge with 0 failed requests", async () => {
            const first = await stack.up();
            assert.equal(first.code, 0, first.out);
            const credential = await stack.credential();
            const load = startLoad(stack.port, () => credential);
            try {
                await killedUpRecoverRerun(stack, when);
            } finally {
                const report = await load.stop();
                console.log(`load: ${JSON.stringify(report)}`);
                assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
            }
        });
    });
}
