// The two steps of the AWS changeover that no AWS resource performs, as small Pulumi dynamic resources:
//   GenerationCredential  mints a random bearer credential once per generation and keeps it in state as a secret
//                         (@pulumi/random is not a dependency; a value minted in the program would change on every
//                         run and update the live generation's secret in place).
//   KeepWarm              after the switch: keeps the old generation warm for keepWarmSeconds, then proves the
//                         production route with the positive probes before the engine may delete the old one.
// Pulumi serializes these functions into state, so they capture no imports: builtins come from
// process.getBuiltinModule and the shared probe runner is loaded by absolute path, as in components/gate.ts.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "../changeover.ts";
import type { ProbeResult, ProbeSuite } from "../probes.ts";
import { moduleFile } from "../module-file.ts";

const PROBES = moduleFile("../probes.ts", import.meta.url);


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

// ------------------------------------------------------------------------------------------------- keep warm

/** @internal */
export interface KeepWarmInputs {
    api: string;
    /** The generation the switch moved production to (the gate's output). */
    generation: string;
    /** The production route: the load balancer's DNS name and production listener port. */
    host: string;
    port: number;
    serverName: string;
    credential: string;
    probes: ProbeSuite;
    keepWarmSeconds: number;
    intervalSeconds: number;
    /** How long production may take to answer for the new generation (listener changes propagate in seconds). */
    settleSeconds: number;
}

/** @internal */
export interface KeepWarmOutputs extends KeepWarmInputs {
    bakedAt: string;
    results: ProbeResult[];
}

/** @internal Runs inside the dynamic-provider process. */
async function keepWarm(inputs: KeepWarmInputs): Promise<KeepWarmOutputs> {
    const probes = process.getBuiltinModule("node:module").createRequire(PROBES)(PROBES) as typeof import("../probes.ts");
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // The old generation is still registered and warm: in-flight requests finish on it, and an operator can point
    // the listener back without waiting for new instances.
    await sleep(inputs.keepWarmSeconds * 1000);
    const endpoint = { host: inputs.host, port: inputs.port, serverName: inputs.serverName };
    const deadline = Date.now() + inputs.settleSeconds * 1000;
    for (;;) {
        const report = await probes.runPositive(endpoint, inputs.probes, inputs.credential);
        // Outputs keep the inputs: the engine hands them back to diff as `olds`.
        if (report.passed) return { ...inputs, bakedAt: new Date().toISOString(), results: report.results };
        if (Date.now() > deadline) {
            throw new Error(
                `keep-warm: production does not answer correctly for ${inputs.generation} of ${inputs.api} after the switch; ` +
                    `the update stops here, so the previous generation is not deleted and can take traffic back. ${probes.summarize(report)}`,
            );
        }
        await sleep(Math.max(1, inputs.intervalSeconds) * 1000);
    }
}

const keepWarmProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: KeepWarmInputs) {
        return { id: `keep-warm-${inputs.api}`, outs: await keepWarm(inputs) };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { changes: (["generation", "host", "port", "serverName"] as const).some((k) => olds[k] !== news[k]) };
    },
    async update(_id: string, _olds: unknown, news: KeepWarmInputs) {
        return { outs: await keepWarm(news) };
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:KeepWarm`: updated (never replaced) once per new generation. */
export class KeepWarm extends pulumi.dynamic.Resource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly bakedAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<KeepWarmInputs>, opts?: pulumi.CustomResourceOptions) {
        super(
            keepWarmProvider,
            name,
            { ...args, bakedAt: undefined, results: undefined },
            { ...opts, additionalSecretOutputs: ["credential"] },
            "repave",
            "KeepWarm",
        );
    }
}
