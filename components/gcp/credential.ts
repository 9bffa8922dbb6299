// A generation's bearer credential, minted once when the generation is created and kept for its life. It cannot be
// minted in the program: a program run that builds no new generation (policy `pinned` or `max-age`) would mint a
// different value and churn the live generation's secret. So it is a tiny dynamic resource whose create draws the
// random bytes (inside the provider process) and which is replaced - never updated - with its generation (I5, I8).
import * as pulumi from "@pulumi/pulumi";

interface CredentialInputs {
    api: string;
    generation: string;
}

/** @internal Exported for tests: what the engine runs for this resource. */
export const credentialProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CredentialInputs) {
        const { randomBytes } = process.getBuiltinModule("node:crypto");
        const outs = { ...inputs, value: randomBytes(32).toString("base64url"), createdAt: new Date().toISOString() };
        return { id: `credential-${inputs.api}-${inputs.generation}`, outs };
    },
    async diff(_id: string, olds: CredentialInputs, news: CredentialInputs) {
        const replaces = (["api", "generation"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:GenerationCredential`: `value` is a secret in state and outputs. */
export class GenerationCredential extends pulumi.dynamic.Resource {
    declare readonly value: pulumi.Output<string>;
    declare readonly createdAt: pulumi.Output<string>;
    constructor(name: string, args: { [K in keyof CredentialInputs]: pulumi.Input<CredentialInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(credentialProvider, name, { ...args, value: undefined, createdAt: undefined }, { ...opts, additionalSecretOutputs: ["value"] }, "repave", "GenerationCredential");
    }
}
