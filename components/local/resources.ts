// The local target's resources, served by repave's own provider plugin (./plugin: package `repave`, declared in
// the project's Pulumi.yaml). Each one is one step of the changeover; the plugin holds what they do.
//
// Stacks deployed before the plugin hold these as dynamic resources (`pulumi-nodejs:dynamic/local:<Type>`): the alias
// keeps each one the same resource, and the engine moves it to the plugin without a replace (a provider change is a
// replace only when the new provider's DiffConfig asks for one) - so the front door keeps its URN, ports and daemon.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "../changeover.ts";
import type * as Changeover from "./changeover.ts";
import { secretsOf } from "./secret-properties.ts";

/**
 * repave's provider plugin (package `repave`) as an explicit provider, one per API. Explicit on purpose: the default
 * provider of a package takes the stack config of the same namespace as its configuration, and `repave:` is the
 * program's (`repave:apis`, `repave:target`) - it would be copied into the provider's state and every edit of an API
 * would show as a provider update.
 */
export class LocalProvider extends pulumi.ProviderResource {
    constructor(name: string, opts?: pulumi.ResourceOptions) {
        super("repave", name, {}, opts);
    }
}

/** The type token of a local resource, its secret outputs, and the alias of the dynamic resource it was. */
function typed(type: string, opts: pulumi.CustomResourceOptions | undefined): [string, pulumi.CustomResourceOptions] {
    const token = `repave:local:${type}`;
    return [
        token,
        {
            ...opts,
            additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...secretsOf(token)],
            aliases: [...(opts?.aliases ?? []), { type: `pulumi-nodejs:dynamic/local:${type}` }],
        },
    ];
}

/** @internal */
export class FrontDoor extends pulumi.CustomResource {
    declare readonly pid: pulumi.Output<number>;
    declare readonly url: pulumi.Output<string>;
    declare readonly testUrl: pulumi.Output<string>;
    declare readonly adminToken: pulumi.Output<string>;
    declare readonly stateDir: pulumi.Output<string>;
    declare readonly port: pulumi.Output<number>;
    declare readonly testPort: pulumi.Output<number>;
    constructor(name: string, args: InputsOf<Changeover.FrontDoorInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, pid: undefined, url: undefined, testUrl: undefined, adminToken: undefined, adminTokenIssuedAt: undefined };
        const [type, options] = typed("FrontDoor", opts);
        super(type, name, props, options);
    }
}

/** @internal */
export class CertificateAuthority extends pulumi.CustomResource {
    /** The trust bundle: the signing CA and the next one. */
    declare readonly certPem: pulumi.Output<string>;
    declare readonly signingCertPem: pulumi.Output<string>;
    declare readonly keyPem: pulumi.Output<string>;
    declare readonly serial: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<Changeover.CaInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, certPem: undefined, signingCertPem: undefined, keyPem: undefined, serial: undefined, notAfter: undefined, next: undefined, sequence: undefined, rotatedAt: undefined };
        const [type, options] = typed("CertificateAuthority", opts);
        super(type, name, props, options);
    }
}

/** @internal */
export class Generation extends pulumi.CustomResource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly imageHash: pulumi.Output<string>;
    declare readonly imageVersion: pulumi.Output<string>;
    declare readonly capacity: pulumi.Output<number>;
    declare readonly pids: pulumi.Output<number[]>;
    declare readonly backends: pulumi.Output<string[]>;
    declare readonly domains: pulumi.Output<string[]>;
    declare readonly certPem: pulumi.Output<string>;
    declare readonly keyPem: pulumi.Output<string>;
    declare readonly certSerial: pulumi.Output<string>;
    declare readonly certNotAfter: pulumi.Output<string>;
    declare readonly credential: pulumi.Output<string>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    declare readonly createdAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<Changeover.GenerationInputs>, opts?: pulumi.CustomResourceOptions) {
        const outputs = {
            pids: undefined, backends: undefined, certPem: undefined, keyPem: undefined, certSerial: undefined,
            certNotAfter: undefined, credential: undefined, credentialCreatedAt: undefined, createdAt: undefined,
        };
        const [type, options] = typed("Generation", opts);
        super(type, name, { ...args, ...outputs, declaredGeneration: undefined }, options);
    }
}

/** @internal */
export class Gate extends pulumi.CustomResource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly passedAt: pulumi.Output<string>;
    declare readonly imageScan: pulumi.Output<string>;
    declare readonly results: pulumi.Output<Changeover.GateOutputs["results"]>;
    constructor(name: string, args: InputsOf<Changeover.GateInputs>, opts?: pulumi.CustomResourceOptions) {
        const [type, options] = typed("Gate", opts);
        super(type, name, { ...args, passedAt: undefined, imageScan: undefined, results: undefined }, options);
    }
}

/** @internal */
export class Switch extends pulumi.CustomResource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly previousGeneration: pulumi.Output<string | null>;
    declare readonly previousImageVersion: pulumi.Output<string | null>;
    declare readonly switchedAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<Changeover.SwitchInputs>, opts?: pulumi.CustomResourceOptions) {
        const [type, options] = typed("Switch", opts);
        super(type, name, { ...args, previousGeneration: undefined, previousImageVersion: undefined, switchedAt: undefined, bakeProbes: undefined }, options);
    }
}
