// `repave recover` on the Kubernetes target: which objects a killed run's pending creates may have left.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deleteObjects, orphanedObjects } from "../../cli/kubernetes-orphans.ts";

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
});
