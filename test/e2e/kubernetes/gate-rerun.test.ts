// A gate Job that failed for a passing reason (its pod evicted mid-probe) must not wedge the generation: a rerun of
// the same deploy (same REPAVE_DEPLOY_ID and digest: the same generation, the same Job name) gates it again.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { collect, startLoad } from "../harness.ts";
import { clusterEnv, KubernetesStack, kubectl, suite } from "./cluster.ts";

const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);

suite("kubernetes: a gate Job that failed for a passing reason, rerun for the same generation", () => {
    let stack: KubernetesStack;
    before(async () => {
        const cluster = clusterEnv();
        stack = await KubernetesStack.create("k8s-rerun");
        await stack.prepare(cluster, `${cluster.registry}/repave/sample-api`, "1.1.0");
        // The gate's pod must still be running when the test evicts it: the default probes finish in about a second,
        // which a fast machine's eviction missed (the pod had completed, the Job succeeded, the update passed). A
        // positive probe the sample API answers after 3 s (`delayMs`, within the runner's 5 s request timeout)
        // keeps every gate pod running for at least that long.
        stack.api = {
            ...stack.api,
            probes: {
                intervalSeconds: 1,
                positive: [
                    { name: "hello-authenticated", path: "/v1/hello", auth: "valid", expectStatus: 200, expectBodyContains: "hello" },
                    { name: "hello-slow", path: "/v1/hello?delayMs=3000", auth: "valid", expectStatus: 200, expectBodyContains: "hello" },
                ],
            },
        };
        stack.writeConfig();
    });
    after(async () => stack && (await stack.cleanup()));

    it("fails the update with traffic on the live generation, then the rerun gates the same generation and converges", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const live = await stack.hello();
        const credential = await stack.credential();
        const load = startLoad(stack.nodePort(), () => credential, 600, "127.0.0.1", rate);
        try {
            stack.setEnv("REPAVE_DEPLOY_ID", "rerun-1");
            // Start the deploy; as soon as a gate Job's pod exists, delete it (an eviction): backoffLimit 0 fails the Job.
            const child = stack.spawnPulumi(["up", "--yes", "--skip-preview", "--stack", stack.stack]);
            const result = collect(child);
            let evicted = "";
            const deadline = Date.now() + 240_000;
            while (!evicted && Date.now() < deadline) {
                // (The live generation's gate pods stay, Completed, as long as its Jobs: not those.)
                const jobs = stack.names("jobs", `repave.dev/api=hello,repave.dev/generation!=${live.generation}`);
                // Only pods that have not finished: deleting a Succeeded pod fails nothing.
                const pods = jobs.length > 0 ? stack.names("pods", `job-name in (${jobs.join(",")})`, "status.phase!=Succeeded,status.phase!=Failed") : [];
                if (pods.length > 0) {
                    const r = kubectl(["-n", stack.namespace, "delete", "pod", ...pods, "--wait=false"]);
                    assert.equal(r.code, 0, r.out);
                    evicted = pods.join(", ");
                }
                await new Promise((r) => setTimeout(r, 200));
            }
            assert.ok(evicted, "a gate pod appeared");
            const failed = await result;
            assert.notEqual(failed.code, 0, `the update fails at the gate:\n${failed.out}`);
            const candidate = kubectl(["-n", stack.namespace, "get", "jobs", "-l", `repave.dev/api=hello,repave.dev/generation!=${live.generation}`, "-o", "jsonpath={.items[0].metadata.labels.repave\\.dev/generation}"]).out || undefined;
            console.log(`evicted ${evicted}; the failed update:\n${failed.out.split("\n").filter((l) => /gate|error/i.test(l)).slice(0, 12).join("\n")}`);
            const selector = kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.spec.selector.repave\\.dev/generation}"]).out;
            assert.equal(selector, live.generation, "production still selects the live generation");

            const rerun = await stack.up();
            assert.equal(rerun.code, 0, `the rerun of the same deploy converges:\n${rerun.out}`);
            const now = await stack.hello();
            if (candidate) assert.equal(now.generation, candidate, "the same generation, gated again");
            assert.deepEqual(stack.names("deployments"), [`hello-${now.generation}`]);
        } finally {
            const report = await load.stop();
            console.log(`load: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        }
    });
});
