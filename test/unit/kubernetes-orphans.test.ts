// `repave recover` on the Kubernetes target: which objects a killed run's pending creates may have left.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deleteObjects, killedRunObjects, labelledOrphans, orphanedObjects, type Lister } from "../../cli/kubernetes-orphans.ts";

const op = (type: string, apiVersion: string, kind: string, name: string, namespace?: string) => ({
    type: "creating",
    resource: { type, urn: `urn:pulumi:e2e::repave::${type}::${name}`, inputs: { apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } } },
});

describe("orphaned Kubernetes objects of a killed run", () => {
    it("names each pending create's object by kubectl resource, namespace and name", () => {
        const found = orphanedObjects(
            [
                op("kubernetes:apps/v1:Deployment", "apps/v1", "Deployment", "hello-g1", "ns"),
                op("kubernetes:batch/v1:Job", "batch/v1", "Job", "hello-g1-gate", "ns"),
                op("kubernetes:core/v1:Secret", "v1", "Secret", "hello-g1-tls"),
                op("kubernetes:cert-manager.io/v1:Certificate", "cert-manager.io/v1", "Certificate", "hello-g1-tls", "ns"),
            ],
            [],
        );
        assert.deepEqual(found, [
            { resource: "deployment.v1.apps", namespace: "ns", name: "hello-g1" },
            { resource: "job.v1.batch", namespace: "ns", name: "hello-g1-gate" },
            { resource: "secret", namespace: "default", name: "hello-g1-tls" },
            { resource: "certificate.v1.cert-manager.io", namespace: "ns", name: "hello-g1-tls" },
        ]);
    });

    it("never names a patched object, a pending update, another provider's resource, or an object the state holds", () => {
        const found = orphanedObjects(
            [
                op("kubernetes:core/v1:SecretPatch", "v1", "Secret", "hello-credential", "ns"),
                { ...op("kubernetes:apps/v1:Deployment", "apps/v1", "Deployment", "hello-g0", "ns"), type: "updating" },
                op("pulumi-nodejs:dynamic:Resource", "v1", "Secret", "x"),
                op("kubernetes:core/v1:Service", "v1", "Service", "hello", "ns"),
            ],
            [{ type: "kubernetes:core/v1:Service", urn: "u", outputs: { apiVersion: "v1", kind: "Service", metadata: { name: "hello", namespace: "ns" } } }],
        );
        assert.deepEqual(found, []);
    });

    it("deletes with kubectl and refuses to go on when it cannot", () => {
        assert.deepEqual(deleteObjects([], "/nonexistent/kubectl"), []);
        assert.throws(() => deleteObjects([{ resource: "secret", namespace: "ns", name: "x" }], "/nonexistent/kubectl"), /could not delete .*secret\/x in ns/s);
    });

    // A killed run can leave objects no pending operation names (killed before the engine wrote the operation, or a
    // checkpoint that lost it): they carry the API's and their generation's labels, and no resource in the state
    // carries that generation.
    const stateOf = (generations: string[]) => [
        { type: "kubernetes:core/v1:Service", urn: "s", outputs: { apiVersion: "v1", kind: "Service", metadata: { name: "hello", namespace: "ns", labels: { "repave.dev/api": "hello" } } } },
        ...generations.map((g, i) => ({
            type: "kubernetes:apps/v1:Deployment",
            urn: `d${i}`,
            delete: i > 0,
            outputs: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: `hello-${g}`, namespace: "ns", labels: { "repave.dev/api": "hello", "repave.dev/generation": g } } },
        })),
    ];
    const item = (apiVersion: string, kind: string, name: string, generation: string) => ({ apiVersion, kind, metadata: { name, namespace: "ns", labels: { "repave.dev/api": "hello", "repave.dev/generation": generation } } });
    const cluster: Lister = (namespace, kinds, selector) => {
        assert.equal(namespace, "ns");
        assert.equal(selector, "repave.dev/api=hello,repave.dev/generation");
        if (kinds.some((k) => k.includes("cert-manager"))) return null; // not installed
        return [
            item("apps/v1", "Deployment", "hello-g1", "g1"),
            item("apps/v1", "Deployment", "hello-g0", "g0"),
            item("apps/v1", "Deployment", "hello-g2", "g2"),
            item("v1", "Secret", "hello-g2-tls", "g2"),
            item("v1", "Secret", "hello-g2-credential", "g2"),
            item("batch/v1", "Job", "hello-gate-x1y2", "g2"),
            item("policy/v1", "PodDisruptionBudget", "hello-g2", "g2"),
        ];
    };

    it("finds the objects of a generation the state does not hold by their labels, never one it holds (pending deletes included)", () => {
        assert.deepEqual(labelledOrphans(stateOf(["g1", "g0"]), cluster), [
            { resource: "deployment.v1.apps", namespace: "ns", name: "hello-g2" },
            { resource: "secret", namespace: "ns", name: "hello-g2-tls" },
            { resource: "secret", namespace: "ns", name: "hello-g2-credential" },
            { resource: "job.v1.batch", namespace: "ns", name: "hello-gate-x1y2" },
            { resource: "poddisruptionbudget.v1.policy", namespace: "ns", name: "hello-g2" },
        ]);
        assert.deepEqual(labelledOrphans(stateOf(["g1", "g0", "g2"]), cluster), [], "every generation is the state's");
    });

    it("with the pending creates: each object once; no Kubernetes resource in the state, no cluster call", () => {
        const pending = [op("kubernetes:apps/v1:Deployment", "apps/v1", "Deployment", "hello-g2", "ns")];
        const found = killedRunObjects(pending, stateOf(["g1"]), cluster).filter((o) => o.name === "hello-g2" && o.resource === "deployment.v1.apps");
        assert.equal(found.length, 1);
        const refuse: Lister = () => assert.fail("no Kubernetes resource in the state: the cluster is not asked");
        assert.deepEqual(killedRunObjects([], [{ type: "pulumi-nodejs:dynamic/local:Generation", urn: "g" }], refuse), []);
    });
});
