// The bake with switch-back, on the real engine, provider and cluster: a build that passes its gate but fails once it
// serves production (here: told to break, by a request to its pods, the moment its bake starts - a leak or a bad
// dependency that shows late) must end with production back on the previous generation within a bounded number of
// failed requests, the update failed and nothing promoted; a rerun with a good build then converges with 0 failed
// requests (the bake's patch of the selector does not stand in the way of the next switch).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { repoRoot, startLoad } from "../harness.ts";
import { call, clusterEnv, KubernetesStack, kubectl, kubectlJson, Registry, suite, type ClusterEnv } from "./cluster.ts";

const name = "repave/sample-api";
const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);
/** The bake window: the break comes as its pod starts, so several probe rounds see the broken build. */
const keepWarmSeconds = 10;
/**
 * The failure budget of a bad build in production, for callers that open a new connection per request (keep-alive
 * connections stay on the pods they were opened to, the previous generation's): from the break until kube-proxy no
 * longer sends new connections to it, at most one probe interval (1 s) + one probe round (timeout 2 s) + the
 * selector patch and kube-proxy's resync (~2 s here) - 5 s, plus 5 s of slack for a loaded machine.
 */
const budgetSeconds = 10;
/** The fresh-connection caller's pace (requests per second): a new TLS connection each, so each goes where the Service says. */
const freshRate = 10;

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

        // The bad build: once told (GET /v1/break on a pod, authenticated: this test's build only), /v1/hello answers
        // 500; its health path stays green, so Kubernetes keeps it ready and the gate (run before the break) passes.
        const server = readFileSync(join(repoRoot, "images/sample-api/1.1.0/server.mjs"), "utf8").replace(
            '  if (req.method === "GET" && url.pathname === "/v1/hello") {',
            '  if (url.pathname === "/v1/break") { globalThis.broken = true; return send(res, 200, { broken: true }); }\n  if (globalThis.broken && url.pathname === "/v1/hello") return send(res, 500, { error: "broken" });\n  if (req.method === "GET" && url.pathname === "/v1/hello") {',
        );
        assert.match(server, /globalThis\.broken = true/);
        await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/server.mjs": server });

        const load = startLoad(port, () => credential, 600, "127.0.0.1", rate);
        const fresh = freshClient(port, ca, credential);
        const t0 = Date.now();
        const update = stack.up();
        let broken: string[];
        let bad: Awaited<typeof update>;
        let during: Awaited<ReturnType<typeof load.stop>>;
        let freshDuring: ReturnType<typeof fresh.stop>;
        try {
            // The moment the bake Job's pod exists (after the switch), break every pod of the candidate.
            broken = await breakCandidateWhenBaking(stack, live.generation, credential);
        } finally {
            // Whatever happened, the update ends and the callers stop (a running timer would keep this file alive).
            bad = await update;
            during = await load.stop();
            freshDuring = fresh.stop();
        }
        console.log(`broke ${broken.join(", ")} ${((Date.now() - t0) / 1000).toFixed(0)} s into the update`);
        console.log(`keep-alive load across the failed update: ${JSON.stringify(during)}`);
        console.log(`fresh-connection caller: ${JSON.stringify(freshDuring)}; budget ${budgetSeconds} s x ${freshRate}/s = ${budgetSeconds * freshRate}`);
        assert.notEqual(bad.code, 0, `the update fails in the bake:\n${bad.out.slice(-3000)}`);
        console.log(`failed update, its bake lines:\n${bad.out.split("\n").filter((l) => /bake/i.test(l)).slice(0, 12).join("\n")}`);
        assert.match(bad.out, /hello-bake/, "the bake Job failed the update");
        assert.match(bad.out, /production is back on/, "and says where production is");
        assert.equal(selectorOf(stack), live.generation, "the production Service selects the previous generation again");
        assert.equal(stack.names("deployments", `repave.dev/generation=${live.generation}`).length, 1, "the previous generation still runs");
        assert.ok(freshDuring.failed > 0, `the broken build did take new connections before the switch-back (else this proves nothing): ${JSON.stringify(freshDuring)}`);
        assert.ok(freshDuring.failed <= budgetSeconds * freshRate, `failed requests within the bake budget: ${freshDuring.failed} > ${budgetSeconds * freshRate}`);
        assert.equal(during.failed, 0, `keep-alive callers stayed on the previous generation: ${JSON.stringify(during)}`);

        // Nothing fails after the switch-back: production is the previous generation, for every request.
        const afterLoad = startLoad(port, () => credential, 60, "127.0.0.1", rate);
        const freshAfter = freshClient(port, ca, credential);
        await new Promise((r) => setTimeout(r, 10_000));
        const settled = await afterLoad.stop();
        const freshSettled = freshAfter.stop(); // nothing between start and stop can throw
        console.log(`after the switch-back (10 s): keep-alive ${JSON.stringify(settled)}, fresh connections ${JSON.stringify(freshSettled)}`);
        assert.equal(settled.failed + freshSettled.failed, 0, `0 failed requests beyond the bake budget: ${JSON.stringify({ settled, freshSettled })}`);
        assert.ok(settled.requests > 1000 && freshSettled.requests > 20);
        const served = await call(port, ca, credential);
        assert.equal(served.status, 200);
        assert.equal(served.generation, live.generation);
        // No promotion: the stable Secret callers and the monitor read still holds the credential production accepts.
        const held = kubectl(["-n", stack.namespace, "get", "secret", "hello-credential", "-o", "jsonpath={.data.current}"]).out;
        assert.equal(Buffer.from(held, "base64").toString("utf8"), credential, "no promotion: `current` is still the previous generation's credential");

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

