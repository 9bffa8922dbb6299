// The step of the AWS changeover that no AWS resource performs, as a small Pulumi dynamic resource (the bake after
// the switch is shared by every cloud target: ../bake.ts):
//   GenerationCredential  mints a random bearer credential once per generation and keeps it in state as a secret
//                         (@pulumi/random is not a dependency; a value minted in the program would change on every
//                         run and update the live generation's secret in place).
// Pulumi serializes these functions into state, so they capture no imports: builtins come from
// process.getBuiltinModule, as in components/gate.ts.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "../changeover.ts";

// -------------------------------------------------------------------------------------- generation credential

/** @internal */
export interface GenerationCredentialInputs {
    api: string;
    generation: string;
    /**
     * The credential callers hold when this generation is built (the reference's current one), which it accepts
     * too for its whole life; null on the first generation. Kept from the create: a later deploy that builds no
     * new generation (`pinned`) sees this generation's own credential as current, and must not rewrite it.
     */
    previous: string | null;
    /** The Secrets Manager version that holds `previous`: the instances read it by this id (pinned, like `previous`). */
    previousVersionId: string | null;
}

/** @internal Exported for tests: what the engine runs for GenerationCredential. */
export const credentialProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: GenerationCredentialInputs) {
        const value = process.getBuiltinModule("node:crypto").randomBytes(32).toString("base64url");
        return { id: `credential-${inputs.api}-${inputs.generation}`, outs: { ...inputs, value, createdAt: new Date().toISOString() } };
    },
    async diff(_id: string, olds: GenerationCredentialInputs, news: GenerationCredentialInputs) {
        // A credential belongs to one generation: a new generation mints a new one, never rewrites the live one.
        // `previous` is not compared: what the reference names moves on, what this generation accepts does not.
        const replaces = (["api", "generation"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

/**
 * @internal `pulumi-nodejs:dynamic/repave:GenerationCredential`: 32 random bytes, and the previous credential it
 * also accepts, both secrets in state and outputs (I8).
 */
export class GenerationCredential extends pulumi.dynamic.Resource {
    declare readonly value: pulumi.Output<string>;
    declare readonly previous: pulumi.Output<string | null>;
    declare readonly previousVersionId: pulumi.Output<string | null>;
    declare readonly createdAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<GenerationCredentialInputs>, opts?: pulumi.CustomResourceOptions) {
        super(
            credentialProvider,
            name,
            { ...args, value: undefined, createdAt: undefined },
            { ...opts, additionalSecretOutputs: ["value", "previous"] },
            "repave",
            "GenerationCredential",
        );
    }
}
