// I7 on the Kubernetes target: a bad `repave:kubernetes` block is refused with every problem named by path, before
// anything is registered; the deployed stack and the cluster's objects are untouched.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { clusterEnv, KubernetesStack, kubectlJson, suite } from "./cluster.ts";


suite("kubernetes: a bad repave:kubernetes block", () => {
    let stack: KubernetesStack;
    before(async () => {
        const cluster = clusterEnv();
        stack = await KubernetesStack.create("k8s-config");
        await stack.prepare(cluster, `${cluster.registry}/repave/sample-api`, "1.1.0");
    });
    after(async () => stack && (await stack.cleanup()));

    it("is refused listing each problem, and nothing is applied", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const before = await stack.exportState();
        const objects = () =>
            kubectlJson<{ items: { kind: string; metadata: { name: string; uid: string; resourceVersion: string } }[] }>(["-n", stack.namespace, "get", "deployments,services,secrets,jobs,cronjobs,configmaps"])
                .items.map((i) => `${i.kind}/${i.metadata.name} ${i.metadata.uid} ${i.metadata.resourceVersion}`)
                .sort();
        const objectsBefore = objects();

        stack.writeConfig(
            undefined,
            JSON.stringify({
                hello: { ...stack.kubernetesArgs, namespace: "Not_A_Namespace", serviceType: "Balanced", servicePort: 70000, imagePullSecrets: ["UPPER"], previewAddress: "10.0.0.1", gateSettleSecs: 5 },
                nosuchapi: {},
            }),
        );
        const result = await stack.up();
        assert.notEqual(result.code, 0);
        assert.match(result.out, /nothing was changed/);
        for (const problem of [
            /repave:kubernetes\.hello\.namespace: must be a DNS label.*hint/,
            /repave:kubernetes\.hello\.serviceType: .*hint: choose ClusterIP, NodePort or LoadBalancer/,
            /repave:kubernetes\.hello\.servicePort: .*hint/,
            /repave:kubernetes\.hello\.imagePullSecrets\[0\]: .*hint/,
            /repave:kubernetes\.hello: .*remove gateSettleSecs/,
            /repave:kubernetes\.nosuchapi/,
        ]) {
            assert.match(result.out, problem);
        }
        assert.doesNotMatch(result.out, /\.ts:\d+:\d+/, "no stack trace: the problems are the message");

        const hideSecrets = (_k: string, v: unknown) => (v && typeof v === "object" && "ciphertext" in v ? "[secret]" : v);
        const urns = (s: typeof before) => s.deployment.resources.map((r) => `${r.urn} ${JSON.stringify(r.outputs ?? {}, hideSecrets)}`).sort();
        assert.deepEqual(urns(await stack.exportState()), urns(before), "state unchanged");
        assert.deepEqual(objects(), objectsBefore, "the cluster's objects unchanged (same uid and resourceVersion)");
    });
});
