// `repave run`'s step lines come from the engine's events: each changeover step once, in order, with its time.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EngineEvent, OpType } from "@pulumi/pulumi/automation/index.js";
import { ChangeoverProgress, stepOf } from "../../cli/progress.ts";

const urn = (type: string, name: string) => `urn:pulumi:dev::orders-api::repave:local:StatelessApi$${type}::${name}`;
const event = (kind: "pre" | "out", type: string, name: string, op: OpType): EngineEvent => {
    const metadata = { op, urn: urn(type, name), type, provider: "" };
    return kind === "pre" ? { sequence: 0, timestamp: 0, resourcePreEvent: { metadata } } : { sequence: 0, timestamp: 0, resOutputsEvent: { metadata } };
};

describe("changeover progress", () => {
    it("maps the engine's operations to the changeover's steps", () => {
        const gen = "repave:local:Generation";
        assert.equal(stepOf(gen, urn(gen, "orders-generation"), "create-replacement"), "candidate");
        assert.equal(stepOf(gen, urn(gen, "orders-generation"), "replace"), undefined, "bookkeeping, not a step");
        assert.equal(stepOf(gen, urn(gen, "orders-generation"), "delete-replaced"), "retire");
        assert.equal(stepOf("repave:local:Gate", urn("x", "orders-gate"), "update"), "gate");
        assert.equal(stepOf("repave:local:Switch", urn("x", "orders-switch"), "update"), "switch");
        assert.equal(stepOf("repave:local:FrontDoor", urn("x", "orders-front-door"), "same"), undefined);
    });

    it("prints each step once as plain lines outside a terminal, with elapsed time", () => {
        const lines: string[] = [];
        const progress = new ChangeoverProgress((t) => lines.push(t), false);
        const gen = "repave:local:Generation";
        for (const [kind, type, name, op] of [
            ["pre", gen, "orders-generation", "create-replacement"], ["out", gen, "orders-generation", "create-replacement"],
            ["pre", gen, "orders-generation", "replace"], ["out", gen, "orders-generation", "replace"],
            ["pre", "x:Gate", "orders-gate", "update"], ["out", "x:Gate", "orders-gate", "update"],
            ["pre", "x:Switch", "orders-switch", "update"], ["out", "x:Switch", "orders-switch", "update"],
            ["pre", gen, "orders-generation", "delete-replaced"], ["out", gen, "orders-generation", "delete-replaced"],
        ] as const) progress.onEvent(event(kind, type, name, op));
        assert.equal(lines.length, 8);
        assert.ok(lines.every((l) => /^\[\s*\d+\.\ds\] orders: /.test(l) && l.endsWith("\n")));
        assert.deepEqual(lines.filter((l) => !l.includes("...")).map((l) => l.replace(/^\[[^\]]+\] orders: /, "").replace(/ \(.*$/s, "")), [
            "candidate: healthy", "gate: passed", "switch and bake: done", "retire: old generation gone",
        ]);
    });
});
