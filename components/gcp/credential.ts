// The credential on GCP (the model is components/changeover.ts's LiveCredential):
//
//   store      one Secret Manager secret per API, stable: callers and the uptime check use its `latest` version.
//   generation a credential minted once per generation (GenerationCredential, below) and two secrets of the
//              generation's own, readable by its service account only: its credential, and the one callers held
//              when it was built (`latest` of the store then) - both pinned for the generation's life, reboots too.
//   promotion  per generation: a new version of the store, added after the switch. `latest` is the most recently
//              created version, so callers move then - when production accepts both.
//
// The GenerationCredential cannot be minted in the program: a program run that builds no new generation (policy
// `pinned` or `max-age`) would mint a different value and churn the live generation's secret. So it is a tiny
// dynamic resource whose create draws the random bytes (inside the provider process) and which is replaced -
// never updated - with its generation (I5, I8).
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { generationOptions, namedFrontDoorOptions, promotionOptions, type Changeover, type LiveCredential } from "../changeover.ts";

interface CredentialInputs {
    api: string;
    generation: string;
    /** What callers held when this generation was built; null on a first generation. Kept from the create. */
    previous: string | null;
}

/** @internal Exported for tests: what the engine runs for this resource. */
export const credentialProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CredentialInputs) {
        const { randomBytes } = process.getBuiltinModule("node:crypto");
        const outs = { ...inputs, value: randomBytes(32).toString("base64url"), createdAt: new Date().toISOString() };
        return { id: `credential-${inputs.api}-${inputs.generation}`, outs };
    },
    async diff(_id: string, olds: CredentialInputs, news: CredentialInputs) {
        // `previous` is not compared: the reference moves on (to this generation's own credential, once promoted),
        // what this generation accepts does not.
        const replaces = (["api", "generation"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:GenerationCredential`: `value` and `previous` are secrets in state and outputs. */
export class GenerationCredential extends pulumi.dynamic.Resource {
    declare readonly value: pulumi.Output<string>;
    declare readonly previous: pulumi.Output<string | null>;
    declare readonly createdAt: pulumi.Output<string>;
    constructor(name: string, args: { [K in keyof CredentialInputs]: pulumi.Input<CredentialInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(credentialProvider, name, { ...args, value: undefined, createdAt: undefined }, { ...opts, additionalSecretOutputs: ["value", "previous"] }, "repave", "GenerationCredential");
    }
}

/** The credential a caller holding the live one uses: the pinned previous, or the own one on a first generation. */
export function graceCredential(credential: GenerationCredential): pulumi.Output<string> {
    return pulumi.secret(pulumi.all([credential.previous, credential.value]).apply(([previous, own]) => previous ?? own));
}

/** The API's stable secret: callers read its `latest` version. */
export function createCredentialStore(name: string, parent: pulumi.Resource, changeover: Changeover, project: string, labels: Record<string, string>): gcp.secretmanager.Secret {
    return new gcp.secretmanager.Secret(`${name}-credential-store`, { project, secretId: changeover.stableName("credential"), replication: { auto: {} }, labels }, namedFrontDoorOptions(parent, { ignoreChanges: ["secretId"] }));
}

/**
 * What the store's `latest` holds now, read at deploy time (previews too): null before the first promotion. Any
 * other failure stops the deploy: guessing "no credential yet" would cut callers off.
 */
export async function readLiveCredential(project: string, secretId: string, opts: pulumi.InvokeOptions): Promise<LiveCredential | null> {
    try {
        const latest = await gcp.secretmanager.getSecretVersionAccess({ project, secret: secretId }, opts);
        return { current: pulumi.secret(latest.secretData) };
    } catch (err) {
        // A secret that does not exist yet, or has no version: the API's 404 ("Secret [...] not found or has no
        // versions"), wrapped by the provider (terraform-provider-google services/secretmanager/
        // data_source_secret_manager_secret_version_access.go: "error retrieving available secret manager secret
        // version access: googleapi: Error 404: ...").
        if (/Error 404|not found or has no versions/.test(String((err as Error)?.message ?? err))) return null;
        throw new Error(`credential: cannot read the latest version of ${secretId} (hint: the deploying identity needs roles/secretmanager.secretAccessor on it): ${(err as Error).message}`);
    }
}

/** After the switch: a new version of the store, which makes it `latest` for callers and the uptime check. */
export function promoteCredential(name: string, parent: pulumi.Resource, changeover: Changeover, store: gcp.secretmanager.Secret, credential: GenerationCredential, after: pulumi.Resource[]): gcp.secretmanager.SecretVersion {
    return new gcp.secretmanager.SecretVersion(
        `${name}-credential-current`,
        { secret: store.name, secretData: pulumi.secret(credential.value) },
        promotionOptions(generationOptions(parent, changeover), after),
    );
}
