// The credential on Kubernetes (the model is components/changeover.ts's LiveCredential): a Secret per generation
// plus one stable Secret that callers and the monitor read.
//
//   reference  `<api>-credential`, stable: key `current` is what callers use, `previous` the one before. Created
//              empty with the front door; its keys belong to the promotion (a server-side-apply patch), so the
//              Secret resource itself never changes them.
//   read       before anything changes, this deploy reads the reference as it is (a read of the live object,
//              previews too): `current` is what callers hold, and the candidate accepts it too.
//   generation the candidate's Secret holds `credential` (its own) and `previous` (what callers held), both pinned
//              for its life: a pod restarted after the promotion still reads the same two.
//   promotion  after the switch: the patch moves `current` to the new credential and `previous` to the live one.
import * as kubernetes from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorOptions, promotionOptions, type Changeover } from "../changeover.ts";
import type { KubernetesArgs } from "./config.ts";
import { labelKeys } from "./generation.ts";
import { graceCredential, type GenerationSecrets } from "./mint.ts";

/** The stable Secret callers read, created without data (the promotion owns its keys). */
export function createCredentialReference(name: string, parent: pulumi.Resource, changeover: Changeover, target: KubernetesArgs): kubernetes.core.v1.Secret {
    return new kubernetes.core.v1.Secret(
        `${name}-credential-reference`,
        {
            metadata: { name: changeover.stableName("credential"), namespace: target.namespace, labels: { [labelKeys.api]: changeover.spec.name } },
            type: "Opaque",
        },
        frontDoorOptions(parent),
    );
}

/**
 * What the reference's `current` holds now (null before the first promotion): a read of the live object, after
 * the reference exists. Secret data reads back base64-encoded (Kubernetes API, Secret v1: `data`; `stringData` is
 * never output when reading).
 */
export function readLiveCredential(name: string, parent: pulumi.Resource, reference: kubernetes.core.v1.Secret): { credential: pulumi.Output<string | null>; generation: pulumi.Output<string | null> } {
    const live = kubernetes.core.v1.Secret.get(
        `${name}-credential-live`,
        pulumi.interpolate`${reference.metadata.namespace}/${reference.metadata.name}`,
        { parent, dependsOn: [reference] },
    );
    return {
        credential: pulumi.secret(live.data.apply((data) => (data?.["current"] ? Buffer.from(data["current"], "base64").toString("utf8") : null))),
        // The generation the last promotion named: the one production serves (a failed bake promoted nothing), which
        // a failed bake of this deploy's candidate switches production back to.
        generation: live.metadata.apply((m: { annotations?: Record<string, string> } | undefined) => m?.annotations?.["repave.dev/generation"] ?? null),
    };
}

/** After the switch: `current` -> the new credential, `previous` -> the one callers held (an in-place patch). */
export function promoteCredential(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    reference: kubernetes.core.v1.Secret,
    secrets: GenerationSecrets,
    after: pulumi.Resource[],
): kubernetes.core.v1.SecretPatch {
    return new kubernetes.core.v1.SecretPatch(
        `${name}-credential-current`,
        {
            metadata: {
                name: reference.metadata.name,
                namespace: reference.metadata.namespace,
                annotations: { "repave.dev/generation": changeover.identity.id },
            },
            stringData: { current: pulumi.secret(secrets.credential), previous: graceCredential(secrets) },
        },
        promotionOptions(frontDoorOptions(parent), after),
    );
}
