// The credential on AWS (the model is components/changeover.ts's LiveCredential): one Secrets Manager secret per
// API, stable, whose staging labels say which credential callers use.
//
//   store      the secret itself: front door, never replaced. Callers and the monitor read AWSCURRENT.
//   staged     per generation: a version holding the candidate's own credential under a label of its own
//              (`repave-<generation>`), so that adding it does not move AWSCURRENT: callers keep the live one.
//   promotion  per generation: a second version with the same credential, labelled AWSCURRENT (and
//              `repave-<generation>-current`, so an operator sees whose it is), put after the switch and the bake.
//              Secrets Manager then moves AWSPREVIOUS to the version that was current - the live generation's,
//              which the new generation still accepts.
//
// The candidate's instances read two versions by id: their own (staged) and the one AWSCURRENT named when the
// candidate was built. Both ids are pinned in the generation, so a reboot after the promotion reads the same two.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { generationOptions, namedFrontDoorOptions, promotionOptions, type Changeover, type LiveCredential } from "../changeover.ts";
import { AWS_NAME_MAX } from "./names.ts";
import { GenerationCredential } from "./providers.ts";

/** @internal The label a candidate's own version carries: unique per generation, so deleting it never moves another. */
export const stagedLabel = (generation: string): string => `repave-${generation}`;

/** @internal The stable secret callers read (AWSCURRENT). */
export function createCredentialStore(parent: pulumi.Resource, prefix: string, changeover: Changeover, tags: Record<string, string>): aws.secretsmanager.Secret {
    return new aws.secretsmanager.Secret(
        `${prefix}-credential-store`,
        {
            name: changeover.stableName("credential", AWS_NAME_MAX.secret),
            description: `repave ${changeover.spec.name}: the bearer credential callers use (AWSCURRENT) and the one before it (AWSPREVIOUS)`,
            // A destroyed stack's name is free again at once; the credentials in it die with the stack anyway.
            recoveryWindowInDays: 0,
            tags,
        },
        namedFrontDoorOptions(parent),
    );
}

/**
 * @internal What the store's AWSCURRENT holds now, read at deploy time (previews too): null before the first
 * promotion. Any other failure stops the deploy: guessing "no credential yet" would cut callers off.
 */
export async function readLiveCredential(storeName: string, opts: pulumi.InvokeOptions): Promise<LiveCredential | null> {
    let current: aws.secretsmanager.GetSecretVersionResult;
    try {
        current = await aws.secretsmanager.getSecretVersion({ secretId: storeName, versionStage: "AWSCURRENT" }, opts);
    } catch (err) {
        if (isNotFound(err)) return null;
        throw new Error(`credential: cannot read AWSCURRENT of the secret ${storeName} (hint: the deploying role needs secretsmanager:GetSecretValue on it): ${(err as Error).message}`);
    }
    return { current: pulumi.secret(current.secretString), versionId: current.versionId };
}

/**
 * A secret that does not exist yet, or has no version with that label. The provider reports both as "couldn't find
 * resource" (terraform-provider-aws internal/service/secretsmanager/secret_version_data_source.go: findSecretVersion
 * turns ResourceNotFoundException into a NotFoundError); older releases said "ResourceNotFoundException".
 */
function isNotFound(err: unknown): boolean {
    return /couldn't find resource|ResourceNotFoundException|Version "[^"]*" not found/.test(String((err as Error)?.message ?? err));
}

/** @internal */
export interface GenerationSecret {
    credential: GenerationCredential;
    staged: aws.secretsmanager.SecretVersion;
}

/** @internal The candidate's credential (I5), staged in the store without moving AWSCURRENT (I8: a secret only). */
export function createCredential(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    store: aws.secretsmanager.Secret,
    live: LiveCredential | null,
): GenerationSecret {
    const opts = generationOptions(parent, changeover);
    const credential = new GenerationCredential(
        `${prefix}-credential`,
        {
            api: changeover.spec.name,
            generation: changeover.identity.id,
            previous: live ? pulumi.secret(live.current) : null,
            previousVersionId: live?.versionId ?? null,
        },
        opts,
    );
    const staged = new aws.secretsmanager.SecretVersion(
        `${prefix}-secret-version`,
        { secretId: store.arn, secretString: pulumi.secret(credential.value), versionStages: [stagedLabel(changeover.identity.id)] },
        opts,
    );
    return { credential, staged };
}

/** @internal The credential a caller holding the live one uses: the pinned previous, or the own one on a first generation. */
export function graceCredential(credential: GenerationCredential): pulumi.Output<string> {
    return pulumi.secret(pulumi.all([credential.previous, credential.value]).apply(([previous, own]) => previous ?? own));
}

/** @internal After the switch and the bake: AWSCURRENT moves to this generation's credential, AWSPREVIOUS to the live one's. */
export function promoteCredential(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    store: aws.secretsmanager.Secret,
    credential: GenerationCredential,
    after: pulumi.Resource[],
): aws.secretsmanager.SecretVersion {
    // Naming AWSCURRENT moves it here and AWSPREVIOUS to the version it left (API Reference, PutSecretValue,
    // VersionStages). Naming it also keeps the provider's view right: a configured list must include AWSCURRENT
    // while the version holds it, or every refresh shows a difference (aws.secretsmanager.SecretVersion docs).
    return new aws.secretsmanager.SecretVersion(
        `${prefix}-secret-current`,
        { secretId: store.arn, secretString: pulumi.secret(credential.value), versionStages: ["AWSCURRENT", `${stagedLabel(changeover.identity.id)}-current`] },
        promotionOptions(generationOptions(parent, changeover), after),
    );
}

/**
 * @internal The instance role's only permission: GetSecretValue on the store, for exactly the two versions this
 * generation accepts (the `secretsmanager:VersionId` condition key of GetSecretValue, AWS Service Authorization
 * Reference, "Actions, resources, and condition keys for AWS Secrets Manager").
 */
export function instancePolicy(storeArn: string, versionIds: readonly string[]): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadThisGenerationsCredentials",
                Effect: "Allow",
                Action: ["secretsmanager:GetSecretValue"],
                Resource: [storeArn],
                Condition: { StringEquals: { "secretsmanager:VersionId": [...versionIds] } },
            },
        ],
    });
}
