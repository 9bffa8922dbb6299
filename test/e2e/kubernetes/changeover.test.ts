// Red/green changeover on the real engine against the Kubernetes target: the real pulumi-kubernetes provider, a real
// cluster (KUBECONFIG; `npm run test:kubernetes` starts the embedded one) and a real registry with authentication.
// The same assertions as the local target's test/e2e/changeover.test.ts, through the production NodePort.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { startLoad, type LoadReport } from "../harness.ts";
import { call, clusterEnv, KubernetesStack, kubectl, kubectlJson, Registry, suite, type ClusterEnv } from "./cluster.ts";
import { keepAliveClient } from "./clients.ts";

const repository = (cluster: ClusterEnv) => `${cluster.registry}/repave/sample-api`;
const name = "repave/sample-api";
/** Requests per second of the steady load: bounded (the machine is shared), yet thousands of requests per repave. */
const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);

/** Waits until `check` holds (Kubernetes deletes pods asynchronously after the engine deleted their Deployment). */
async function eventually(what: string, check: () => boolean, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!check()) {
        if (Date.now() > deadline) assert.fail(`not within ${seconds}s: ${what}`);
        await new Promise((r) => setTimeout(r, 1000));
    }
}

suite("kubernetes: two consecutive deploys", () => {
    let stack: KubernetesStack;
    let cluster: ClusterEnv;
    let registry: Registry;
    before(async () => {
        cluster = clusterEnv();
        registry = new Registry(cluster);
        stack = await KubernetesStack.create("k8s-twice");
        await registry.tag(name, "1.0.0", stack.namespaceTag());
        await stack.prepare(cluster, repository(cluster), stack.namespaceTag());
    });
    after(async () => stack && (await stack.cleanup()));

    it("repave rotates generation, image digest, certificate and credential; the production Service keeps its URN and is never replaced", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const a = await stack.hello();
        const credA = await stack.credential();
        const ca = await stack.caPem();
        const serviceUrn = (await stack.exportState()).deployment.resources.find((r) => r.type === "kubernetes:core/v1:Service" && r.urn.endsWith("::hello-service"))?.urn;
        assert.ok(serviceUrn, "production Service in state");
        const serviceUid = kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.metadata.uid}"]).out;
        const port = stack.nodePort();
        const servedA = await call(port, ca, credA);
        assert.equal(servedA.status, 200);
        assert.equal(servedA.generation, a.generation);
        const secretsA = stack.names("secrets", `repave.dev/generation=${a.generation}`);
        assert.ok(secretsA.length >= 2, `the generation's credential and TLS Secrets: ${secretsA.join(", ")}`);

        // A new build behind the same tag: the next deploy resolves a new digest.
        await registry.tag(name, "1.1.0", stack.namespaceTag());
        const second = await stack.up();
        assert.equal(second.code, 0, second.out);
        assert.doesNotMatch(second.out, /replaced.*hello-service|hello-service.*replace/, "the production Service is not replaced");
        const b = await stack.hello();
        const credB = await stack.credential();

        assert.notEqual(b.generation, a.generation, "generation id changes");
        assert.notEqual(b.imageHash, a.imageHash, "image digest changes");
        assert.match(b.imageHash, /@sha256:[0-9a-f]{64}$/, "pinned by digest");
        assert.notEqual(credB, credA, "credential changes");
        assert.equal(b.url, a.url, "front door address is stable (I4)");
        const state = await stack.exportState();
        assert.equal(state.deployment.resources.find((r) => r.type === "kubernetes:core/v1:Service" && r.urn.endsWith("::hello-service"))?.urn, serviceUrn, "Service URN kept (I4)");
        assert.equal(kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.metadata.uid}"]).out, serviceUid, "the same Service object (never replaced)");
        assert.equal(stack.nodePort(), port, "the same NodePort");

        const served = await call(port, ca, credB);
        assert.equal(served.status, 200);
        assert.equal(served.generation, b.generation, "production serves the new generation");
        assert.notEqual(served.serial, servedA.serial, "with a new certificate (serial)");
        assert.equal((await call(port, ca, credA)).status, 200, "the previous credential still works for one generation");

        // The old generation is gone: Deployment, Secrets, pods.
        assert.deepEqual(stack.names("deployments"), [`hello-${b.generation}`].sort(), "only the new Deployment");
        assert.deepEqual(stack.names("secrets", `repave.dev/generation=${a.generation}`), [], "old generation's Secrets gone");
        const allSecrets = kubectlJson<{ items: { metadata: { name: string } }[] }>(["-n", stack.namespace, "get", "secrets"]).items.map((i) => i.metadata.name);
        assert.deepEqual(allSecrets.filter((n) => n.includes(a.generation)), [], "no Secret of the old generation by name either: its TLS key and credential are gone");
        assert.ok(allSecrets.includes(`hello-${b.generation}-tls`) && allSecrets.includes(`hello-${b.generation}-credential`), `the new generation's: ${allSecrets.join(", ")}`);

        // Every image the cluster ran for this stack (API pods, gate Jobs' pods) is pinned by digest and comes from
        // the test registry: the gate Jobs ran the project's probe runner (the default probeImage), not Docker Hub.
        const pods = kubectlJson<{ items: { metadata: { name: string }; spec: { containers: { image: string }[] } }[] }>(["-n", stack.namespace, "get", "pods"]).items;
        const images = [...new Set(pods.flatMap((p) => p.spec.containers.map((c) => c.image)))];
        for (const image of images) assert.ok(image.startsWith(`${cluster.registry}/repave/`) && /@sha256:[0-9a-f]{64}$/.test(image), `pinned, from the test registry: ${image}`);
        assert.ok(images.some((i) => i.startsWith(`${cluster.registry}/repave/probe-runner@sha256:`)), `the gate ran the project's probe runner: ${images.join(", ")}`);
        const cron = kubectlJson<{ spec: { jobTemplate: { spec: { template: { spec: { containers: { image: string }[] } } } } } }>(["-n", stack.namespace, "get", "cronjob", "hello-monitor"]);
        assert.match(cron.spec.jobTemplate.spec.template.spec.containers[0]!.image, new RegExp(`^${cluster.registry.replace(/[.]/g, "\\.")}/repave/probe-runner@sha256:[0-9a-f]{64}$`), "the monitor too");
        await eventually("old generation's pods gone", () => stack.names("pods", `repave.dev/generation=${a.generation}`).length === 0);

        // I8: keys and credentials exist in state only as secrets.
        const text = stack.stateText();
        for (const secret of [credA, credB]) assert.ok(!text.includes(secret), "credential in plain text in state");
        assert.ok(!text.includes("PRIVATE KEY"), "private key in plain text in state");
    });
});

