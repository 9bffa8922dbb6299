// `repave plan` reads engine events the same way for every target. The local cases are a real preview's events
// (captured from the engine: test/unit/fixtures, secrets and the dynamic provider's code trimmed); the cloud cases
// are built in the same shape - the URN carries the parent type chain, `new.parent`/`old.parent` the parent's URN,
// a delete has only `old`, a create only `new` - with each target's real types and inputs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import { frontDoorRoleType } from "../../components/roles.ts";
import { exitCodes } from "../../cli/errors.ts";
import type { ApiFacts } from "../../cli/facts.ts";
import { planFromEvents, renderMarkdown } from "../../cli/plan.ts";
import { frontDoorRefusal } from "../../cli/run.ts";

const fixture = (name: string) => JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", name), "utf8")) as EngineEvent[];
const apisIn = (events: EngineEvent[]) => [
    ...new Set(events.flatMap((e) => (e.resourcePreEvent && /^repave:[a-z]+:StatelessApi$/.test(e.resourcePreEvent.metadata.type) ? [e.resourcePreEvent.metadata.urn.split("::").pop()!] : []))),
];

const facts = (api: string, generation: string, imageHash = "ami-0old"): ApiFacts => ({
    api,
    url: `https://${api}.example.com`,
    generation,
    previousGeneration: null,
    previousImageVersion: null,
    imageVersion: "al2023-ami-2026.11.01",
    imageHash,
    imageCreatedAt: "2026-11-01T00:00:00Z",
    certSerial: "arn:aws:acm:cert/old",
    certNotAfter: "2027-01-01T00:00:00Z",
    credentialCreatedAt: "2026-11-20T00:00:00Z",
    generationCreatedAt: "2026-11-20T00:00:00Z",
});

/** A stack's events in the engine's shape, for one target's component type. */
function stackOf(target: string, stack = "prod") {
    const base = `urn:pulumi:${stack}::repave::`;
    const apiType = `repave:${target}:StatelessApi`;
    const apiUrn = (api: string) => `${base}${apiType}::${api}`;
    const roleUrn = (api: string) => `${base}${apiType}$${frontDoorRoleType}::${api}-front-door-role`;
    const state = (type: string, urn: string, parent: string, inputs: Record<string, unknown>) => ({ type, urn, custom: true, id: `${urn.split("::").pop()}-id`, parent, inputs, outputs: {}, provider: "" });
    const event = (op: string, type: string, urn: string, parent: string, inputs: Record<string, unknown>): EngineEvent => {
        const old = op === "create" ? undefined : state(type, urn, parent, inputs);
        const nu = op === "delete" || op === "delete-replaced" ? undefined : state(type, urn, parent, inputs);
        return { sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op, urn, type, provider: "", ...(old ? { old } : {}), ...(nu ? { new: nu } : {}) } } } as unknown as EngineEvent;
    };
    return {
        api: (api: string, op = "same") => [
            event(op, apiType, apiUrn(api), `${base}pulumi:pulumi:Stack::repave-${stack}`, {}),
            event(op, frontDoorRoleType, roleUrn(api), apiUrn(api), {}),
        ],
        /** A resource the changeover rebuilds or gates: a direct child of the API's component. */
        child: (op: string, type: string, name: string, api: string, inputs: Record<string, unknown> = {}) =>
            event(op, type, `${base}${apiType}$${type}::${name}`, apiUrn(api), inputs),
        /** A front-door resource: a child of the API's role marker, whatever its type. */
        door: (op: string, type: string, name: string, api: string, inputs: Record<string, unknown> = {}) =>
            event(op, type, `${base}${apiType}$${frontDoorRoleType}$${type}::${name}`, roleUrn(api), inputs),
    };
}

