// Each policy of the pack, called the way the policy host calls it (node_modules/@pulumi/policy/server.js): the
// resource's properties arrive as the engine sends them - a protobuf Struct with Pulumi's secret envelopes and
// unknown sentinels - and are deserialized and wrapped by the SDK's own functions. Every rule fires on a bad
// resource of each target's real type and stays silent on a good one. (test/e2e/policy.test.ts runs the pack
// itself on the real engine against the local target.)
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import type { ResourceValidationArgs } from "@pulumi/policy";
import { frontDoorRoleType } from "../../policy/model.ts";
import { goDurationHours, policies } from "../../policy/policies.ts";

const require = createRequire(import.meta.url);
const { deserializeProperties } = require("@pulumi/policy/deserialize.js") as { deserializeProperties: (s: unknown, proxySecrets: boolean) => Record<string, unknown> };
const { unknownCheckingProxy, UnknownValueError } = require("@pulumi/policy/proxy.js") as { unknownCheckingProxy: <T>(x: T) => T; UnknownValueError: new (...a: unknown[]) => Error };
const { Struct } = require("google-protobuf/google/protobuf/struct_pb.js") as { Struct: { fromJavaScript: (x: unknown) => unknown } };

/** What the engine sends for a value unknown in a preview, and for a secret. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const secret = (value: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value });

interface Resource {
    urn?: string;
    protect?: boolean;
    additionalSecretOutputs?: string[];
}

/** Runs one policy on one resource as the host does, including its handling of unknown values (advisory "can't run"). */
function check(policyName: string, type: string, wire: Record<string, unknown>, res: Resource = {}, config: Record<string, unknown> = {}): string[] {
    const policy = policies.find((p) => p.name === policyName);
    assert.ok(policy, `no policy ${policyName}`);
    const defaults = Object.fromEntries(Object.entries((policy.configSchema?.properties ?? {}) as Record<string, { default?: unknown }>).map(([k, v]) => [k, v.default]));
    const violations: string[] = [];
    const args = {
        type,
        props: unknownCheckingProxy(deserializeProperties(Struct.fromJavaScript(wire), false)),
        urn: res.urn ?? `urn:pulumi:prod::repave::repave:aws:StatelessApi$${type}::res`,
        name: "res",
        opts: { protect: res.protect ?? false, ignoreChanges: [], aliases: [], additionalSecretOutputs: res.additionalSecretOutputs ?? [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 } },
        getConfig: () => ({ ...defaults, ...config }),
    } as unknown as ResourceValidationArgs;
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    for (const v of validations) {
        try {
            void v?.(args, (message: string) => violations.push(message));
        } catch (err) {
            if (!(err instanceof UnknownValueError)) throw err;
            violations.push(`advisory: can't run ${policyName} during preview: ${err.message}`);
        }
    }
    return violations;
}

const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
const frontDoorUrn = (type: string) => `urn:pulumi:prod::repave::repave:aws:StatelessApi$${frontDoorRoleType}$${type}::res`;