suite("kubernetes: repaves under steady HTTPS load through the production NodePort", () => {
    let stack: KubernetesStack;
    let cluster: ClusterEnv;
    before(async () => {
        cluster = clusterEnv();
        stack = await KubernetesStack.create("k8s-load");
        await stack.prepare(cluster, repository(cluster), "1.1.0");
    });
    after(async () => stack && (await stack.cleanup()));

    it("5 consecutive repaves drop 0 requests (keep-alive clients; a client keeps the credential it started the repave with)", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const ca = await stack.caPem();
        const port = stack.nodePort();
        let credential = await stack.credential();
        const load = startLoad(port, () => credential, 600, "127.0.0.1", rate);
        // A second client: one keep-alive TLS connection pool (verified against the CA), sequential requests, with
        // the credential it held when each repave started, kept across that repave's switch.
        const sticky = keepAliveClient(port, ca, credential);
        const seen = new Set<string>([(await stack.hello()).generation]);
        let report: LoadReport | undefined;
        let stickyReport: ReturnType<typeof sticky.report> | undefined;
        const started = Date.now();
        try {
            for (let i = 0; i < 5; i++) {
                const t = Date.now();
                const r = await stack.up();
                assert.equal(r.code, 0, r.out);
                const gen = (await stack.hello()).generation;
                seen.add(gen);
                credential = await stack.credential();
                console.log(`repave ${i + 1}: ${gen} in ${((Date.now() - t) / 1000).toFixed(1)} s; sticky so far ${JSON.stringify(sticky.report())}`);
                sticky.setCredential(credential);
            }
        } finally {
            report = await load.stop();
            stickyReport = await sticky.stop();
            console.log(`load (autocannon, 8 keep-alive connections): ${JSON.stringify(report)}`);
            console.log(`sticky keep-alive client: ${JSON.stringify(stickyReport)}; ${((Date.now() - started) / 1000).toFixed(0)} s of load`);
        }
        assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        assert.ok(report.requests > 500, `too little load to mean anything: ${report.requests}`);
        assert.equal(stickyReport.failed, 0, `sticky client failures: ${JSON.stringify(stickyReport)}`);
        assert.ok(stickyReport.generations.length >= 6, `the sticky client saw every generation: ${stickyReport.generations.join(", ")}`);
        assert.equal(seen.size, 6, "every repave built a new generation");
    });
});

