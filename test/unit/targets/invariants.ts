// One invariant suite for every cloud target, run with Pulumi mocks (the clouds cannot be reached here). A target
// test builds its component twice (two deploys: a new deploy id and a newer image from the mocked lookup) and hands
// the recorded registrations to these checks, which assert real properties: names, wiring, ordering, secrets.
//
// Why registration order means something: a resource is registered only once every input it takes from another
// resource has resolved, so if the switch takes `gate.generation` as an input, the switch is registered after
// the gate's outputs exist - the same order the engine will create them in.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
    index: number;
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    custom: boolean;
}

export interface MockOptions {
    /** Extra outputs a mocked resource returns (e.g. an ARN, a self-link, a DNS name). */
    outputs?: (r: { type: string; name: string; inputs: Record<string, unknown> }) => Record<string, unknown>;
    /** Answers to invokes (data sources): `getAmi`, `ssm.getParameter`, `compute.getImage`, ... */
    call?: (token: string, inputs: Record<string, unknown>) => Record<string, unknown>;
}

/** Waits until no new registration arrived for a while: mocks resolve asynchronously. */
async function settle(count: () => number): Promise<void> {
    let last = -1;
    while (last !== count()) {
        last = count();
        await new Promise((r) => setTimeout(r, 50));
    }
}

/**
 * Runs `build` under fresh mocks and returns every resource it registered, in registration order. Each call is
 * one "program run" (one deploy).
 */
export async function runWithMocks(build: () => void, options: MockOptions = {}, stack = "test"): Promise<Registration[]> {
    const registrations: Registration[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (args: pulumi.runtime.MockResourceArgs) => {
                const inputs = args.inputs as Record<string, unknown>;
                registrations.push({ index: registrations.length, type: args.type, name: args.name, inputs, custom: args.custom ?? true });
                const extra = options.outputs?.({ type: args.type, name: args.name, inputs }) ?? {};
                return { id: `${args.name}-id`, state: { ...inputs, ...extra } };
            },
            call: (args: pulumi.runtime.MockCallArgs) => options.call?.(args.token, args.inputs as Record<string, unknown>) ?? {},
        },
        "repave",
        stack,
        false,
    );
    build();
    await settle(() => registrations.length);
    return registrations;
}

export type Pick = (r: Registration) => boolean;

export const byType = (...types: string[]): Pick => (r) => types.includes(r.type);

function find(run: Registration[], pick: Pick, what: string): Registration[] {
    const found = run.filter(pick);
    assert.ok(found.length > 0, `no ${what} registered (types seen: ${[...new Set(run.map((r) => r.type))].join(", ")})`);
    return found;
}

/** I4: the front door has the same logical names and the same physical identity on every deploy. */
export function assertStableFrontDoor(first: Registration[], second: Registration[], isFrontDoor: Pick): void {
    const a = find(first, isFrontDoor, "front-door resource");
    const b = find(second, isFrontDoor, "front-door resource");
    assert.deepEqual(b.map((r) => `${r.type}::${r.name}`).sort(), a.map((r) => `${r.type}::${r.name}`).sort(), "front-door URNs change between deploys");
    for (const ra of a) {
        const rb = b.find((r) => r.type === ra.type && r.name === ra.name)!;
        for (const key of ["name", "namePrefix", "port", "ipAddress", "address", "loadBalancerType", "loadBalancerArn"]) {
            if (key in ra.inputs) assert.deepEqual(rb.inputs[key], ra.inputs[key], `front door ${ra.name}.${key} changes between deploys`);
        }
    }
}

/**
 * I1/I5: generation resources keep their logical names (the engine replaces them, create-before-delete) but their
 * physical names and tags carry the new generation id, so the candidate exists beside the live one.
 */
export function assertGenerationReplaced(first: Registration[], second: Registration[], isGeneration: Pick, ids: [string, string]): void {
    assert.notEqual(ids[0], ids[1], "the two deploys must have different generation ids");
    const a = find(first, isGeneration, "generation resource");
    const b = find(second, isGeneration, "generation resource");
    assert.deepEqual(b.map((r) => `${r.type}::${r.name}`).sort(), a.map((r) => `${r.type}::${r.name}`).sort(), "generation logical names must be stable (replace, not delete+create)");
    for (const r of b) {
        const text = JSON.stringify(r.inputs);
        assert.ok(text.includes(ids[1]), `${r.type} ${r.name} does not carry the new generation id ${ids[1]}`);
        assert.ok(!text.includes(ids[0]), `${r.type} ${r.name} still carries the old generation id ${ids[0]}`);
    }
}

/** I2: the switch is registered after the gate and takes the gated generation as an input. */
export function assertGateBeforeSwitch(run: Registration[], isGate: Pick, isSwitch: Pick, generation: string): void {
    const gate = find(run, isGate, "gate");
    const switches = find(run, isSwitch, "switch");
    for (const s of switches) {
        assert.ok(s.index > Math.max(...gate.map((g) => g.index)), `switch ${s.name} registered before the gate`);
        assert.ok(JSON.stringify(s.inputs).includes(generation), `switch ${s.name} does not take the gated generation ${generation} as an input`);
    }
    assert.ok(gate.every((g) => g.inputs["generation"] === generation), "the gate checks the candidate generation");
}

/** Certificate attached before the switch: every certificate resource is registered before every switch. */
export function assertBefore(run: Registration[], first: Pick, then: Pick, what: string): void {
    const a = find(run, first, what.split(" before ")[0] ?? what);
    const b = find(run, then, what.split(" before ")[1] ?? what);
    assert.ok(Math.max(...a.map((r) => r.index)) < Math.min(...b.map((r) => r.index)), `${what}: order violated`);
}

/** The gate's probes cover both positive and negative transactions. */
export function assertGateProbes(run: Registration[], isGate: Pick): void {
    for (const gate of find(run, isGate, "gate")) {
        const probes = gate.inputs["probes"] as { positive: unknown[]; negative: unknown[] };
        assert.ok(probes.positive.length > 0 && probes.negative.length > 0, "gate must run positive and negative probes");
    }
}

/** The config of an example stack under stacks/, parsed with js-yaml (the YAML parser Pulumi reads stack files with). */
export function readExampleStack(file: string): Record<string, unknown> {
    const yaml = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown };
    const stack = yaml.load(readFileSync(new URL(`../../../stacks/${file}`, import.meta.url), "utf8")) as { config: Record<string, unknown> };
    return stack.config;
}
