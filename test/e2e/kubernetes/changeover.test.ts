// Red/green changeover on the real engine against the Kubernetes target: the real pulumi-kubernetes provider, a real
// cluster (KUBECONFIG; `npm run test:kubernetes` starts the embedded one) and a real registry with authentication.
// The cases are the local target's (../changeover-cases.ts), through the production NodePort; this file maps them to
// the cluster - a new digest behind the stack's tag, a generation's Deployment, Secrets and pods, the production
// Service - and adds what only Kubernetes has.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { eventually, failedGateCase, repavesUnderLoadCase, rotationCase, type ChangeoverTarget } from "../changeover-cases.ts";
import { repoRoot } from "../harness.ts";
import { call, clusterEnv, KubernetesStack, kubectl, kubectlJson, Registry, suite, type ClusterEnv } from "./cluster.ts";

const name = "repave/sample-api";
/** Requests per second of the steady load: bounded (the machine is shared), yet thousands of requests per repave. */
const loadRate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);

const secretNames = (stack: KubernetesStack) => kubectlJson<{ items: { metadata: { name: string } }[] }>(["-n", stack.namespace, "get", "secrets"]).items.map((i) => i.metadata.name);
const serviceUrn = async (stack: KubernetesStack) =>
    (await stack.exportState()).deployment.resources.find((r) => r.type === "kubernetes:core/v1:Service" && r.urn.endsWith("::hello-service"))?.urn;
const selectorOf = (stack: KubernetesStack) => kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.spec.selector.repave\\.dev/generation}"]).out;

/**
 * The Kubernetes target. Images: the stack's own tag in the registry, moved to 1.1.0 (newer), to a layer whose server
 * serves unauthenticated callers (broken-auth), or to a layer on top of 1.1.0 (good). A generation's residue: its
 * Deployment, pods and Secrets by label, and any Secret named after it. The front door: the production Service's
 * URN, object uid and NodePort.
 */
function kubernetesTarget(stack: KubernetesStack, registry: Registry): ChangeoverTarget {
    return {
        stack,
        port: () => stack.nodePort(),
        call: (port, ca, credential) => call(port, ca, credential),
        image: async (kind) => {
            if (kind === "newer") await registry.tag(name, "1.1.0", stack.namespaceTag());
            else if (kind === "broken-auth") {
                const server = readFileSync(join(repoRoot, "images/sample-api/1.1.0/server.mjs"), "utf8").replace('if (auth === "missing")', 'if (false && auth === "missing")');
                assert.match(server, /false && auth/);
                await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/server.mjs": server });
            } else await registry.addLayer(name, "1.1.0", stack.namespaceTag(), { "app/build.txt": "good\n" });
        },
        residue: (generation) => {
            const labelled = (kind: string) => stack.names(kind, `repave.dev/api=hello,repave.dev/generation=${generation}`).map((n) => `${kind}/${n}`);
            const named = secretNames(stack).filter((n) => n.includes(generation)).map((n) => `secrets/${n}`);
            return [...new Set([...labelled("deployments"), ...labelled("pods"), ...labelled("secrets"), ...named])].sort();
        },
        frontDoor: async () => {
            const uid = kubectl(["-n", stack.namespace, "get", "service", "hello", "-o", "jsonpath={.metadata.uid}"]).out;
            return `${(await serviceUrn(stack)) ?? "no production Service in state"} uid ${uid} nodePort ${stack.nodePort()}`;
        },
        generations: () => Promise.resolve(stack.names("deployments").map((n) => n.replace(/^hello-/, ""))),
        loadRate,
    };
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
        await stack.prepare(cluster, `${cluster.registry}/${name}`, stack.namespaceTag());
    });
    after(async () => stack && (await stack.cleanup()));

    it("repave rotates generation, image digest, certificate and credential; the production Service keeps its URN and is never replaced", async () => {
        const { b, second, firstResidue } = await rotationCase(kubernetesTarget(stack, registry));
        assert.ok(await serviceUrn(stack), "production Service in state");
        const firstSecrets = firstResidue.filter((n) => n.startsWith("secrets/"));
        assert.ok(firstSecrets.length >= 2, `the first generation's credential and TLS Secrets: ${firstSecrets.join(", ")}`);
        // Kubernetes only: pinned by digest, the Service not replaced, the new generation's Secrets by name, and every
        // image the cluster ran (API pods, gate Jobs, the monitor) from the test registry, by digest - none from Docker Hub.
        assert.match(b.imageHash, /@sha256:[0-9a-f]{64}$/, "pinned by digest");
        assert.doesNotMatch(second.out, /replaced.*hello-service|hello-service.*replace/, "the production Service is not replaced");
        const secrets = secretNames(stack);
        assert.ok(secrets.includes(`hello-${b.generation}-tls`) && secrets.includes(`hello-${b.generation}-credential`), `the new generation's: ${secrets.join(", ")}`);
        const pods = kubectlJson<{ items: { spec: { containers: { image: string }[] } }[] }>(["-n", stack.namespace, "get", "pods"]).items;
        const images = [...new Set(pods.flatMap((p) => p.spec.containers.map((c) => c.image)))];
        for (const image of images) assert.ok(image.startsWith(`${cluster.registry}/repave/`) && /@sha256:[0-9a-f]{64}$/.test(image), `pinned, from the test registry: ${image}`);
        assert.ok(images.some((i) => i.startsWith(`${cluster.registry}/repave/probe-runner@sha256:`)), `the gate ran the project's probe runner: ${images.join(", ")}`);
        const cron = kubectlJson<{ spec: { jobTemplate: { spec: { template: { spec: { containers: { image: string }[] } } } } } }>(["-n", stack.namespace, "get", "cronjob", "hello-monitor"]);
        assert.match(cron.spec.jobTemplate.spec.template.spec.containers[0]!.image, new RegExp(`^${cluster.registry.replace(/[.]/g, "\\.")}/repave/probe-runner@sha256:[0-9a-f]{64}$`), "the monitor runs the project's probe runner");
    });
});