/** A caller that opens a new TLS connection for every request (`freshRate` a second), counting what fails. */
function freshClient(port: number, ca: string, credential: string): { stop: () => { requests: number; failed: number; statuses: Record<string, number> } } {
    let requests = 0;
    let failed = 0;
    const statuses: Record<string, number> = {};
    const timer = setInterval(() => {
        requests++;
        call(port, ca, credential).then(
            (r) => {
                statuses[r.status] = (statuses[r.status] ?? 0) + 1;
                if (r.status !== 200) failed++;
            },
            () => {
                statuses["error"] = (statuses["error"] ?? 0) + 1;
                failed++;
            },
        );
    }, 1000 / freshRate);
    return {
        stop: () => {
            clearInterval(timer);
            return { requests, failed, statuses };
        },
    };
}

/** Waits for the bake Job's pod, then sends GET /v1/break to every pod of the candidate (with the credential callers hold, which it accepts); returns the pods broken. */
async function breakCandidateWhenBaking(stack: KubernetesStack, live: string, credential: string): Promise<string[]> {
    const deadline = Date.now() + 300_000;
    // The first deploy's bake pod is still there (a completed Job keeps its pod): wait for a new one.
    const earlier = new Set(stack.names("pods", "repave.dev/api=hello,repave.dev/role=bake"));
    while (Date.now() < deadline) {
        if (stack.names("pods", "repave.dev/api=hello,repave.dev/role=bake").some((p) => !earlier.has(p))) {
            const pods = kubectlJson<{ items: { metadata: { name: string }; status: { podIP?: string } }[] }>(["-n", stack.namespace, "get", "pods", "-l", `repave.dev/api=hello,repave.dev/generation,repave.dev/generation!=${live}`]).items;
            assert.ok(pods.length > 0, "the candidate's pods");
            for (const pod of pods) {
                const status = await new Promise<number>((resolve, reject) => {
                    const req = https.get({ host: pod.status.podIP, port: 8443, path: "/v1/break", rejectUnauthorized: false, agent: false, headers: { host: "localhost", authorization: `Bearer ${credential}` } }, (res) => {
                        res.resume();
                        resolve(res.statusCode ?? 0);
                    });
                    req.on("error", reject);
                    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
                });
                assert.equal(status, 200, `break ${pod.metadata.name}`);
            }
            return pods.map((p) => p.metadata.name);
        }
        await new Promise((r) => setTimeout(r, 250));
    }
    return assert.fail("no bake Job pod within 300 s");
}
