// One invariant suite for every cloud target, run with Pulumi mocks (the clouds cannot be reached here). A target
// test builds its component twice (two deploys: a new deploy id and a newer image from the mocked lookup) and hands
// the recorded registrations to these checks, which assert real properties: names, wiring, ordering, secrets.
//
// Why registration order means something: a resource is registered only once every input it takes from another
// resource has resolved, so if the switch takes `gate.generation` as an input, the switch is registered after
// the gate's outputs exist - the same order the engine will create them in.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
    index: number;
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    custom: boolean;
    /** What the SDK sent the engine beside the inputs (the mocks' newResource does not see these). */
    urn: string;
    ignoreChanges: string[];
    /** URNs of the resources this one depends on (inputs and dependsOn, components expanded to their children). */
    dependencies: string[];
    /** The names (or URNs) this resource was known by before: the engine moves a resource by its alias, no replace. */
    aliases: string[];
    /** Registered with `protect` (set or inherited from its parent): the engine refuses to delete or replace it. */
    protect: boolean;
}

/** A resource that only depends on what it is told to (a consumer of a component in the tests). */
export class Consumer extends pulumi.CustomResource {
    constructor(name: string, opts: pulumi.CustomResourceOptions) {
        super("test:index:Consumer", name, {}, opts);
    }
}

/** The part of the SDK's registration request these checks read (gRPC RegisterResourceRequest). */
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getIgnorechangesList(): string[];
    getProtect(): boolean;
    getDependenciesList(): string[];
    getAliasesList(): { getUrn(): string; getSpec(): { getName(): string } | undefined }[];
}

export interface MockOptions {
    /** Extra outputs a mocked resource returns (e.g. an ARN, a self-link, a DNS name; `id`: the provider's id). */
    outputs?: (r: { type: string; name: string; inputs: Record<string, unknown>; id?: string | undefined }) => Record<string, unknown>;
    /** A preview (`pulumi preview`): values the mocks answer with `UNKNOWN` stay unknown, as the engine's do. */
    preview?: boolean;
    /** Answers to invokes (data sources): `getAmi`, `ssm.getParameter`, `compute.getImage`, ... */
    call?: (token: string, inputs: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * An invoke that the provider refused, as the engine reports it: the resource monitor wraps the provider's error
 * ("invocation of <token> returned an error: ...", pulumi/pulumi pkg/resource/deploy/source_eval.go, Invoke) and
 * the Node SDK rethrows the gRPC error's `details` (sdk/nodejs/runtime/invoke.ts: `new Error(err.details)`). A
 * plain throw from a mock's `call` would reach the program with an empty message.
 */
export function providerError(token: string, message: string): Error {
    return Object.assign(new Error(message), { details: `invocation of ${token} returned an error: ${message}` });
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
    const requests = new Map<string, RegisterRequest>();
    const urns = new Map<string, string>();
    await pulumi.runtime.setMocks(
        {
            newResource: (args: pulumi.runtime.MockResourceArgs) => {
                const inputs = args.inputs as Record<string, unknown>;
                const key = `${args.type}::${args.name}`;
                const req = requests.get(key);
                const registration = {
                    index: registrations.length,
                    type: args.type,
                    name: args.name,
                    inputs,
                    custom: args.custom ?? true,
                    urn: "",
                    ignoreChanges: req?.getIgnorechangesList() ?? [],
                    dependencies: req?.getDependenciesList() ?? [],
                    aliases: (req?.getAliasesList() ?? []).map((a) => a.getSpec()?.getName() || a.getUrn()),
                    protect: req?.getProtect() ?? false,
                };
                // The URN is the monitor's answer: known once this registration returns.
                Object.defineProperty(registration, "urn", { get: () => urns.get(key) ?? "", enumerable: true });
                registrations.push(registration);
                // `id` is set for a read of an existing object (Resource.get), empty for a registration.
                const extra = options.outputs?.({ type: args.type, name: args.name, inputs, id: args.id || undefined }) ?? {};
                // A provider's id where the mocks name one (a GCP secret's is its resource name), else a placeholder.
                const id = typeof extra["id"] === "string" ? extra["id"] : `${args.name}-id`;
                return { id, state: { ...inputs, ...extra } };
            },
            call: (args: pulumi.runtime.MockCallArgs) => options.call?.(args.token, args.inputs as Record<string, unknown>) ?? {},
        },
        "repave",
        stack,
        options.preview ?? false,
    );
    // The mock monitor hands newResource the inputs only; keep the rest of each request for the checks.
    type Callback = (err: unknown, resp?: { getUrn(): string }) => void;
    type Rpc = (req: RegisterRequest, cb: Callback) => unknown;
    const monitor = (pulumi.runtime as unknown as { getMonitor(): { registerResource: Rpc; readResource: Rpc } }).getMonitor();
    // Registrations and reads (Resource.get) alike: a read is a resource of the program too.
    for (const rpc of ["registerResource", "readResource"] as const) {
        const call = monitor[rpc].bind(monitor);
        monitor[rpc] = (req, cb) => {
            const key = `${req.getType()}::${req.getName()}`;
            if (rpc === "registerResource") requests.set(key, req);
            return call(req, (err, resp) => {
                if (resp) urns.set(key, resp.getUrn());
                cb(err, resp);
            });
        };
    }
    build();
    await settle(() => registrations.length);
    return registrations;
}

/**
 * One program run under the shared mocks, waited out: runWithMocks stops at the first 50 ms without a new
 * registration, and a component registers its roles only after asynchronous lookups (image, live credential).
 * Rather than rely on that quiet window, wait for the component's generation (known once every role is
 * constructed) and for every registration RPC to finish (the runtime's own waitForRPCs) before the next run
 * replaces the mocks.
 */
export async function completeRun(
    build: () => pulumi.ComponentResource & { generation: pulumi.Output<string> },
    options: MockOptions,
    stack = "test",
): Promise<Registration[]> {
    let component: { generation: pulumi.Output<string> } | undefined;
    const registrations = await runWithMocks(
        () => {
            component = build();
        },
        options,
        stack,
    );
    // A mock that throws (an assertion on an invoke's inputs) leaves the program waiting: fail, do not hang.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
        new Promise<void>((resolve) => component!.generation.apply(() => resolve())),
        new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error(`the program did not finish within 60 s (${registrations.length} registrations)`)), 60_000))),
    ]).finally(() => clearTimeout(timer));
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return registrations;
}