suite("kubernetes: a candidate that fails a negative probe in the gate Job", () => {
    let stack: KubernetesStack;
    let cluster: ClusterEnv;
    let registry: Registry;
    before(async () => {
        cluster = clusterEnv();
        registry = new Registry(cluster);
        stack = await KubernetesStack.create("k8s-gate");
        await registry.tag(name, "1.1.0", stack.namespaceTag());
        await stack.prepare(cluster, repository(cluster), stack.namespaceTag());
    });
    after(async () => stack && (await stack.cleanup()));

    it("never takes traffic, and a rerun with a good build converges with 0 failed requests (I2, I3)", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const live = await stack.hello();
        const credential = await stack.credential();
        const ca = await stack.caPem();
        const port = stack.nodePort();
        const load = startLoad(port, () => credential, 600, "127.0.0.1", rate);
        try {
            // A build that serves unauthenticated callers: the gate Job's negative probes must stop it.
            const { readFileSync } = await import("node:fs");
            const path = await import("node:path");
            const { repoRoot } = await import("../harness.ts");
            const server = readFileSync(path.join(repoRoot, "images/sample-api/1.1.0/server.mjs"), "utf8").replace('if (auth === "missing")', 'if (false && auth === "missing")');
            assert.match(server, /false && auth/);
            await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/server.mjs": server });
            const bad = await stack.up();
            assert.notEqual(bad.code, 0, "the update fails at the gate");
            console.log(`failed update, its gate lines:\n${bad.out.split("\n").filter((l) => /gate|FAILED|unauthenticated/i.test(l)).slice(0, 20).join("\n")}`);
            assert.match(bad.out, /hello-gate/, "the gate Job failed the update");
            assert.match(bad.out, /gate FAILED: .*hello-unauthenticated/, "the failed update names the probe case");
            const during = await call(port, ca, credential);
            assert.equal(during.status, 200);
            assert.equal(during.generation, live.generation, "production still on the last good generation");
            assert.equal(stack.names("deployments", `repave.dev/generation=${live.generation}`).length, 1, "live generation untouched");
            const selector = kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.spec.selector.repave\\.dev/generation}"]).out;
            assert.equal(selector, live.generation, "the production Service still selects the live generation");

            // A good build behind the tag again; the rerun must converge (the failed Job is not in the way).
            await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/build.txt": "good\n" });
            const rerun = await stack.up();
            assert.equal(rerun.code, 0, rerun.out);
            const after = await stack.hello();
            assert.notEqual(after.generation, live.generation);
            assert.deepEqual(stack.names("deployments"), [`hello-${after.generation}`], "exactly one generation remains");
            await eventually("old and failed generations' pods gone", () => stack.names("pods", `repave.dev/generation!=${after.generation},repave.dev/api=hello,!job-name`).length === 0);
            assert.equal((await call(port, ca, await stack.credential())).generation, after.generation);
        } finally {
            const report = await load.stop();
            console.log(`load: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        }
    });
});
