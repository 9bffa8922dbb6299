// The local target's resources as Pulumi dynamic resources: the engine really creates, updates, replaces and
// deletes them. Pulumi serializes each provider's functions into state, so they stay thin: they load
// changeover.ts by absolute path inside the provider process and call one step of it.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "../changeover.ts";
import type * as Changeover from "./changeover.ts";
import { moduleFile } from "../module-file.ts";

/** @internal Loaded inside the dynamic-provider process, where only builtins and this path are available. */
const CHANGEOVER = moduleFile("./changeover.ts", import.meta.url);

const load = (): typeof Changeover => {
    const nodeModule = process.getBuiltinModule("node:module");
    return nodeModule.createRequire(CHANGEOVER)(CHANGEOVER) as typeof Changeover;
};

type Props = Record<string, unknown>;

/**
 * Keys whose values differ, ignoring the serialized provider itself (it moves with the checkout, not the resource).
 * `olds` are the resource's recorded outputs (what the engine hands a dynamic provider's diff), so every key a diff
 * compares is recorded in the outputs too (`recorded`). A key an older release did not record is not a change:
 * comparing it with "undefined" replaced every `pinned` and `max-age` generation on every `up` - by one with the
 * same id and folder, whose retirement then refused (I1) and failed the update.
 */
function changedKeys(olds: Props, news: Props, keys: readonly string[]): string[] {
    return keys.filter((k) => k in olds && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

/** The inputs a diff compares, copied into the outputs it will be compared against. */
function recorded(inputs: object, keys: readonly string[]): Props {
    const all = inputs as Props;
    return Object.fromEntries(keys.filter((k) => k in all).map((k) => [k, all[k]]));
}

const frontDoorProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: Changeover.FrontDoorInputs) {
        const outs = await load().startFrontDoor(inputs);
        return { id: `frontdoor-${inputs.api}`, outs };
    },
    async diff(_id: string, olds: Changeover.FrontDoorOutputs, news: Changeover.FrontDoorInputs) {
        // Ports are the front door's identity: a change replaces it (and a policy flags that). A dead daemon is
        // repaired by an update that restarts it on the same ports with the same token; a token past its rotation
        // period is rotated by an update too.
        const changeover = load();
        const replaces = changedKeys(olds as unknown as Props, news as unknown as Props, ["port", "testPort", "stateDir", "api"]);
        const repair = !changeover.frontDoorAlive(olds);
        const rotate = changeover.adminTokenRotationDue(olds, news) || olds.adminTokenRotationSeconds !== news.adminTokenRotationSeconds;
        return { changes: replaces.length > 0 || repair || rotate, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: Changeover.FrontDoorOutputs, news: Changeover.FrontDoorInputs) {
        const changeover = load();
        const outs = await changeover.startFrontDoor(news, olds.adminToken, olds.adminTokenIssuedAt);
        return { outs: changeover.adminTokenRotationDue(outs, news) ? await changeover.rotateAdminToken(outs) : outs };
    },
    async delete(_id: string, outs: Changeover.FrontDoorOutputs) {
        await load().stopFrontDoor(outs);
    },
};

const caProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: Changeover.CaInputs) {
        const outs = await load().createCa(inputs);
        return { id: `ca-${outs.serial}`, outs };
    },
    async diff(_id: string, olds: Changeover.CaOutputs, news: Changeover.CaInputs) {
        // The CA rotates in place (an update): its successor was published a period ago, so nothing is replaced.
        const replaces = changedKeys(olds as unknown as Props, news as unknown as Props, ["commonName"]);
        const rotate = load().caRotationDue(olds, news) || olds.rotationSeconds !== news.rotationSeconds;
        return { changes: replaces.length > 0 || rotate, replaces };
    },
    async update(_id: string, olds: Changeover.CaOutputs, news: Changeover.CaInputs) {
        const changeover = load();
        return { outs: changeover.caRotationDue(olds, news) ? await changeover.rotateCa(olds, news) : { ...olds, ...news } };
    },
};

