// The changeover every target follows, said once. A target folder maps each role to its platform's resources and
// asks this module for names, tags and resource options, so the ordering rules cannot drift between targets:
//
//   frontDoor   stable: created once, never replaced by a repave (I4)           -> frontDoorOptions
//   generation  everything rebuilt: compute, pinned image, cert, credentials  -> generationOptions, name(...)
//   gate        synthetic transactions on the candidate's test route          -> components/gate.ts ProbeGate
//   switch      production route to the candidate; takes gate.generation (I2) -> switchOptions
//   credential  one stable secret name, read by callers and monitors; promoted  -> promotionOptions
//               to the candidate's credential only after the switch
//
// Generation resources keep one logical name (so the engine *replaces* them, create-before-delete, and deletes the
// old one only at the end of a successful update, after the switch: I1/I3) while their physical names carry the
// generation id (so the new one can exist beside the old one).
import * as pulumi from "@pulumi/pulumi";
import { currentDeployId, fitName, generationIdentity, generationName, stackScope, type GenerationIdentity } from "./generation.ts";
import { frontDoorRoleType } from "./roles.ts";
import type { StatelessApiSpec } from "./spec.ts";

export interface Changeover {
    spec: StatelessApiSpec;
    identity: GenerationIdentity;
    /** The stack's mark in physical names (stackScope), or null where names are per namespace or state folder. */
    scope: string | null;
    /**
     * Physical name of a generation-scoped resource: `<api>-<scope>-<generation>[-suffix]` within `max` characters
     * (the API part is cut to fit; `<api>-<generation>[-suffix]` without a scope).
     */
    name(suffix?: string, max?: number): string;
    /** Physical name of a front-door resource: `<api>-<scope>[-suffix]` (without a scope `<api>[-suffix]`), the same on every deploy. */
    stableName(suffix?: string, max?: number): string;
    /** Tags/labels every resource carries: which API, which generation, which image. */
    tags: Record<string, string>;
}

export interface ChangeoverOptions {
    /** Identifies this deploy (default: REPAVE_DEPLOY_ID, else the time). */
    deployId?: string | undefined;
    now?: Date;
    /**
     * Put the stack into physical names and the generation id (AWS and GCP, whose names are per account or project).
     * Default false: Kubernetes objects are per namespace, and renaming a Service would replace it (I4).
     */
    scoped?: boolean;
    /** The target's settings that shape a generation's resources, hashed into its id (generationIdentity). */
    shape?: unknown;
}

/** Names longer than this are cut only where a resource says so (`max`): GCP's RFC 1035 names are the tightest common rule. */
const DEFAULT_MAX = 63;

export function beginChangeover(spec: StatelessApiSpec, imageId: string, options: ChangeoverOptions = {}): Changeover {
    const scope = options.scoped ? stackScope(pulumi.getProject(), pulumi.getStack(), spec.name) : null;
    const identity = generationIdentity(spec, {
        imageId,
        deployId: options.deployId ?? currentDeployId(),
        now: options.now ?? new Date(),
        ...(scope !== null ? { scope } : {}),
        ...(options.shape !== undefined ? { shape: JSON.stringify(options.shape) } : {}),
    });
    const tail = (...parts: (string | undefined)[]) => parts.filter((p): p is string => !!p).join("-");
    return {
        spec,
        identity,
        scope,
        name: (suffix, max = DEFAULT_MAX) =>
            scope === null ? generationName(spec.name, identity.id, suffix) : fitName(spec.name, tail(scope, identity.id, suffix), max),
        stableName: (suffix, max = DEFAULT_MAX) =>
            scope === null ? (suffix ? `${spec.name}-${suffix}` : spec.name) : fitName(spec.name, tail(scope, suffix), max),
        tags: { "repave:api": spec.name, "repave:generation": identity.id, "repave:managed-by": "repave" },
    };
}

/** The role component that marks its children as an API's front door (components/roles.ts). */
class FrontDoorRole extends pulumi.ComponentResource {
    constructor(name: string, opts: pulumi.ComponentResourceOptions) {
        super(frontDoorRoleType, name, {}, opts);
        this.registerOutputs({});
    }
}

const frontDoorRoles = new WeakMap<pulumi.Resource, FrontDoorRole>();
const protectedFrontDoors = new WeakSet<pulumi.Resource>();

/**
 * Protects `parent`'s front door and nothing a repave rebuilds: its role component is registered with `protect`,
 * which every front-door resource inherits as its child (a child's `protect` defaults to its parent's, Pulumi
 * resource options). A component-level `protect` would also protect the generations and block every repave. Call it
 * before the component's first front-door resource.
 */
export function protectFrontDoor(parent: pulumi.Resource): void {
    protectedFrontDoors.add(parent);
}

/**
 * The role marker, set here and nowhere else: a front-door resource becomes a child of its API's
 * `repave:role:FrontDoorRole` component, so `repave plan` and the policy pack recognise it by its URN on every target.
 * Stacks deployed before the marker keep their resources: the alias to the old parent moves each one in state
 * (the engine renames its URN, nothing is replaced), and every alias the caller gives is also tried under the old
 * parent.
 */
