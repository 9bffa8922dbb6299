// The bake with switch-back, on the real engine, provider and cluster: a build that passes its gate but fails once it
// takes production traffic (it answers 500 after a few hundred requests - a leak, a bad config read late) must end
// with production back on the previous generation, within a bounded number of failed requests, and the update
// failed; a rerun with a good build then converges with 0 failed requests (the bake's patch of the selector does not
// stand in the way of the next switch).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { repoRoot, startLoad } from "../harness.ts";
import { call, clusterEnv, KubernetesStack, kubectl, Registry, suite, type ClusterEnv } from "./cluster.ts";

const name = "repave/sample-api";
const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);
/** The bake window: long enough for production load to reach the bad build's failure point several times over. */
const keepWarmSeconds = 20;
/** After this many /v1/hello requests per process the bad build answers 500 (the gate sends far fewer). */
const failAfter = 300;
/**
 * The failure budget of a bad build in production: from its first 500 until kube-proxy no longer sends it traffic,
 * at most one probe interval (1 s) + one probe round (timeout 2 s) + the selector patch and kube-proxy's resync
 * (~2 s on this cluster) - 5 s, plus 5 s of slack for a loaded machine: 10 s of the whole load's rate.
 */
const budgetSeconds = 10;

const selectorOf = (stack: KubernetesStack) => kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.spec.selector.repave\\.dev/generation}"]).out;

suite("kubernetes: a build that fails after the switch (bake with switch-back)", () => {
    let stack: KubernetesStack;
    let cluster: ClusterEnv;
    let registry: Registry;
    before(async () => {
        cluster = clusterEnv();
        registry = new Registry(cluster);
        stack = await KubernetesStack.create("k8s-bake");
        await registry.tag(name, "1.1.0", stack.namespaceTag());
        await stack.prepare(cluster, `${cluster.registry}/${name}`, stack.namespaceTag());
        stack.api = { ...stack.api, keepWarmSeconds };
        stack.writeConfig();
    });
    after(async () => stack && (await stack.cleanup()));

    it("switches production back to the previous generation within the failure budget, fails the update, and a rerun converges with 0 failed requests", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const live = await stack.hello();
        const credential = await stack.credential();
        const ca = await stack.caPem();
        const port = stack.nodePort();

        // The bad build: /v1/hello answers 500 once this process served `failAfter` of them; health stays green.
        const server = readFileSync(join(repoRoot, "images/sample-api/1.1.0/server.mjs"), "utf8").replace(
            'if (req.method === "GET" && url.pathname === "/v1/hello") {',
            `if (req.method === "GET" && url.pathname === "/v1/hello" && (globalThis.served = (globalThis.served ?? 0) + 1) > ${failAfter}) return send(res, 500, { error: "broken after ${failAfter} requests" });\n  if (req.method === "GET" && url.pathname === "/v1/hello") {`,
        );
        assert.match(server, /broken after/);
        await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/server.mjs": server });

        const load = startLoad(port, () => credential, 600, "127.0.0.1", rate);
        const t0 = Date.now();
        let bad;
        try {
            bad = await stack.up();
        } finally {
            const during = await load.stop();
            const seconds = (Date.now() - t0) / 1000;
            console.log(`load across the failed update (${seconds.toFixed(0)} s): ${JSON.stringify(during)}; budget ${budgetSeconds} s x ${rate}/s = ${budgetSeconds * rate}`);
            assert.ok(during.requests > 1000, `enough load to reach the failure point: ${during.requests}`);
            assert.ok(during.failed > 0, "the bad build did fail in production (else this test proves nothing)");
            assert.ok(during.failed <= budgetSeconds * rate, `failed requests within the bake budget: ${during.failed} > ${budgetSeconds * rate}`);
        }
        assert.notEqual(bad.code, 0, "the update fails in the bake");
        console.log(`failed update, its bake lines:\n${bad.out.split("\n").filter((l) => /bake/i.test(l)).slice(0, 12).join("\n")}`);
        assert.match(bad.out, /hello-bake/, "the bake Job failed the update");
        assert.match(bad.out, /switched back to|production is back on/, "and says where production is");
        assert.equal(selectorOf(stack), live.generation, "the production Service selects the previous generation again");
        assert.equal(stack.names("deployments", `repave.dev/generation=${live.generation}`).length, 1, "the previous generation still runs");

        // Nothing fails after the switch-back: production is the previous generation, for every request.
        const afterLoad = startLoad(port, () => credential, 60, "127.0.0.1", rate);
        await new Promise((r) => setTimeout(r, 10_000));
        const settled = await afterLoad.stop();
        console.log(`load after the switch-back (10 s): ${JSON.stringify(settled)}`);
        assert.equal(settled.failed, 0, `0 failed requests beyond the bake budget: ${JSON.stringify(settled)}`);
        assert.ok(settled.requests > 1000);
        const served = await call(port, ca, credential);
        assert.equal(served.status, 200);
        assert.equal(served.generation, live.generation);
        assert.equal(await stack.credential(), credential, "no promotion: callers keep the credential production accepts");

        // A good build behind the tag: the rerun converges under load (its switch moves the selector again).
        await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/server.mjs": readFileSync(join(repoRoot, "images/sample-api/1.1.0/server.mjs"), "utf8"), "app/build.txt": "good\n" });
        let current = credential;
        const rerunLoad = startLoad(port, () => current, 600, "127.0.0.1", rate);
        try {
            const rerun = await stack.up();
            assert.equal(rerun.code, 0, rerun.out);
            const now = await stack.hello();
            assert.notEqual(now.generation, live.generation);
            current = await stack.credential();
            assert.equal(selectorOf(stack), now.generation);
            assert.equal((await call(port, ca, current)).generation, now.generation);
            assert.deepEqual(stack.names("deployments"), [`hello-${now.generation}`], "the previous and the failed generations are gone");
        } finally {
            const report = await rerunLoad.stop();
            console.log(`load across the rerun: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        }
    });
});
