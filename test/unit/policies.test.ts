// Each policy of the pack, called the way the policy host calls it: it fires on a bad resource and stays silent on
// a good one. (test/e2e/policy.test.ts runs the pack itself on the real engine against the local target.)
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import type { ResourceValidationPolicy, ResourceValidationArgs } from "@pulumi/policy";

const { policies } = createRequire(import.meta.url)("../../policy/policies.js") as { policies: ResourceValidationPolicy[] };

function check(policyName: string, type: string, props: Record<string, unknown>, opts: Record<string, unknown> = {}, config: Record<string, unknown> = {}): string[] {
    const policy = policies.find((p) => p.name === policyName);
    assert.ok(policy, `no policy ${policyName}`);
    const defaults = Object.fromEntries(
        Object.entries((policy.configSchema?.properties ?? {}) as Record<string, { default?: unknown }>).map(([k, v]) => [k, v.default]),
    );
    const violations: string[] = [];
    const args = {
        type,
        props,
        urn: `urn:pulumi:test::repave::${type}::res`,
        name: "res",
        opts: { protect: false, additionalSecretOutputs: [], ...opts },
        getConfig: () => ({ ...defaults, ...config }),
    } as unknown as ResourceValidationArgs;
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    for (const v of validations) void v?.(args, (message: string) => violations.push(message));
    return violations;
}

const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();

describe("policy pack", () => {
    it("repave-image-max-age: old images fire, fresh ones and resources without images do not", () => {
        assert.equal(check("repave-image-max-age", "pulumi-nodejs:dynamic/local:Generation", { imageCreatedAt: daysAgo(45) }).length, 1);
        assert.equal(check("repave-image-max-age", "aws:ec2/launchTemplate:LaunchTemplate", { tags: { "repave:image-created-at": daysAgo(45) } }).length, 1);
        assert.equal(check("repave-image-max-age", "kubernetes:apps/v1:Deployment", { metadata: { annotations: { "repave.dev/image-created-at": daysAgo(45) } } }).length, 1);
        assert.equal(check("repave-image-max-age", "pulumi-nodejs:dynamic/local:Generation", { imageCreatedAt: daysAgo(3) }).length, 0);
        assert.equal(check("repave-image-max-age", "pulumi-nodejs:dynamic/local:Generation", { imageCreatedAt: daysAgo(3) }, {}, { maxImageAgeDays: 1 }).length, 1);
        assert.equal(check("repave-image-max-age", "aws:s3/bucket:Bucket", {}).length, 0);
    });

    it("repave-cert-lifetime: long-lived certificates fire", () => {
        assert.match(check("repave-cert-lifetime", "pulumi-nodejs:dynamic/local:Generation", { certLifetimeDays: 365 })[0] ?? "", /365 days exceeds 90/);
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", { spec: { duration: "8760h" } }).length, 1);
        assert.equal(check("repave-cert-lifetime", "pulumi-nodejs:dynamic/local:Generation", { certLifetimeDays: 30 }).length, 0);
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", { spec: { duration: "720h" } }).length, 0);
    });

    it("repave-tls-min-1-2: legacy listener and proxy policies fire", () => {
        assert.equal(check("repave-tls-min-1-2", "aws:lb/listener:Listener", { protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-2016-08" }).length, 1);
        assert.equal(check("repave-tls-min-1-2", "aws:lb/listener:Listener", { protocol: "HTTPS" }).length, 1, "the default policy allows TLS 1.0");
        assert.equal(check("repave-tls-min-1-2", "aws:lb/listener:Listener", { protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" }).length, 0);
        assert.equal(check("repave-tls-min-1-2", "aws:lb/listener:Listener", { protocol: "HTTP" }).length, 0, "a redirect listener has no TLS");
        assert.equal(check("repave-tls-min-1-2", "gcp:compute/sSLPolicy:SSLPolicy", { minTlsVersion: "TLS_1_0" }).length, 1);
        assert.equal(check("repave-tls-min-1-2", "gcp:compute/sSLPolicy:SSLPolicy", { minTlsVersion: "TLS_1_2" }).length, 0);
    });

    it("repave-front-door-protected: unprotected cloud front doors fire", () => {
        assert.equal(check("repave-front-door-protected", "aws:lb/loadBalancer:LoadBalancer", {}).length, 1);
        assert.equal(check("repave-front-door-protected", "aws:lb/loadBalancer:LoadBalancer", {}, { protect: true }).length, 0);
        assert.equal(check("repave-front-door-protected", "kubernetes:core/v1:Service", { metadata: { labels: { "repave.dev/role": "front-door" } } }).length, 1);
        assert.equal(check("repave-front-door-protected", "aws:autoscaling/group:Group", {}).length, 0, "generation resources are meant to be replaced");
    });

    it("repave-secrets-are-secret: key material outside additionalSecretOutputs fires", () => {
        const pem = "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----";
        assert.equal(check("repave-secrets-are-secret", "pulumi-nodejs:dynamic/local:Generation", { keyPem: pem, credential: "x" }).length, 2);
        assert.equal(check("repave-secrets-are-secret", "pulumi-nodejs:dynamic/local:Generation", { keyPem: pem, credential: "x" }, { additionalSecretOutputs: ["keyPem", "credential"] }).length, 0);
        assert.equal(check("repave-secrets-are-secret", "custom:any:Thing", { blob: pem }).length, 1, "a PEM key under any name");
        assert.equal(check("repave-secrets-are-secret", "aws:secretsmanager/secretVersion:SecretVersion", { secretString: pem }).length, 0, "the provider secrets it");
    });

    it("repave-no-wildcard-actions: wildcard actions fire, specific ones do not", () => {
        const doc = (action: string | string[]) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] });
        assert.equal(check("repave-no-wildcard-actions", "aws:iam/rolePolicy:RolePolicy", { policy: doc("s3:*") }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", "aws:iam/rolePolicy:RolePolicy", { policy: doc("*") }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", "aws:iam/rolePolicy:RolePolicy", { policy: doc(["secretsmanager:GetSecretValue"]) }).length, 0);
    });
});
