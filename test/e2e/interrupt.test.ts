// I3 with the harshest interruption: SIGKILL of the whole `pulumi up` process group mid-changeover.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LocalStack, processesWith, providerProcessesIn, startLoad, upKilledWhen } from "./harness.ts";

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
            const live = await stack.hello();
            const credential = await stack.credential();
            const load = startLoad(stack.port, () => credential);
            try {
                stack.addBuild("1.2.0");
                await upKilledWhen(stack, when);
                await new Promise((r) => setTimeout(r, 500));

                // Refused: the dead run's lock, or - when the kill landed while the blob library wrote a metadata
                // sidecar of the file backend - a checkpoint that cannot be loaded. recover repairs both.
                const blocked = await stack.up();
                assert.notEqual(blocked.code, 0, "the engine refuses to run over the dead run's lock");
                assert.match(blocked.out, /locked|failed to load checkpoint/);

                // The kill left the dead run's lock file (unless it landed on a sidecar write before the lock):
                // recover must remove it and say so - read back from the backend, not taken from a cancel's exit code.
                const lockedBefore = stack.locks();
                if (/locked/.test(blocked.out)) assert.ok(lockedBefore.length > 0, `the engine said locked, but no lock file: ${blocked.out}`);
                // The killed engine's provider plugins live on (reparented to pid 1, cwd the project folder).
                const leftByKill = providerProcessesIn(stack.dir);
                const recovered = await stack.repave(["recover"]);
                assert.equal(recovered.code, 0, recovered.out);
                assert.deepEqual(providerProcessesIn(stack.dir), [], `provider plugins left after recover (${leftByKill.length} before it)`);
                assert.match(recovered.out, new RegExp(`${leftByKill.length} orphaned provider process\\(es\\) stopped`));
                assert.match(recovered.out, /lock cleared|damaged metadata file\(s\) removed/);
                assert.deepEqual(stack.locks(), [], "no lock file is left");
                if (lockedBefore.length > 0) assert.match(recovered.out, /lock cleared/);
                else assert.match(recovered.out, /lock was free/);
                console.log(recovered.out.trim());

                const rerun = await stack.up();
                assert.equal(rerun.code, 0, rerun.out);
                const now = await stack.hello();
                assert.equal(now.imageVersion, "1.2.0");
                assert.notEqual(now.generation, live.generation);
                // Only the new generation runs: the old live one retired, and no orphan of the killed run survived.
                const running = processesWith(`@${stack.stateDir}`);
                assert.equal(running.length, 2, `processes left: ${running.join(", ")}`);
                assert.equal(processesWith(`--repave-generation=hello/${now.generation}@`).length, 2);
            } finally {
                const report = await load.stop();
                console.log(`load: ${JSON.stringify(report)}`);
                assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
            }
        });
    });
}