// Not `imageDir`: the content hash is the image's identity, wherever the build store happens to be.
const generationInputKeys = [
    "api", "generation", "imageEntry", "imageHash", "imageVersion", "capacity", "domains",
    "certLifetimeDays", "healthCheck", "caCertPem", "stateDir",
] as const;

const generationProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: Changeover.GenerationInputs) {
        const outs = await load().createGeneration(inputs);
        return { id: `${inputs.api}-${inputs.generation}`, outs: { ...recorded(inputs, generationInputKeys), ...outs, frontDoorToken: inputs.frontDoorToken } };
    },
    async diff(_id: string, olds: Props, news: Props) {
        // A generation is immutable: any change to what it runs is a new generation (create-before-delete),
        // never an in-place update of compute that may be serving traffic (I1).
        const replaces = changedKeys(olds, news, generationInputKeys);
        const inPlace = changedKeys(olds, news, ["drainSeconds", "frontDoorToken"]);
        // A generation whose processes are dead (a machine restart) or given up on is repaired in place: the same
        // generation, restarted - so every repave policy comes back with one `pulumi up`, and a `pinned` or
        // `max-age` deploy never builds a second generation with the dead one's id and folder.
        const repair = replaces.length === 0 && !load().generationAlive(olds as unknown as Changeover.GenerationOutputs);
        return { changes: replaces.length > 0 || inPlace.length > 0 || repair, replaces };
    },
    async update(_id: string, olds: Props, news: Props) {
        // Only the drain delay and the front door's (rotated) admin token change in place: both are read when the
        // generation retires. And a dead generation is restarted.
        const changeover = load();
        const current = olds as unknown as Changeover.GenerationOutputs;
        const repaired = changeover.generationAlive(current)
            ? olds
            : await changeover.repairGeneration(current, news as unknown as Changeover.GenerationInputs);
        return { outs: { ...recorded(news, generationInputKeys), ...repaired, drainSeconds: news["drainSeconds"], frontDoorToken: news["frontDoorToken"] } };
    },
    async read(id: string, props: Changeover.GenerationOutputs) {
        return { id, props: load().generationAlive(props) ? props : { ...props, pids: [] } };
    },
    async delete(_id: string, outs: Changeover.GenerationOutputs & { frontDoorToken: string }) {
        await load().retireGeneration(outs, outs.frontDoorToken);
    },
};

const gateInputKeys = [
    "generation", "backends", "certSerial", "probes", "healthCheck", "imageVersion", "imageHash", "scan", "maxCritical", "maxHigh", "allowMissingReport", "testPort",
    "frontDoorToken", // rotated: the gate keeps the current token for its delete
] as const;

const gateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: Changeover.GateInputs) {
        const outs = await load().runGate(inputs);
        return { id: `gate-${inputs.api}`, outs: { ...recorded(inputs, gateInputKeys), ...outs, api: inputs.api, stateDir: inputs.stateDir, frontDoorToken: inputs.frontDoorToken } };
    },
    async diff(_id: string, olds: Props, news: Props) {
        return { changes: changedKeys(olds, news, gateInputKeys).length > 0 };
    },
    async update(_id: string, _olds: Props, news: Changeover.GateInputs) {
        const outs = await load().runGate(news);
        return { outs: { ...recorded(news, gateInputKeys), ...outs, api: news.api, stateDir: news.stateDir, frontDoorToken: news.frontDoorToken } };
    },
    async delete(_id: string, outs: { stateDir: string; frontDoorToken: string; generation: string }) {
        await load().leaveTestRoute(outs.stateDir, outs.frontDoorToken, outs.generation);
    },
};

const switchInputKeys = ["generation", "gatePassedGeneration", "backends", "certSerial", "port", "probes", "keepWarmSeconds", "frontDoorToken", "caCertPem"] as const;

const switchProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: Changeover.SwitchInputs) {
        const outs = await load().switchTraffic(inputs, undefined);
        return { id: `switch-${inputs.api}`, outs: { ...recorded(inputs, switchInputKeys), ...outs } };
    },
    async diff(_id: string, olds: Props, news: Props) {
        // The production route is part of the front door: it is updated, never replaced (I4).
        return { changes: changedKeys(olds, news, switchInputKeys).length > 0 };
    },
    async update(_id: string, olds: Changeover.SwitchOutputs, news: Changeover.SwitchInputs) {
        return { outs: { ...recorded(news, switchInputKeys), ...(await load().switchTraffic(news, olds)) } };
    },
    async delete(_id: string, outs: Changeover.SwitchOutputs) {
        await load().unroute(outs.stateDir, outs.frontDoorToken);
    },
};


/** @internal */
export class FrontDoor extends pulumi.dynamic.Resource {
    declare readonly pid: pulumi.Output<number>;
    declare readonly url: pulumi.Output<string>;
    declare readonly testUrl: pulumi.Output<string>;
    declare readonly adminToken: pulumi.Output<string>;
    declare readonly stateDir: pulumi.Output<string>;
    declare readonly port: pulumi.Output<number>;
    declare readonly testPort: pulumi.Output<number>;
    constructor(name: string, args: InputsOf<Changeover.FrontDoorInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, pid: undefined, url: undefined, testUrl: undefined, adminToken: undefined, adminTokenIssuedAt: undefined };
        super(frontDoorProvider, name, props, { ...opts, additionalSecretOutputs: ["adminToken"] }, "local", "FrontDoor");
    }
}

/** @internal */
export class CertificateAuthority extends pulumi.dynamic.Resource {
    /** The trust bundle: the signing CA and the next one. */
    declare readonly certPem: pulumi.Output<string>;
    declare readonly signingCertPem: pulumi.Output<string>;
    declare readonly keyPem: pulumi.Output<string>;
    declare readonly serial: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<Changeover.CaInputs>, opts?: pulumi.CustomResourceOptions) {
        const props = { ...args, certPem: undefined, signingCertPem: undefined, keyPem: undefined, serial: undefined, notAfter: undefined, next: undefined, sequence: undefined, rotatedAt: undefined };
        super(caProvider, name, props, { ...opts, additionalSecretOutputs: ["keyPem", "next"] }, "local", "CertificateAuthority");
    }
}

/** @internal */
export class Generation extends pulumi.dynamic.Resource {
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
        super(generationProvider, name, { ...args, ...outputs }, {
            ...opts,
            additionalSecretOutputs: ["keyPem", "credential", "caKeyPem", "frontDoorToken"],
        }, "local", "Generation");
    }
}

/** @internal */
export class Gate extends pulumi.dynamic.Resource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly passedAt: pulumi.Output<string>;
    declare readonly imageScan: pulumi.Output<string>;
    declare readonly results: pulumi.Output<Changeover.GateOutputs["results"]>;
    constructor(name: string, args: InputsOf<Changeover.GateInputs>, opts?: pulumi.CustomResourceOptions) {
        super(gateProvider, name, { ...args, passedAt: undefined, imageScan: undefined, results: undefined }, {
            ...opts,
            additionalSecretOutputs: ["keyPem", "credential", "frontDoorToken"],
        }, "local", "Gate");
    }
}

/** @internal */
export class Switch extends pulumi.dynamic.Resource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly previousGeneration: pulumi.Output<string | null>;
    declare readonly previousImageVersion: pulumi.Output<string | null>;
    declare readonly switchedAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<Changeover.SwitchInputs>, opts?: pulumi.CustomResourceOptions) {
        super(switchProvider, name, { ...args, previousGeneration: undefined, previousImageVersion: undefined, switchedAt: undefined, bakeProbes: undefined }, {
            ...opts,
            additionalSecretOutputs: ["keyPem", "credential", "frontDoorToken"],
        }, "local", "Switch");
    }
}