export type Pick = (r: Registration) => boolean;

/** What a provider answers for a value it cannot know before the update (the engine's unknown sentinel). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The input properties of a registration that were unknown when it was registered (a preview). */
export const unknownInputs = (r: Registration): string[] => Object.keys(r.inputs).filter((k) => JSON.stringify(r.inputs[k], (_key, v: unknown) => (pulumi.isUnknown(v) ? UNKNOWN : v)).includes(UNKNOWN));

/**
 * The stack's mark in AWS and GCP physical names, as the tests expect it: 6 hex of sha256("<project>\n<stack>\n<api>")
 * (said here on its own, not imported, so the expectation does not follow the code it checks).
 */
export const stackMark = (project: string, stack: string, api: string): string => createHash("sha256").update(`${project}\n${stack}\n${api}`).digest("hex").slice(0, 6);

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

/**
 * One deploy seen from a caller: which generation production routes to, which credential the stable reference
 * hands out (what callers fetch), which credential each monitor sends, in engine order (registration index).
 */
export interface CredentialTimeline {
    /** The state before the deploy: what the previous deploy left. */
    before: { production: string; reference: string; monitors: Record<string, string> };
    /** What this deploy moves, in registration order: production (the switch), the reference (the promotion), a monitor. */
    events: { index: number; production?: string; reference?: string; monitor?: { name: string; credential: string } }[];
    /** The new generation, and the credentials each generation accepts (from its resources, resolved in the fake cloud). */
    candidate: string;
    accepts: (generation: string) => readonly string[];
    /** Credentials the candidate must refuse: a wrong one, and the one of two generations ago where it exists. */
    refused: readonly string[];
}

/**
 * "Callers keep working across the switch" (DESIGN: one generation of grace). At every step of the deploy, the
 * credential the reference hands out and every monitor's credential are accepted by the generation production
 * routes to; the candidate accepts what callers held before the deploy; at the end the reference and the monitors
 * are on the candidate's own credential, and the candidate refuses the credentials it must refuse.
 */