describe("policy pack on each target's real resource shapes", () => {
    it("repave-image-max-age: old images fire on every target, fresh ones and resources without images do not", () => {
        assert.equal(check("repave-image-max-age", "repave:local:Generation", { imageCreatedAt: daysAgo(45) }).length, 1);
        assert.equal(check("repave-image-max-age", "aws:ec2/launchTemplate:LaunchTemplate", { tags: { "repave:image-created-at": daysAgo(45) } }).length, 1);
        assert.equal(check("repave-image-max-age", "kubernetes:apps/v1:Deployment", { metadata: { annotations: { "repave.dev/image-created-at": daysAgo(45) } } }).length, 1);
        assert.equal(check("repave-image-max-age", "repave:local:Generation", { imageCreatedAt: daysAgo(3) }).length, 0);
        assert.equal(check("repave-image-max-age", "repave:local:Generation", { imageCreatedAt: daysAgo(3) }, {}, { maxImageAgeDays: 1 }).length, 1);
        assert.equal(check("repave-image-max-age", "aws:ec2/launchTemplate:LaunchTemplate", { tags: UNKNOWN }).length, 0, "unknown tags in a preview: nothing to judge yet");
        assert.equal(check("repave-image-max-age", "aws:s3/bucket:Bucket", {}).length, 0);
    });

    it("repave-cert-lifetime: the local and Kubernetes self-minted paths and cert-manager's Go durations", () => {
        assert.match(check("repave-cert-lifetime", "repave:local:Generation", { certLifetimeDays: 365 })[0] ?? "", /365 days exceeds 90/);
        assert.equal(check("repave-cert-lifetime", "repave:local:Generation", { certLifetimeDays: 30 }).length, 0);
        assert.equal(check("repave-cert-lifetime", "pulumi-nodejs:dynamic/repave:GenerationSecrets", { api: "orders", lifetimeDays: 365 }).length, 1, "Kubernetes without cert-manager");
        assert.equal(check("repave-cert-lifetime", "pulumi-nodejs:dynamic/repave:GenerationSecrets", { api: "orders", lifetimeDays: 30 }).length, 0);
        const certificate = (duration?: string) => ({ apiVersion: "cert-manager.io/v1", kind: "Certificate", spec: { secretName: "orders-tls", ...(duration ? { duration } : {}) } });
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate("8760h0m0s")).length, 1, "as cert-manager writes it back");
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate("8760h")).length, 1);
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate("2160h0m0s")).length, 0, "90 days is the limit, not over it");
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate("720h")).length, 0);
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate()).length, 0, "cert-manager's default is 90 days");
        assert.equal(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate(), {}, { maxCertLifetimeDays: 30 }).length, 1, "the default's 90 days count");
        assert.match(check("repave-cert-lifetime", "kubernetes:cert-manager.io/v1:Certificate", certificate("365d"))[0] ?? "", /not a duration/);
        assert.equal(goDurationHours("2160h0m0s"), 2160);
        assert.equal(goDurationHours("90h30m"), 90.5);
        assert.equal(goDurationHours("1.5h"), 1.5);
        assert.equal(goDurationHours("7d"), undefined);
    });

    it("repave-tls-min-1-2: AWS listeners by both type tokens, GCP proxies without an SSL policy, GCP SSL policies", () => {
        for (const type of ["aws:lb/listener:Listener", "aws:alb/listener:Listener"]) {
            assert.equal(check("repave-tls-min-1-2", type, { protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-2016-08" }).length, 1, type);
            assert.equal(check("repave-tls-min-1-2", type, { protocol: "HTTPS" }).length, 1, `${type}: the default policy allows TLS 1.0`);
            assert.equal(check("repave-tls-min-1-2", type, { protocol: "HTTPS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" }).length, 0, type);
            assert.equal(check("repave-tls-min-1-2", type, { protocol: "HTTP", defaultActions: [{ type: "redirect" }] }).length, 0, `${type}: a redirect listener has no TLS`);
        }
        const proxy = "gcp:compute/targetHttpsProxy:TargetHttpsProxy";
        assert.match(check("repave-tls-min-1-2", proxy, { name: "orders-https", urlMap: "projects/p/global/urlMaps/orders" })[0] ?? "", /no sslPolicy: GCP's default allows TLS 1.0/);
        assert.equal(check("repave-tls-min-1-2", proxy, { urlMap: "u", sslPolicy: "https://www.googleapis.com/compute/v1/projects/p/global/sslPolicies/orders-tls" }).length, 0);
        assert.equal(check("repave-tls-min-1-2", proxy, { urlMap: UNKNOWN, sslPolicy: UNKNOWN }).length, 0, "a policy whose self link is unknown in a preview is attached");
        assert.equal(check("repave-tls-min-1-2", "gcp:compute/sSLPolicy:SSLPolicy", { minTlsVersion: "TLS_1_0", profile: "MODERN" }).length, 1);
        assert.equal(check("repave-tls-min-1-2", "gcp:compute/sSLPolicy:SSLPolicy", { profile: "MODERN" }).length, 1, "GCP's default minimum is TLS 1.0");
        assert.equal(check("repave-tls-min-1-2", "gcp:compute/sSLPolicy:SSLPolicy", { minTlsVersion: "TLS_1_2", profile: "MODERN" }).length, 0);
    });

    it("repave-front-door-protected: the role marker in the URN, whatever the type; not the local stand-in", () => {
        for (const type of ["aws:lb/loadBalancer:LoadBalancer", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "gcp:compute/firewall:Firewall", "kubernetes:core/v1:Service"]) {
            assert.equal(check("repave-front-door-protected", type, {}, { urn: frontDoorUrn(type) }).length, 1, type);
            assert.equal(check("repave-front-door-protected", type, {}, { urn: frontDoorUrn(type), protect: true }).length, 0, type);
        }
        assert.equal(check("repave-front-door-protected", "aws:autoscaling/group:Group", {}).length, 0, "generation resources are meant to be replaced");
        assert.equal(check("repave-front-door-protected", "repave:local:FrontDoor", {}, { urn: frontDoorUrn("repave:local:FrontDoor") }).length, 0);
    });

    it("repave-secrets-are-secret: plain secret-shaped values anywhere, nested included; secrets and names alone are fine", () => {
        const pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        const credential = "Qm9vdHN0cmFwLWNyZWRlbnRpYWwtZm9yLXRlc3RzLTE"; // 43 base64url characters, as repave mints them
        const deployment = (value: unknown) => ({ spec: { template: { spec: { containers: [{ name: "api", env: [{ name: "TLS_KEY", value }] }] } } } });
        assert.match(check("repave-secrets-are-secret", "kubernetes:apps/v1:Deployment", deployment(pem))[0] ?? "", /spec\.template\.spec\.containers\[0\]\.env\[0\]\.value holds a private key/);
        assert.equal(check("repave-secrets-are-secret", "kubernetes:apps/v1:Deployment", deployment(secret(pem))).length, 1, "the host hands secrets over unwrapped: only additionalSecretOutputs tells");
        assert.equal(check("repave-secrets-are-secret", "kubernetes:apps/v1:Deployment", deployment(secret(pem)), { additionalSecretOutputs: ["spec"] }).length, 0);
        assert.equal(check("repave-secrets-are-secret", "aws:ec2/launchTemplate:LaunchTemplate", { tagSpecifications: [{ tags: { note: credential } }] }).length, 1, "a credential under an innocent name");
        assert.equal(check("repave-secrets-are-secret", "repave:local:Generation", { keyPem: pem, credential }, { additionalSecretOutputs: ["keyPem", "credential"] }).length, 0);
        assert.equal(check("repave-secrets-are-secret", "repave:local:Generation", { keyPem: pem, credential }).length, 2);
        // Names alone are no evidence: a secret's name, a token's kind, a password policy.
        assert.equal(check("repave-secrets-are-secret", "aws:secretsmanager/secret:Secret", { name: "orders-credential", credential: "orders-credential", token: "Bearer", password: true }).length, 0);
        assert.equal(check("repave-secrets-are-secret", "kubernetes:apps/v1:Deployment", { spec: { template: { spec: { containers: [{ image: `registry.local/api@sha256:${"a".repeat(64)}` }] } } } }).length, 0, "an image digest is not an admin token");
        assert.equal(check("repave-secrets-are-secret", "aws:secretsmanager/secretVersion:SecretVersion", { secretString: pem }).length, 0, "the provider secrets it");
        assert.equal(check("repave-secrets-are-secret", "kubernetes:apps/v1:Deployment", deployment(UNKNOWN)).length, 0, "unknown in a preview: judged at the update");
    });

    it("repave-no-wildcard-actions: wildcards, NotAction and broad grants on every IAM type that carries them", () => {
        const doc = (statement: Record<string, unknown>) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Resource: "*", ...statement }] });
        const policy = "aws:iam/rolePolicy:RolePolicy";
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ Action: "s3:*" }) }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ Action: "*" }) }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ Action: ["s3:Get*"] }) }).length, 1, "a partial wildcard");
        assert.match(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ NotAction: "iam:*" }) })[0] ?? "", /NotAction/);
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ Effect: "Deny", Action: "*" }) }).length, 0);
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: doc({ Action: ["secretsmanager:GetSecretValue"] }) }).length, 0);
        for (const type of ["aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy", "aws:iam/policy:Policy"]) {
            assert.equal(check("repave-no-wildcard-actions", type, { policy: doc({ Action: "ec2:*" }) }).length, 1, type);
        }
        assert.equal(check("repave-no-wildcard-actions", "aws:iam/role:Role", { assumeRolePolicy: doc({ Action: "sts:AssumeRole" }), inlinePolicies: [{ name: "inline", policy: doc({ Action: "*" }) }] }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", "aws:iam/role:Role", { managedPolicyArns: ["arn:aws:iam::aws:policy/AdministratorAccess"] }).length, 1);
        for (const type of ["aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/userPolicyAttachment:UserPolicyAttachment", "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment"]) {
            assert.equal(check("repave-no-wildcard-actions", type, { policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess" }).length, 1, type);
            assert.equal(check("repave-no-wildcard-actions", type, { policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }).length, 0, type);
        }
        // A document passed as an object: its actions are known in a preview even where its resources are not.
        const objectDoc = (action: string) => ({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: [action], Resource: UNKNOWN }] });
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: objectDoc("s3:*") }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", policy, { role: "r", policy: objectDoc("secretsmanager:GetSecretValue") }).length, 0);
        // A document unknown as a whole cannot be judged in a preview: the host says so (advisory), never a silent pass;
        // the update checks it with its value.
        assert.match(check("repave-no-wildcard-actions", policy, { role: "r", policy: UNKNOWN })[0] ?? "", /^advisory: can't run/);
        assert.equal(check("repave-no-wildcard-actions", "gcp:projects/iAMMember:IAMMember", { project: "p", role: "roles/editor", member: "serviceAccount:x" }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", "gcp:secretmanager/secretIamMember:SecretIamMember", { role: "roles/secretmanager.secretAccessor", member: "serviceAccount:x" }).length, 0);
        assert.equal(check("repave-no-wildcard-actions", "kubernetes:rbac.authorization.k8s.io/v1:Role", { rules: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["*"] }] }).length, 1);
        assert.equal(check("repave-no-wildcard-actions", "kubernetes:rbac.authorization.k8s.io/v1:Role", { rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] }).length, 0);
    });
});
