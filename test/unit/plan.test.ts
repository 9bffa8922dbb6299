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