describe("repave plan on a real preview of the local target (engine events captured)", () => {
    it("two APIs; one front door's port changed: that front door is replaced (delete-before-replace), the other kept; exit 8", () => {
        const events = fixture("plan-events-local-replace.json");
        const plan = planFromEvents("e2e", events, [], apisIn(events), {});
        const hello = plan.apis.find((a) => a.api === "hello")!;
        const orders = plan.apis.find((a) => a.api === "orders")!;
        assert.equal(plan.frontDoorChanged, true);
        assert.deepEqual(orders.frontDoorChanges, [{ name: "orders-front-door", type: "local:FrontDoor", op: "replace" }]);
        assert.equal(orders.frontDoorKept, false);
        assert.equal(hello.frontDoorKept, true, "hello's front door, CA and switch are kept (the switch is updated in place)");
        assert.deepEqual(hello.updated.map((u) => u.name).sort(), ["hello-gate", "hello-switch"]);
        assert.deepEqual(hello.replaced.map((r) => r.name), ["hello-generation"]);
        assert.equal(hello.repave, true);
        const refusal = frontDoorRefusal(plan, "repave run");
        assert.equal(refusal?.exitCode, exitCodes.frontDoorChange);
        assert.equal(exitCodes.frontDoorChange, 8);
        assert.match(refusal.message, /orders: replace orders-front-door \(local:FrontDoor\).*--allow-front-door-change/);
    });

    it("an API removed from the program: each part of its front door is a delete; the remaining API is unaffected", () => {
        const events = fixture("plan-events-local-remove.json");
        const plan = planFromEvents("e2e", events, [], apisIn(events), {});
        const orders = plan.apis.find((a) => a.api === "orders")!;
        assert.deepEqual(orders.frontDoorChanges.map((c) => `${c.op} ${c.name}`).sort(), ["delete orders-ca", "delete orders-front-door", "delete orders-switch"]);
        assert.equal(plan.apis.find((a) => a.api === "hello")!.frontDoorKept, true);
        assert.ok(frontDoorRefusal(plan, "repave run"));
    });

    it("a repave that keeps every front door passes: no refusal", () => {
        const events = fixture("plan-events-local-replace.json").filter((e) => !e.resourcePreEvent?.metadata.urn.endsWith("::orders-front-door"));
        const plan = planFromEvents("e2e", events, [], apisIn(events), {});
        assert.equal(plan.frontDoorChanged, false);
        assert.equal(frontDoorRefusal(plan, "repave run"), undefined);
    });
});

describe("repave plan: which API owns a resource", () => {
    it("follows the parent chain to the API's component, not a name prefix (orders vs orders-admin)", () => {
        const s = stackOf("local");
        const gen = "repave:local:Generation";
        const events = [
            ...s.api("orders"),
            ...s.api("orders-admin"),
            s.door("same", "repave:local:FrontDoor", "orders-front-door", "orders"),
            s.child("create-replacement", gen, "orders-generation", "orders", { generation: "gbbbbbb" }),
            s.door("delete-replaced", "repave:local:FrontDoor", "orders-admin-front-door", "orders-admin"),
            s.door("replace", "repave:local:FrontDoor", "orders-admin-front-door", "orders-admin"),
            s.door("create-replacement", "repave:local:FrontDoor", "orders-admin-front-door", "orders-admin"),
            s.child("create-replacement", gen, "orders-admin-generation", "orders-admin", { generation: "gccccccc" }),
        ];
        const plan = planFromEvents("prod", events, [], ["orders", "orders-admin"], {});
        const orders = plan.apis.find((a) => a.api === "orders")!;
        const admin = plan.apis.find((a) => a.api === "orders-admin")!;
        assert.deepEqual(orders.kept.map((k) => k.name), ["orders-front-door"], "not the stack, not the role marker, not orders-admin's front door");
        assert.deepEqual(orders.replaced.map((r) => r.name), ["orders-generation"]);
        assert.equal(orders.frontDoorKept, true, "orders' front door is kept even though orders-admin's is replaced");
        assert.deepEqual(admin.frontDoorChanges, [{ name: "orders-admin-front-door", type: "local:FrontDoor", op: "replace" }], "one entry for the three steps of a replace");
    });
});