suite("kubernetes: repaves under steady HTTPS load through the production NodePort", () => {
    let stack: KubernetesStack;
    let registry: Registry;
    before(async () => {
        const cluster = clusterEnv();
        registry = new Registry(cluster);
        stack = await KubernetesStack.create("k8s-load");
        await stack.prepare(cluster, `${cluster.registry}/${name}`, "1.1.0");
    });
    after(async () => stack && (await stack.cleanup()));

    it("5 consecutive repaves drop 0 requests (keep-alive clients; a client keeps the credential it started the repave with)", async () => {
        await repavesUnderLoadCase(kubernetesTarget(stack, registry));
    });
});

suite("kubernetes: a candidate that fails a negative probe in the gate Job", () => {
    let stack: KubernetesStack;
    let registry: Registry;
    before(async () => {
        const cluster = clusterEnv();
        registry = new Registry(cluster);
        stack = await KubernetesStack.create("k8s-gate");
        await registry.tag(name, "1.1.0", stack.namespaceTag());
        await stack.prepare(cluster, `${cluster.registry}/${name}`, stack.namespaceTag());
    });
    after(async () => stack && (await stack.cleanup()));

    it("never takes traffic, and a rerun with a good build converges with 0 failed requests (I2, I3)", async () => {
        const { after } = await failedGateCase(kubernetesTarget(stack, registry), async (bad, live) => {
            console.log(`failed update, its gate lines:\n${bad.out.split("\n").filter((l) => /gate|FAILED|unauthenticated/i.test(l)).slice(0, 20).join("\n")}`);
            assert.match(bad.out, /hello-gate/, "the gate Job failed the update");
            assert.match(bad.out, /gate FAILED: .*hello-unauthenticated/, "the failed update names the probe case");
            assert.equal(stack.names("deployments", `repave.dev/generation=${live.generation}`).length, 1, "live generation untouched");
            assert.equal(selectorOf(stack), live.generation, "the production Service still selects the live generation");
        });
        // The failed candidate's pods are gone too (not only the old live generation's).
        await eventually("old and failed generations' pods gone", () => stack.names("pods", `repave.dev/generation!=${after.generation},repave.dev/api=hello,!job-name`).length === 0);
    });
});
