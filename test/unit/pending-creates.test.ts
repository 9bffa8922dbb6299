// `repave recover` never drops a pending create silently: each is imported by the id its inputs give, deleted,
// stopped, found to have made nothing, or named as LEFT with where to find it. The local case is a real
// checkpoint (`pulumi stack export` after a SIGKILL mid-create, test/unit/fixtures); the cloud cases are the same
// operation with each target's real types and the inputs its components register.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { describeDisposition, pendingCreates, type PendingOperation } from "../../cli/pending-creates.ts";
import { importPendingCreates } from "../../cli/recover.ts";

const checkpoint = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "checkpoint-pending-create-local.json"), "utf8")) as {
    deployment: { pending_operations: PendingOperation[]; resources: Array<{ urn: string }> };
};
const real = checkpoint.deployment.pending_operations[0]!;

/** The real operation, as another target's resource: its type, URN under the API component, and inputs. */
function like(target: string, type: string, name: string, inputs: Record<string, unknown>, opType = "creating"): PendingOperation {
    const parent = `urn:pulumi:prod::repave::repave:${target}:StatelessApi::orders`;
    return { type: opType, resource: { ...real.resource, type, urn: `urn:pulumi:prod::repave::repave:${target}:StatelessApi$${type}::${name}`, parent, provider: `urn:pulumi:prod::repave::pulumi:providers:${type.split(":")[0]}::default_7_0_0::0f0e`, inputs } };
}

describe("recover: what becomes of each pending create", () => {
    it("the real checkpoint: the local candidate generation killed mid-create is stopped (its processes), nothing else pends", () => {
        assert.equal(real.type, "creating");
        assert.equal(real.resource.id, undefined, "a killed create never recorded an id");
        const [create] = pendingCreates(checkpoint.deployment.pending_operations);
        assert.deepEqual({ action: create!.action, name: create!.name }, { action: "stop", name: "hello-generation" });
        assert.match(describeDisposition(create!), /hello-generation \(pulumi-nodejs:dynamic\/local:Generation\): its processes are stopped/);
    });

    it("AWS: an ASG and the instance role's parts are imported by name; an AMI-bound launch template or an ACM certificate is LEFT, with how to find it", () => {
        const creates = pendingCreates([
            like("aws", "aws:autoscaling/group:Group", "orders-asg", { name: "orders-3f2a1c-g1b2c3d", launchTemplate: { id: "lt-0abc" }, tags: [{ key: "repave:generation", value: "g1b2c3d", propagateAtLaunch: true }] }),
            like("aws", "aws:iam/role:Role", "orders-instance-role", { name: "orders-3f2a1c-g1b2c3d-instance" }),
            like("aws", "aws:iam/rolePolicy:RolePolicy", "orders-instance-policy", { role: "orders-3f2a1c-g1b2c3d-instance", name: "orders-instance-policy-1a2b" }),
            like("aws", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "orders-instance-ssm", { role: "orders-3f2a1c-g1b2c3d-instance", policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }),
            like("aws", "aws:ec2/launchTemplate:LaunchTemplate", "orders-launch-template", { name: "orders-3f2a1c-g1b2c3d-lt", imageId: "ami-0abc", tags: { "repave:generation": "g1b2c3d" } }),
            like("aws", "aws:acm/certificate:Certificate", "orders-certificate", { domainName: "api.example.com", tags: { "repave:generation": "g1b2c3d" } }),
            like("aws", "aws:acm/certificateValidation:CertificateValidation", "orders-certificate-validation", { certificateArn: "arn:aws:acm:eu-west-1:1:certificate/x" }),
        ]);
        assert.deepEqual(creates.map((c) => [c.name, c.action, "id" in c ? c.id : undefined]), [
            ["orders-asg", "import", "orders-3f2a1c-g1b2c3d"],
            ["orders-instance-role", "import", "orders-3f2a1c-g1b2c3d-instance"],
            ["orders-instance-policy", "import", "orders-3f2a1c-g1b2c3d-instance:orders-instance-policy-1a2b"],
            ["orders-instance-ssm", "import", "orders-3f2a1c-g1b2c3d-instance/arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
            ["orders-launch-template", "manual", undefined],
            ["orders-certificate", "manual", undefined],
            ["orders-certificate-validation", "none", undefined],
        ]);
        assert.match(describeDisposition(creates[4]!), /LEFT - .*by name orders-3f2a1c-g1b2c3d-lt or by the tag repave:generation=g1b2c3d/);
    });

    it("GCP: resources are imported by the path their project, region and name give", () => {
        const creates = pendingCreates([
            like("gcp", "gcp:compute/instanceTemplate:InstanceTemplate", "orders-template", { project: "shop-prod", name: "orders-4c5d6e-g1b2c3d", labels: { "repave-generation": "g1b2c3d" } }),
            like("gcp", "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager", "orders-group", { project: "shop-prod", region: "europe-west1", name: "orders-4c5d6e-g1b2c3d" }),
            like("gcp", "gcp:compute/backendService:BackendService", "orders-backend", { project: "shop-prod", name: "orders-4c5d6e-g1b2c3d-be" }),
            like("gcp", "gcp:serviceaccount/account:Account", "orders-sa", { project: "shop-prod", accountId: "orders-g1b2c3d" }),
            like("gcp", "gcp:secretmanager/secretVersion:SecretVersion", "orders-secret-version", { secret: "projects/shop-prod/secrets/orders-credential", labels: { "repave-generation": "g1b2c3d" } }),
        ]);
        assert.deepEqual(creates.map((c) => ("id" in c ? c.id : c.action)), [
            "projects/shop-prod/global/instanceTemplates/orders-4c5d6e-g1b2c3d",
            "projects/shop-prod/regions/europe-west1/instanceGroupManagers/orders-4c5d6e-g1b2c3d",
            "projects/shop-prod/global/backendServices/orders-4c5d6e-g1b2c3d-be",
            "projects/shop-prod/serviceAccounts/orders-g1b2c3d@shop-prod.iam.gserviceaccount.com",
            "manual",
        ]);
    });

    it("Kubernetes objects are deleted, components and state-only dynamic resources made nothing; only creates count", () => {
        const creates = pendingCreates([
            like("kubernetes", "kubernetes:apps/v1:Deployment", "orders-deployment", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "orders-g1b2c3d", namespace: "shop" } }),
            like("kubernetes", "pulumi-nodejs:dynamic/repave:ProbeGate", "orders-gate", { generation: "g1b2c3d" }),
            { type: "creating", resource: { ...like("aws", "repave:role:FrontDoorRole", "orders-front-door-role", {}).resource, custom: false } },
            like("aws", "aws:autoscaling/group:Group", "orders-asg", { name: "orders-asg" }, "updating"),
            like("aws", "aws:autoscaling/group:Group", "orders-old", { name: "orders-old" }, "deleting"),
        ]);
        assert.deepEqual(creates.map((c) => c.action), ["delete", "none", "none"]);
    });
});

