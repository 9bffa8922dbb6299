// Interrupting a run the ways people do, on the real engine: Ctrl-C in a terminal (SIGINT to the whole foreground
// process group), a signal to the driver's pid alone (a CI runner's cancel), at each changeover step; and
// `repave recover` run while another update is live. Each must leave the stack unlocked and consistent, traffic
// on a gated generation with 0 failed requests, and the next run converging.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { collect, LocalStack, processesWith, startLoad } from "./harness.ts";
import { secondRunAndRecoverRefused } from "./state-cases.ts";

describe("interrupting a run", () => {
    let stack: LocalStack;
    let credential = "";
    let load: ReturnType<typeof startLoad>;

    before(async () => {
        stack = await LocalStack.create("cancel");
        stack.api = { ...stack.api, keepWarmSeconds: 3 }; // a bake long enough to be interrupted in
        stack.writeConfig();
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        credential = await stack.liveCredential();
        load = startLoad(stack.port, () => credential, 400);
    });
    after(async () => {
        const report = await load?.stop();
        await stack?.cleanup();
        if (report) assert.equal(report.failed, 0, `failed requests across every interruption: ${JSON.stringify(report)}`);
    });

    /** Converges with a plain update and checks that only the serving generation's processes remain. */
    async function convergesAfter(what: string): Promise<void> {
        assert.deepEqual(stack.locks(), [], `${what}: the stack is left locked`);
        const state = await stack.exportState();
        assert.deepEqual(state.deployment.pending_operations ?? [], [], `${what}: pending operations left in state`);
        const rerun = await stack.up();
        assert.equal(rerun.code, 0, `${what}: the next update is refused:\n${rerun.out}`);
        credential = await stack.liveCredential();
        const live = await stack.hello();
        assert.equal(processesWith(`@${stack.stateDir}`).length, live.capacity, `${what}: processes left besides the live generation`);
    }

    for (const [step, marker] of [
        ["the candidate is being created", /hello: candidate: starting/],
        ["the gate runs", /hello: gate: image scan/],
        ["the bake runs", /hello: switch: production moves/],
    ] as const) {
        for (const target of ["the process group (Ctrl-C in a terminal)", "the driver's pid (a CI runner's cancel)"] as const) {
            it(`SIGINT to ${target} while ${step}: one clean cancel, unlocked, 0 failed requests`, async () => {
                const child = stack.spawnRepave(["run"], true);
                let seen = "";
                let sent = false;
                child.stderr!.on("data", (d: Buffer) => {
                    seen += d.toString();
                    if (!sent && marker.test(seen)) {
                        sent = true;
                        process.kill(target.startsWith("the process group") ? -child.pid! : child.pid!, "SIGINT");
                    }
                });
                const result = await collect(child);
                const out = seen + result.out;
                assert.ok(sent, `never reached "${step}":\n${out}`);
                assert.equal(result.code, 130, `the driver reports a cancel (exit 130), got ${result.code}:\n${out}`);
                assert.doesNotMatch(out, /press \^C again|terminat/i, "the engine was told to terminate, not to cancel");
                assert.match(out, /cancelled: the engine stopped at a safe point/);
                credential = await stack.liveCredential();
                await convergesAfter(`SIGINT to ${target} while ${step}`);
            });
        }
    }

    it("recover refuses while another update is live, and that update completes", async () => {
        await secondRunAndRecoverRefused(stack);
        credential = await stack.liveCredential();
        await convergesAfter("recover during a live update");
    });
});
