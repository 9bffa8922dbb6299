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
import { currentDeployId, generationIdentity, generationName, type GenerationIdentity } from "./generation.ts";
import type { StatelessApiSpec } from "./spec.ts";

export interface Changeover {
    spec: StatelessApiSpec;
    identity: GenerationIdentity;
    /** Physical name of a generation-scoped resource: `<api>-<generation>[-suffix]`. */
    name(suffix?: string): string;
    /** Physical name of a front-door resource: `<api>[-suffix]`, the same on every deploy. */
    stableName(suffix?: string): string;
    /** Tags/labels every resource carries: which API, which generation, which image. */
    tags: Record<string, string>;
}

export function beginChangeover(spec: StatelessApiSpec, imageId: string, deployId?: string, now = new Date()): Changeover {
    const identity = generationIdentity(spec, { imageId, deployId: deployId ?? currentDeployId(), now });
    return {
        spec,
        identity,
        name: (suffix) => generationName(spec.name, identity.id, suffix),
        stableName: (suffix) => (suffix ? `${spec.name}-${suffix}` : spec.name),
        tags: { "repave:api": spec.name, "repave:generation": identity.id, "repave:managed-by": "repave" },
    };
}

/** Front-door resources: stable names, never replaced by a repave. Pass `protect: true` in `extra` for production
 * stacks (the policy pack's repave-front-door-protected rule asks for it). */
export function frontDoorOptions(parent: pulumi.Resource, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    return { parent, ...extra };
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
    return { parent, ...extra, dependsOn: [...(extra.dependsOn ?? []), gate] };
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