describe("repave plan on the AWS target's shapes", () => {
    const s = stackOf("aws");
    // aws.autoscaling.Group takes its tags as a list; most AWS resources take a map.
    const asgTags = (generation: string) => [
        { key: "repave:api", value: "orders", propagateAtLaunch: true },
        { key: "repave:generation", value: generation, propagateAtLaunch: true },
    ];
    const repave = [
        ...s.api("orders"),
        s.door("same", "aws:lb/loadBalancer:LoadBalancer", "orders-alb", "orders", { tags: { "repave:api": "orders" } }),
        s.door("same", "aws:ec2/securityGroup:SecurityGroup", "orders-alb-sg", "orders"),
        s.door("update", "aws:lb/listener:Listener", "orders-production-listener", "orders"),
        s.child("create-replacement", "aws:autoscaling/group:Group", "orders-asg", "orders", { tags: asgTags("gbbbbbb") }),
        s.child("replace", "aws:autoscaling/group:Group", "orders-asg", "orders", { tags: asgTags("gbbbbbb") }),
        s.child("create-replacement", "aws:acm/certificate:Certificate", "orders-certificate", "orders", { tags: { "repave:generation": "gbbbbbb" } }),
        s.child("replace", "aws:acm/certificate:Certificate", "orders-certificate", "orders", { tags: { "repave:generation": "gbbbbbb" } }),
        s.child("update", "pulumi-nodejs:dynamic/repave:ProbeGate", "orders-gate", "orders", { generation: "gbbbbbb", image: "ami-0new" }),
        s.child("delete-replaced", "aws:autoscaling/group:Group", "orders-asg", "orders", { tags: asgTags("gaaaaaa") }),
    ];

    it("a repave: the generation from the ASG's tag list, the new AMI from the gate, the front door kept", () => {
        const plan = planFromEvents("prod", repave, [facts("orders", "gaaaaaa")], ["orders"], {});
        const api = plan.apis[0]!;
        assert.equal(api.repave, true);
        assert.equal(api.candidateGeneration, "gbbbbbb");
        assert.equal(api.image.to, "ami-0new");
        assert.equal(api.image.changed, true);
        assert.equal(api.frontDoorKept, true);
        assert.equal(plan.frontDoorChanged, false);
        assert.deepEqual(api.replaced.map((r) => r.name).sort(), ["orders-asg", "orders-certificate"]);
    });

    it("a replaced security-group rule or a deleted alias record is a front-door change (no fixed list of types)", () => {
        const events = [
            ...repave,
            s.door("delete-replaced", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "orders-alb-https-in", "orders"),
            s.door("replace", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "orders-alb-https-in", "orders"),
            s.door("delete", "aws:route53/record:Record", "orders-alias", "orders"),
        ];
        const plan = planFromEvents("prod", events, [facts("orders", "gaaaaaa")], ["orders"], {});
        assert.deepEqual(plan.apis[0]!.frontDoorChanges.map((c) => `${c.op} ${c.type}`), ["replace aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "delete aws:route53/record:Record"]);
        assert.equal(frontDoorRefusal(plan, "repave run")?.exitCode, 8);
    });

    it("nothing replaced (pinned, same image): no repave, the live generation stays", () => {
        const events = [...s.api("orders"), s.door("same", "aws:lb/loadBalancer:LoadBalancer", "orders-alb", "orders"), s.child("same", "aws:autoscaling/group:Group", "orders-asg", "orders", { tags: asgTags("gaaaaaa") })];
        const plan = planFromEvents("prod", events, [facts("orders", "gaaaaaa")], ["orders"], { same: 2 });
        assert.equal(plan.repave, false);
        assert.equal(plan.apis[0]!.candidateGeneration, "gaaaaaa");
    });

    it("a new API: its front door is created, which is no change to an existing one", () => {
        const events = [...s.api("orders", "create"), s.door("create", "aws:lb/loadBalancer:LoadBalancer", "orders-alb", "orders"), s.child("create", "aws:autoscaling/group:Group", "orders-asg", "orders", { tags: asgTags("gaaaaaa") })];
        const plan = planFromEvents("prod", events, [], ["orders"], {});
        assert.equal(plan.frontDoorChanged, false);
        assert.equal(plan.apis[0]!.candidateGeneration, "gaaaaaa");
    });
});

describe("repave plan on the GCP target's shapes (two APIs)", () => {
    const s = stackOf("gcp");
    const template = (api: string, generation: string) => ({ labels: { "repave-api": api, "repave-generation": generation } });
    const events = [
        ...s.api("orders"),
        ...s.api("billing"),
        s.door("same", "gcp:compute/globalAddress:GlobalAddress", "orders-address", "orders"),
        s.door("update", "gcp:compute/uRLMap:URLMap", "orders-url-map", "orders"),
        s.child("create-replacement", "gcp:compute/instanceTemplate:InstanceTemplate", "orders-template", "orders", template("orders", "gbbbbbb")),
        s.child("replace", "gcp:compute/instanceTemplate:InstanceTemplate", "orders-template", "orders", template("orders", "gbbbbbb")),
        s.door("same", "gcp:compute/globalAddress:GlobalAddress", "billing-address", "billing"),
        s.door("delete-replaced", "gcp:compute/firewall:Firewall", "billing-health-checks", "billing"),
        s.door("replace", "gcp:compute/firewall:Firewall", "billing-health-checks", "billing"),
        s.door("create-replacement", "gcp:compute/firewall:Firewall", "billing-health-checks", "billing"),
        s.child("same", "gcp:compute/instanceTemplate:InstanceTemplate", "billing-template", "billing", template("billing", "gcccccc")),
    ];

    it("orders repaves from its template's label with its URL map switched in place; billing's firewall replacement is a front-door change", () => {
        const plan = planFromEvents("prod", events, [facts("orders", "gaaaaaa"), facts("billing", "gcccccc")], ["orders", "billing"], {});
        const orders = plan.apis.find((a) => a.api === "orders")!;
        const billing = plan.apis.find((a) => a.api === "billing")!;
        assert.equal(orders.candidateGeneration, "gbbbbbb");
        assert.equal(orders.frontDoorKept, true);
        assert.equal(billing.repave, false);
        assert.deepEqual(billing.frontDoorChanges, [{ name: "billing-health-checks", type: "gcp:compute/firewall:Firewall", op: "replace" }]);
        assert.equal(plan.frontDoorChanged, true);
    });
});

describe("repave plan on the Kubernetes target's shapes", () => {
    const s = stackOf("kubernetes");
    const deployment = (generation: string) => ({ metadata: { labels: { "repave.dev/api": "orders", "repave.dev/generation": generation } } });

    it("the generation label on a replaced Deployment; the Service patched in place is kept", () => {
        const events = [
            ...s.api("orders"),
            s.door("update", "kubernetes:core/v1:Service", "orders-service", "orders"),
            s.child("create-replacement", "kubernetes:apps/v1:Deployment", "orders-deployment", "orders", deployment("gccccccc")),
            s.child("replace", "kubernetes:apps/v1:Deployment", "orders-deployment", "orders", deployment("gccccccc")),
        ];
        const api = planFromEvents("prod", events, [facts("orders", "gaaaaaa")], ["orders"], {}).apis[0]!;
        assert.equal(api.candidateGeneration, "gccccccc");
        assert.equal(api.frontDoorKept, true);
    });

    it("a replaced Service or credential Secret is a front-door change", () => {
        const events = [
            ...s.api("orders"),
            s.door("delete-replaced", "kubernetes:core/v1:Service", "orders-service", "orders"),
            s.door("replace", "kubernetes:core/v1:Service", "orders-service", "orders"),
            s.door("create-replacement", "kubernetes:core/v1:Secret", "orders-credential", "orders"),
            s.door("replace", "kubernetes:core/v1:Secret", "orders-credential", "orders"),
        ];
        const plan = planFromEvents("prod", events, [facts("orders", "gaaaaaa")], ["orders"], {});
        assert.deepEqual(plan.apis[0]!.frontDoorChanges.map((c) => c.name), ["orders-service", "orders-credential"]);
    });
});

describe("repave plan: every engine op has a bucket", () => {
    const s = stackOf("aws");
    it("read, refresh, import, discard, remove-pending-replace and the replacement halves land where they belong; an unknown op is shown", () => {
        const events = [
            ...s.api("orders"),
            s.child("read", "aws:ec2/vpc:Vpc", "orders-vpc", "orders"),
            s.child("read-replacement", "aws:ec2/subnet:Subnet", "orders-subnet", "orders"),
            s.child("refresh", "aws:iam/role:Role", "orders-role", "orders"),
            s.child("import", "aws:route53/zone:Zone", "orders-zone", "orders"),
            s.child("import-replacement", "aws:acm/certificate:Certificate", "orders-imported-cert", "orders"),
            s.child("discard", "aws:ec2/securityGroup:SecurityGroup", "orders-old-read", "orders"),
            s.child("discard-replaced", "aws:ec2/subnet:Subnet", "orders-subnet", "orders"),
            s.child("remove-pending-replace", "aws:autoscaling/group:Group", "orders-asg", "orders"),
            s.child("refresh", "aws:lb/targetGroup:TargetGroup", "orders-tg", "orders"),
            s.child("same", "aws:lb/targetGroup:TargetGroup", "orders-tg", "orders"),
            s.child("teleport", "aws:s3/bucket:Bucket", "orders-bucket", "orders"),
        ];
        const api = planFromEvents("prod", events, [facts("orders", "gaaaaaa")], ["orders"], {}).apis[0]!;
        const names = (xs: Array<{ name: string }>) => xs.map((x) => x.name).sort();
        assert.deepEqual(names(api.read), ["orders-role", "orders-subnet", "orders-vpc"]);
        assert.deepEqual(names(api.imported), ["orders-imported-cert", "orders-zone"]);
        assert.deepEqual(names(api.forgotten), ["orders-asg", "orders-old-read", "orders-subnet"]);
        assert.deepEqual(names(api.kept), ["orders-tg"], "a refresh followed by a plan step counts once, as planned");
        assert.deepEqual(api.other, [{ name: "orders-bucket", type: "aws:s3/bucket:Bucket", op: "teleport" }]);
        assert.equal(api.frontDoorKept, true);
        const every = [api.replaced, api.updated, api.created, api.deleted, api.kept, api.imported, api.read, api.forgotten, api.other].flat().length;
        assert.equal(every, 10, "one entry per resource and bucket, 12 steps in all");
    });
});

describe("repave plan with a policy pack: checks a preview cannot run are shown", () => {
    it("the host's downgraded 'can't run' warnings are listed per rule and resource; other warnings are not", () => {
        const s = stackOf("aws");
        const policyEvent = (message: string, resourceUrn?: string): EngineEvent =>
            ({ sequence: 0, timestamp: 0, policyEvent: { ...(resourceUrn ? { resourceUrn } : {}), message, color: "never", policyName: "repave-no-wildcard-actions", policyPackName: "repave", policyPackVersion: "0.1.0", policyPackVersionTag: "0.1.0", enforcementLevel: "warning" } });
        const urn = "urn:pulumi:prod::repave::repave:aws:StatelessApi$aws:iam/rolePolicy:RolePolicy::orders-instance-policy";
        const events = [
            ...s.api("orders"),
            policyEvent("can't run policy 'repave-no-wildcard-actions' from policy pack 'repave@v0.1.0' during preview: string value at .policy can't be known during preview", urn),
            policyEvent("front-door resource orders-alb is not protected", urn),
        ];
        const plan = planFromEvents("prod", events, [], ["orders"], {});
        assert.deepEqual(plan.policyUnchecked.map((u) => [u.policy, u.resource]), [["repave-no-wildcard-actions", "orders-instance-policy"]]);
        assert.match(renderMarkdown(plan), /could not run[\s\S]*`repave-no-wildcard-actions` on `orders-instance-policy`/);
    });
});
