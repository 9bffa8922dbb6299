// I3 on the Kubernetes target with the harshest interruption: SIGKILL of the whole `pulumi up` process group
// mid-changeover (the real engine and provider, the embedded or a KUBECONFIG cluster), then `repave recover` and a
// rerun: traffic stays on the live generation throughout, and nothing of the killed run survives in the cluster.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { providerProcessesIn, startLoad, upKilledWhen } from "../harness.ts";
import { clusterEnv, KubernetesStack, kubectl, suite } from "./cluster.ts";

const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);

// Both kills on one stack, one after the other (each rerun's generation is the next one's live): one first deploy,
// one namespace and one destroy for the two, about a minute less of the suite than a stack each.
suite("kubernetes: pulumi up killed mid-changeover", () => {
    let stack: KubernetesStack;
    before(async () => {
        const cluster = clusterEnv();
        stack = await KubernetesStack.create("k8s-kill");
        await stack.prepare(cluster, `${cluster.registry}/repave/sample-api`, "1.1.0");
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
    });
    after(async () => stack && (await stack.cleanup()));

    for (const [stage, when] of [
        // Once the object exists in the cluster (the provider waits for it): a pending create the engine cannot know.
        ["while the gate Jobs run", /hello-gate(-grace)?\s+creating.*Waiting for Job/],
        ["while the candidate Deployment rolls out", /hello-deployment\s+creating.*Waiting/],
    ] as const) {
        it(`killed ${stage}: keeps traffic on the live generation; \`repave recover\` then a rerun converge, nothing of the killed run left`, async () => {
            const live = await stack.hello();
            const credential = await stack.credential();
            const port = stack.nodePort();
            const load = startLoad(port, () => credential, 600, "127.0.0.1", rate);
            try {
                const seen = await upKilledWhen(stack, when);
                const killedGeneration = kubectl(["-n", stack.namespace, "get", "deployments", "-l", `repave.dev/api=hello,repave.dev/generation!=${live.generation}`, "-o", "jsonpath={.items[*].metadata.name}"]).out;
                assert.ok(seen.length > 0);
                await new Promise((r) => setTimeout(r, 500));
                const selector = kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.spec.selector.repave\\.dev/generation}"]).out;
                assert.equal(selector, live.generation, "production still selects the live generation");

                const blocked = await stack.up();
                assert.notEqual(blocked.code, 0, "the engine refuses to run over the dead run's lock");
                assert.match(blocked.out, /locked/);

                const leftByKill = providerProcessesIn(stack.dir);
                const recovered = await stack.repave(["recover"]);
                assert.equal(recovered.code, 0, recovered.out);
                // The killed engine's plugins (the provider, the language host) stop with recover: none idles on.
                assert.deepEqual(providerProcessesIn(stack.dir), [], `plugins left after recover (${leftByKill.length} before it)`);
                assert.match(recovered.out, /lock cleared/);
                const details = (JSON.parse(recovered.out.trim().split("\n").find((l) => l.includes('"step":"recover"')) ?? "{}") as { details?: { pendingOperations?: number; deletedObjects?: string[] } }).details;
                assert.ok((details?.pendingOperations ?? 0) > 0, `the killed run left pending operations: ${recovered.out}`);
                assert.ok((details?.deletedObjects ?? []).length > 0, `recover deleted what they made in the cluster: ${recovered.out}`);
                console.log(`killed generation ${killedGeneration ?? "?"}; ${recovered.out.trim()}`);

                const rerun = await stack.up();
                assert.equal(rerun.code, 0, rerun.out);
                const now = await stack.hello();
                assert.notEqual(now.generation, live.generation);
                // Only the new generation is left: Deployments, Jobs, Secrets and pods of every other are gone.
                assert.deepEqual(stack.names("deployments"), [`hello-${now.generation}`]);
                const others = `repave.dev/api=hello,repave.dev/generation,repave.dev/generation!=${now.generation}`;
                assert.deepEqual(stack.names("jobs", others), [], "no gate Job of the killed or the old generation");
                assert.deepEqual(stack.names("secrets", others), [], "no Secret (key, credential) of the killed or the old generation");
                const deadline = Date.now() + 90_000;
                while (stack.names("pods", others).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
                assert.deepEqual(stack.names("pods", others), [], "no pod of the killed or the old generation");
            } finally {
                const report = await load.stop();
                console.log(`load: ${JSON.stringify(report)}`);
                assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
            }
        });
    }
});