export function assertCallersKeepWorking(t: CredentialTimeline): void {
    const state = { production: t.before.production, reference: t.before.reference, monitors: { ...t.before.monitors } };
    const check = (when: string) => {
        const accepted = t.accepts(state.production);
        assert.ok(accepted.includes(state.reference), `${when}: production (${state.production}) refuses the credential the reference hands callers`);
        for (const [name, credential] of Object.entries(state.monitors)) {
            assert.ok(accepted.includes(credential), `${when}: production (${state.production}) refuses monitor ${name}'s credential: it alarms`);
        }
    };
    assert.ok(t.accepts(t.candidate).includes(t.before.reference), `the candidate ${t.candidate} refuses the credential callers hold before the deploy`);
    check("before the deploy");
    for (const event of [...t.events].sort((a, b) => a.index - b.index)) {
        if (event.production !== undefined) state.production = event.production;
        if (event.reference !== undefined) state.reference = event.reference;
        if (event.monitor) state.monitors[event.monitor.name] = event.monitor.credential;
        check(`after registration #${event.index} (${JSON.stringify(event)})`);
    }
    assert.equal(state.production, t.candidate, "production ends on the candidate");
    assert.notEqual(state.reference, t.before.reference, "the reference never moved: the credential was not rotated");
    const own = t.accepts(t.candidate).filter((c) => c !== t.before.reference);
    assert.deepEqual([state.reference], own, "the reference ends on the candidate's own credential");
    for (const [name, credential] of Object.entries(state.monitors)) assert.equal(credential, state.reference, `monitor ${name} ends on the new credential`);
    for (const credential of t.refused) assert.ok(!t.accepts(t.candidate).includes(credential), `the candidate accepts a credential it must refuse`);
}

/** Every physical name a run asks for, by the name rules of its cloud: `type field value`. */
export function physicalNames(run: Registration[], rules: Record<string, { field: string }[]>): string[] {
    return run.flatMap((r) => (rules[r.type] ?? []).flatMap((rule) => (typeof r.inputs[rule.field] === "string" ? [`${r.type} ${rule.field} ${String(r.inputs[rule.field])}`] : [])));
}

/**
 * "Two stacks, one account": the same spec deployed by two stacks into one account or project asks for no physical
 * name twice (cloud names are per account or project; the second create would fail with "already exists").
 */
export function assertTwoStacksOneAccount(a: Registration[], b: Registration[], rules: Record<string, { field: string }[]>): void {
    const first = new Set(physicalNames(a, rules));
    assert.ok(first.size > 0, "no named resources to compare");
    const shared = physicalNames(b, rules).filter((n) => first.has(n));
    assert.deepEqual(shared, [], "two stacks of one spec ask for the same physical names");
}

/**
 * Existing stacks keep their names: every named front-door resource ignores changes of its name, so a stack
 * deployed before names carried the stack is not renamed - renaming would replace it (I4).
 */
export function assertExistingStacksKeepNames(run: Registration[], isFrontDoor: Pick, rules: Record<string, { field: string }[]>): void {
    const named = run.filter((r) => isFrontDoor(r) && (rules[r.type] ?? []).some((rule) => typeof r.inputs[rule.field] === "string"));
    assert.ok(named.length > 0, "no named front-door resources");
    for (const r of named) {
        for (const rule of rules[r.type]!) {
            assert.ok(r.ignoreChanges.includes(rule.field), `${r.type} ${r.name}: a stack deployed before would have its ${rule.field} changed (and the resource replaced)`);
        }
    }
}

/**
 * A consumer's `dependsOn` on the component waits for all of it: the SDK expands a component into its children
 * once the component's initialize() finished, so every custom resource the component registered is among the
 * consumer's dependencies - the engine then creates the consumer after, and deletes it before, all of them.
 */
export function assertDependsOnWaitsForChildren(run: Registration[], consumer: string): void {
    const registered = run.find((r) => r.name === consumer);
    assert.ok(registered, `no ${consumer} registered`);
    const children = run.filter((r) => r.custom && r.name !== consumer);
    assert.ok(children.length > 0, "the component registered nothing");
    const missing = children.filter((r) => !registered.dependencies.includes(r.urn)).map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(missing, [], `${consumer} dependsOn the component but not on these of its children`);
    assert.ok(registered.index > Math.max(...children.map((r) => r.index)), `${consumer} registered before the component finished`);
}

/**
 * `protectFrontDoor`: every front-door resource is protected, and nothing a repave must replace or delete is (a
 * protected generation would block the next repave: the engine refuses to delete a protected resource).
 */
export function assertOnlyFrontDoorProtected(run: Registration[], isFrontDoor: Pick): void {
    const custom = run.filter((r) => r.custom);
    const unprotected = custom.filter((r) => isFrontDoor(r) && !r.protect).map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(unprotected, [], "front-door resources not protected");
    const blocking = custom.filter((r) => !isFrontDoor(r) && r.protect).map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(blocking, [], "protected resources a repave must replace or delete");
}
