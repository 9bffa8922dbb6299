// Secret material the cluster cannot mint by itself, minted in Pulumi's dynamic-provider process when a resource is
// created and kept for its life - never in the program, where a run that builds no new generation (policy `pinned`
// or `max-age`) would mint different values and churn the live generation:
//   MintedCa           stable (front door): the CA repave signs generation certificates with, when no cert-manager
//                      issuer is configured; clients and the probes trust it.
//   GenerationSecrets  per generation, replaced with it: the bearer credential and, without cert-manager, a fresh
//                      key pair and certificate (I5); and the credential callers held when it was built, which it
//                      accepts too (kept from the create). Keys and credentials are secret outputs (I8).
// X.509 is the local target's PKI (components/local/pki.ts), loaded by path inside the provider process.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "../changeover.ts";
import type * as Pki from "../local/pki.ts";
import { moduleFile } from "../module-file.ts";

/** @internal Loaded inside the dynamic-provider process, where only builtins and this path are available. */
const PKI = moduleFile("../local/pki.ts", import.meta.url);
const loadPki = (): typeof Pki => process.getBuiltinModule("node:module").createRequire(PKI)(PKI) as typeof Pki;

type Props = Record<string, unknown>;
const changed = (olds: Props, news: Props, keys: readonly string[]) => keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));

interface CaInputs {
    commonName: string;
    lifetimeDays: number;
}

/** @internal Exported for tests: what the engine runs for MintedCa. */
export const caProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CaInputs) {
        const ca = await loadPki().createCertificateAuthority(inputs.commonName, inputs.lifetimeDays);
        return { id: `ca-${ca.serial}`, outs: { ...inputs, certPem: ca.certPem, keyPem: ca.keyPem, serial: ca.serial, notAfter: ca.notAfter } };
    },
    async diff(_id: string, olds: Props, news: Props) {
        const replaces = changed(olds, news, ["commonName", "lifetimeDays"]);
        return { changes: replaces.length > 0, replaces };
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:MintedCa`. */
export class MintedCa extends pulumi.dynamic.Resource {
    declare readonly certPem: pulumi.Output<string>;
    declare readonly keyPem: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<CaInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, certPem: undefined, keyPem: undefined, serial: undefined, notAfter: undefined };
        super(caProvider, name, props, { ...opts, additionalSecretOutputs: ["keyPem"] }, "repave", "MintedCa");
    }
}

interface GenerationSecretsInputs {
    api: string;
    generation: string;
    domains: string[];
    lifetimeDays: number;
    /** The CA to sign a certificate with; null when cert-manager issues the certificate (credential only). */
    ca: { certPem: string; keyPem: string } | null;
    /**
     * What callers held when this generation was built (the stable Secret's `current`); null on a first generation.
     * Not compared by diff: the reference moves on (to this generation's own, once promoted), this generation does not.
     */
    previous: string | null;
}

/** @internal Exported for tests: what the engine runs for GenerationSecrets. */
export const generationSecretsProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: GenerationSecretsInputs) {
        const { randomBytes } = process.getBuiltinModule("node:crypto");
        const cert = inputs.ca ? await loadPki().issueServerCertificate(inputs.ca, inputs.domains, inputs.lifetimeDays) : undefined;
        const outs = {
            ...inputs,
            credential: randomBytes(32).toString("base64url"),
            credentialCreatedAt: new Date().toISOString(),
            certPem: cert?.certPem ?? null,
            keyPem: cert?.keyPem ?? null,
            certSerial: cert?.serial ?? null,
            certNotAfter: cert?.notAfter ?? null,
        };
        return { id: `secrets-${inputs.api}-${inputs.generation}`, outs };
    },
    async diff(_id: string, olds: Props, news: Props) {
        const replaces = changed(olds, news, ["api", "generation", "domains", "lifetimeDays", "ca"]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:GenerationSecrets`. */
export class GenerationSecrets extends pulumi.dynamic.Resource {
    declare readonly credential: pulumi.Output<string>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    declare readonly previous: pulumi.Output<string | null>;
    declare readonly certPem: pulumi.Output<string | null>;
    declare readonly keyPem: pulumi.Output<string | null>;
    declare readonly certSerial: pulumi.Output<string | null>;
    declare readonly certNotAfter: pulumi.Output<string | null>;
    constructor(name: string, args: InputsOf<GenerationSecretsInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, credential: undefined, credentialCreatedAt: undefined, certPem: undefined, keyPem: undefined, certSerial: undefined, certNotAfter: undefined };
        super(generationSecretsProvider, name, props, { ...opts, additionalSecretOutputs: ["credential", "keyPem", "ca", "previous"] }, "repave", "GenerationSecrets");
    }
}

/** The credential a caller holding the live one uses: the pinned previous, or the own one on a first generation. */
export function graceCredential(secrets: GenerationSecrets): pulumi.Output<string> {
    return pulumi.secret(pulumi.all([secrets.previous, secrets.credential]).apply(([previous, own]) => previous ?? own));
}