function asFrontDoor(parent: pulumi.Resource, extra: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
    let role = frontDoorRoles.get(parent);
    if (!role) {
        role = new FrontDoorRole(`${pulumi.resourceName(parent)}-front-door-role`, { parent, ...(protectedFrontDoors.has(parent) ? { protect: true } : {}) });
        frontDoorRoles.set(parent, role);
    }
    const aliases = extra.aliases ?? [];
    const isAlias = (a: pulumi.Input<string | pulumi.Alias>): a is pulumi.Alias =>
        typeof a === "object" && !pulumi.Output.isInstance(a) && !(a instanceof Promise);
    const underOldParent = aliases.flatMap((a) => (isAlias(a) && a.parent === undefined ? [{ ...a, parent }] : []));
    return { ...extra, parent: role, aliases: [...aliases, ...underOldParent, { parent }] };
}

/** Front-door resources: stable names, never replaced by a repave. Pass `protect: true` in `extra` for production
 * stacks (the policy pack's repave-front-door-protected rule asks for it). */
export function frontDoorOptions(parent: pulumi.Resource, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    return asFrontDoor(parent, extra);
}

/**
 * A front-door resource with a physical `name`. A new stack creates it under the stack-scoped name; a stack
 * deployed before names carried the stack keeps the name it has: the engine diffs an ignored property against its
 * old value (Pulumi resource option `ignoreChanges`), so the new name never reaches the provider, and the resource
 * is not replaced - a rename would replace the load balancer or URL map and change its address (I4).
 */
export function namedFrontDoorOptions(parent: pulumi.Resource, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    return frontDoorOptions(parent, { ...extra, ignoreChanges: [...(extra.ignoreChanges ?? []), "name"] });
}

/**
 * Generation resources: replaced whenever the generation id changes, always create-before-delete. The trigger is
 * the id itself, so even a resource whose other inputs happen to be equal is rebuilt (I5).
 */
export function generationOptions(
    parent: pulumi.Resource,
    changeover: Changeover,
    extra: pulumi.CustomResourceOptions = {},
): pulumi.CustomResourceOptions {
    return { parent, deleteBeforeReplace: false, replacementTrigger: changeover.identity.id, ...extra };
}

/** The switch: an in-place update of a stable resource, only after the gate passed this generation (I2). */
export function switchOptions(
    parent: pulumi.Resource,
    gate: pulumi.Resource,
    extra: Omit<pulumi.CustomResourceOptions, "dependsOn"> & { dependsOn?: pulumi.Resource[] } = {},
): pulumi.CustomResourceOptions {
    // The switch is a stable resource too: replacing it would drop the production route, so it carries the marker.
    return asFrontDoor(parent, { ...extra, dependsOn: [...(extra.dependsOn ?? []), gate] });
}

/**
 * The credential model every target follows (the local target's credential store, components/local/changeover.ts):
 *
 *   - callers and monitors read ONE stable secret name (Secrets Manager staging label AWSCURRENT, Secret Manager
 *     `latest`, a Kubernetes Secret's `current` key): the reference;
 *   - a candidate accepts its own, freshly minted credential and the one the reference names when the candidate is
 *     built (the live generation's): both are pinned in the candidate for its whole life, restarts included;
 *   - the reference moves to the candidate's credential only after the switch (and the bake, where a target has
 *     one), when production is served by a generation that accepts both: no caller and no monitor is ever
 *     handed a credential that production refuses; the credential of two generations ago is refused.
 *
 * Moving the monitors *before* the switch would hand them a credential the live generation never saw (it is
 * immutable, I1): so they follow the reference, which the engine moves after the switch.
 */
export interface LiveCredential {
    /** The credential the reference names now: what callers hold, and what the candidate must also accept. */
    current: pulumi.Output<string>;
    /** Where it lives, if the target pins it by a version (a Secrets Manager version id). */
    versionId?: string;
}

/**
 * The promotion of the reference: `base` (generationOptions for a new secret version per generation,
 * frontDoorOptions for an in-place update of a stable object), ordered after `after`: the switch, and the bake
 * where the target has one.
 */
export function promotionOptions(
    base: Omit<pulumi.CustomResourceOptions, "dependsOn">,
    after: pulumi.Resource[],
): pulumi.CustomResourceOptions {
    return { ...base, dependsOn: after };
}

/**
 * @internal How a component hands its validated arguments to its `initialize()`, where its asynchronous work
 * runs. The SDK calls `initialize()` from inside the ComponentResource constructor (synchronously, up to its first
 * await) and waits for it before a consumer's `dependsOn` on the component counts the component's children: work
 * done after an await in the constructor is invisible to it. The arguments given to `super()` would also be sent to
 * the engine as the component's inputs; this hands them over in memory instead: `put` right before `super()`,
 * `take` first thing in `initialize()`.
 */
export class InitializeHandoff<T> {
    private pending: T | undefined;

    put(value: T): void {
        this.pending = value;
    }

    take(): T {
        const value = this.pending;
        this.pending = undefined;
        if (value === undefined) throw new Error("initialize() ran without its arguments: construct the component with new");
        return value;
    }
}

/** @internal The args of a dynamic resource: each field of its inputs may be an Input. */
export type InputsOf<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** Outputs every target registers, so `pulumi stack output` and the driver read the same facts everywhere. */
export interface GenerationFacts {
    url: pulumi.Input<string>;
    testUrl: pulumi.Input<string>;
    generation: pulumi.Input<string>;
    imageId: pulumi.Input<string>;
    imageCreatedAt: pulumi.Input<string>;
    certificate: pulumi.Input<string>;
    certNotAfter: pulumi.Input<string | undefined>;
    credentialCreatedAt: pulumi.Input<string | undefined>;
}
