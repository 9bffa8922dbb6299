// `repave plan` reads engine events the same way for every target: local and cloud shapes, synthetic events.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";
import type { ApiFacts } from "../../cli/facts.ts";
import { planFromEvents } from "../../cli/plan.ts";

const step = (op: string, type: string, name: string, inputs: Record<string, unknown> = {}): EngineEvent =>
    ({
        sequence: 0,
        timestamp: 0,
        resourcePreEvent: { metadata: { op, urn: `urn:pulumi:prod::repave::${type}::${name}`, type, provider: "", new: { inputs, outputs: {}, type, urn: "", id: "", parent: "", provider: "" } } },
    }) as unknown as EngineEvent;

const live: ApiFacts = {
    api: "orders",
    url: "https://orders.example.com",
    generation: "gaaaaaa",
    previousGeneration: null,
    previousImageVersion: null,
    imageVersion: "al2023-ami-2026.11.01",
    imageHash: "ami-0old",
    imageCreatedAt: "2026-11-01T00:00:00Z",
    certSerial: "arn:aws:acm:cert/old",
    certNotAfter: "2027-01-01T00:00:00Z",
    credentialCreatedAt: "2026-11-20T00:00:00Z",
    generationCreatedAt: "2026-11-20T00:00:00Z",
};

/** An event in the engine's real shape: the URN carries the parent's type chain, `new.parent` the parent's URN. */
const child = (op: string, type: string, name: string, api: string, inputs: Record<string, unknown> = {}): EngineEvent => {
    const parent = `urn:pulumi:prod::repave::repave:local:StatelessApi::${api}`;
    const urn = `urn:pulumi:prod::repave::repave:local:StatelessApi$${type}::${name}`;
    return { sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op, urn, type, provider: "", new: { inputs, outputs: {}, type, urn, id: "", parent, provider: "" } } } } as unknown as EngineEvent;
};
const component = (api: string): EngineEvent =>
    ({ sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op: "same", urn: `urn:pulumi:prod::repave::repave:local:StatelessApi::${api}`, type: "repave:local:StatelessApi", provider: "", new: { inputs: {}, outputs: {}, type: "repave:local:StatelessApi", urn: "", id: "", parent: "urn:pulumi:prod::repave::pulumi:pulumi:Stack::repave-prod", provider: "" } } } }) as unknown as EngineEvent;

describe("repave plan: which API owns a resource", () => {
    it("follows the parent chain to the API's component, not a name prefix (orders vs orders-admin)", () => {
        const gen = "pulumi-nodejs:dynamic/local:Generation";
        const events = [
            ({ sequence: 0, timestamp: 0, resourcePreEvent: { metadata: { op: "same", urn: "urn:pulumi:prod::repave::pulumi:pulumi:Stack::orders-api-prod", type: "pulumi:pulumi:Stack", provider: "", new: { inputs: {}, outputs: {}, type: "pulumi:pulumi:Stack", urn: "", id: "", parent: "", provider: "" } } } }) as unknown as EngineEvent,
            component("orders"),
            component("orders-admin"),
            child("same", "pulumi-nodejs:dynamic/local:FrontDoor", "orders-front-door", "orders"),
            child("create-replacement", gen, "orders-generation", "orders", { generation: "gbbbbbb" }),
            child("same", "pulumi-nodejs:dynamic/local:FrontDoor", "orders-admin-front-door", "orders-admin"),
            child("replace", "pulumi-nodejs:dynamic/local:FrontDoor", "orders-admin-front-door", "orders-admin"),
            child("create-replacement", gen, "orders-admin-generation", "orders-admin", { generation: "gccccccc" }),
        ];
        const plan = planFromEvents("prod", events, [], ["orders", "orders-admin"], {});
        const orders = plan.apis.find((a) => a.api === "orders")!;
        const admin = plan.apis.find((a) => a.api === "orders-admin")!;
        assert.deepEqual(orders.kept.map((k) => k.name), ["orders-front-door"], "not the stack, not orders-admin's front door");
        assert.deepEqual(orders.replaced.map((r) => r.name), ["orders-generation"]);
        assert.equal(orders.frontDoorKept, true, "orders' front door is kept even though orders-admin's is replaced");
        assert.equal(admin.frontDoorKept, false);
        assert.deepEqual(admin.replaced.map((r) => r.name).sort(), ["orders-admin-front-door", "orders-admin-generation"]);
    });
});

describe("repave plan from engine events", () => {
    it("an AWS repave: generation replaced (from its tags), new AMI from the gate, ALB and listeners kept", () => {
        const tags = { "repave:api": "orders", "repave:generation": "gbbbbbb" };
        const events = [
            step("same", "aws:lb/loadBalancer:LoadBalancer", "orders-alb", { tags: { "repave:api": "orders" } }),
            step("update", "aws:lb/listener:Listener", "orders-listener"),
            step("replace", "aws:autoscaling/group:Group", "orders-asg", { tags }),
            step("create-replacement", "aws:autoscaling/group:Group", "orders-asg", { tags }),
            step("replace", "aws:acm/certificate:Certificate", "orders-cert", { tags }),
            step("update", "pulumi-nodejs:dynamic/repave:ProbeGate", "orders-gate", { generation: "gbbbbbb", image: "ami-0new" }),
        ];
        const plan = planFromEvents("prod", events, [live], ["orders"], { update: 2, replace: 2, same: 1 });
        const api = plan.apis[0]!;
        assert.equal(plan.repave, true);
        assert.equal(api.liveGeneration, "gaaaaaa");
        assert.equal(api.candidateGeneration, "gbbbbbb");
        assert.equal(api.image.to, "ami-0new");
        assert.equal(api.image.changed, true);
        assert.equal(api.frontDoorKept, true);
        assert.deepEqual(api.replaced.map((r) => r.name).sort(), ["orders-asg", "orders-cert"]);
    });

    it("a replaced load balancer is reported as a front door that is NOT kept", () => {
        const events = [
            step("replace", "aws:lb/loadBalancer:LoadBalancer", "orders-alb"),
            step("replace", "aws:autoscaling/group:Group", "orders-asg", { tags: { "repave:generation": "gbbbbbb" } }),
        ];
        assert.equal(planFromEvents("prod", events, [live], ["orders"], {}).apis[0]!.frontDoorKept, false);
    });

    it("nothing replaced (pinned, same image): no repave, the live generation stays", () => {
        const events = [step("same", "aws:lb/loadBalancer:LoadBalancer", "orders-alb"), step("same", "aws:autoscaling/group:Group", "orders-asg", { tags: { "repave:generation": "gaaaaaa" } })];
        const plan = planFromEvents("prod", events, [live], ["orders"], { same: 2 });
        assert.equal(plan.repave, false);
        assert.equal(plan.apis[0]!.candidateGeneration, "gaaaaaa");
    });

    it("Kubernetes: the generation label on a replaced Deployment", () => {
        const events = [
            step("same", "kubernetes:core/v1:Service", "orders-service"),
            step("replace", "kubernetes:apps/v1:Deployment", "orders-deployment", { metadata: { labels: { "repave.dev/generation": "gccccccc" } } }),
        ];
        const api = planFromEvents("prod", events, [live], ["orders"], {}).apis[0]!;
        assert.equal(api.candidateGeneration, "gccccccc");
        assert.equal(api.frontDoorKept, true);
    });
});