describe("recover: adopting the creates it can name", () => {
    const creates = pendingCreates([
        like("aws", "aws:autoscaling/group:Group", "orders-asg", { name: "orders-3f2a1c-g1b2c3d" }),
        like("gcp", "gcp:compute/healthCheck:HealthCheck", "orders-health", { project: "shop-prod", name: "orders-hc" }),
        like("aws", "aws:acm/certificate:Certificate", "orders-certificate", { domainName: "api.example.com" }),
    ]);
    const fakeStack = (fail?: string) => {
        const calls: unknown[] = [];
        const stack = {
            import: async (options: unknown) => {
                calls.push(options);
                if (fail) throw new Error(`command failed\nerror: ${fail}`);
                return {};
            },
        } as unknown as Stack;
        return { stack, calls };
    };

    it("imports under the program's own name, or under <name>-orphaned-by-kill where the live resource holds that URN (the next update deletes it)", async () => {
        const { stack, calls } = fakeStack();
        const handled = await importPendingCreates(stack, creates, new Set([creates[0]!.urn]));
        const options = calls[0] as { resources: Array<{ type: string; name: string; id: string; parent: string; provider: string }>; nameTable: Record<string, string>; protect: boolean };
        assert.deepEqual(options.resources.map((r) => [r.type, r.name, r.id]), [
            ["aws:autoscaling/group:Group", "orders-asg-orphaned-by-kill", "orders-3f2a1c-g1b2c3d"],
            ["gcp:compute/healthCheck:HealthCheck", "orders-health", "projects/shop-prod/global/healthChecks/orders-hc"],
        ]);
        assert.equal(options.nameTable[options.resources[0]!.parent], "urn:pulumi:prod::repave::repave:aws:StatelessApi::orders");
        assert.equal(options.nameTable[options.resources[0]!.provider], "urn:pulumi:prod::repave::pulumi:providers:aws::default_7_0_0", "the provider's URN, without its id");
        assert.equal(options.protect, false);
        assert.deepEqual(handled.map(describeDisposition).map((l) => l.replace(/ \(.*?\)/, "")), [
            "orders-asg: imported as orders-3f2a1c-g1b2c3d",
            "orders-health: imported as projects/shop-prod/global/healthChecks/orders-hc",
            "orders-certificate: LEFT - its id is assigned by the cloud and was never recorded; find it and delete it (or `pulumi import aws:acm/certificate:Certificate <name> <id>`)",
        ]);
    });

    it("a failed import says so per resource, with the id to look for: never reported as done", async () => {
        const { stack } = fakeStack("resource 'orders-3f2a1c-g1b2c3d' does not exist");
        const handled = await importPendingCreates(stack, creates, new Set());
        assert.match(describeDisposition(handled[0]!), /NOT imported \(resource 'orders-3f2a1c-g1b2c3d' does not exist\); find orders-3f2a1c-g1b2c3d and delete it/);
    });
});
