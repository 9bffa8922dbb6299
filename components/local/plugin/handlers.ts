// What repave's provider plugin does for each of the local target's resource types: check, diff, create, read,
// update, delete, each one step of the changeover (../changeover.ts). The plugin (provider.ts) dispatches here by type
// token; values arrive with secrets already unwrapped.
//
// Identity comes from what the user declared - the API's name and ports, the generation id - never from a path or
// code: the state folder is declared relative to the project (resolved here, in the plugin, whose working folder the
// engine sets to the project), so moving or re-cloning the checkout changes no resource.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { imageLedgerProvider } from "../../image-ledger.ts";
import type * as Changeover from "../changeover.ts";
import type { CaInputs, CaOutputs, FrontDoorInputs, FrontDoorOutputs, GateInputs, GenerationInputs, GenerationOutputs, SwitchInputs, SwitchOutputs } from "../changeover.ts";

export type Props = Record<string, unknown>;

// The changeover (x509, the front door's client, the probes) loads while the plugin starts its server and the engine
// shakes hands with it, not before: the plugin listens ~0.2 s sooner, and every step waits for it (`ready`).
const loading = import("../changeover.ts");
let changeover: typeof Changeover;

/** Resolves once the changeover module is loaded: the plugin awaits it before any step. */
export async function ready(): Promise<void> {
    changeover = await loading;
}

export interface CheckFailure {
    property: string;
    reason: string;
}

export interface Diff {
    changes: boolean;
    replaces: string[];
    deleteBeforeReplace?: boolean;
}

export interface Handler {
    /** Properties that must be present and of this type in the inputs (a clear refusal before anything runs). */
    required: Readonly<Record<string, "string" | "number" | "boolean" | "object" | "array">>;
    /** Inputs that may be relative paths, resolved against the project folder. */
    paths?: readonly string[];
    diff(olds: Props, news: Props): Diff | Promise<Diff>;
    create(inputs: Props): Promise<{ id: string; outs: Props }>;
    read?(id: string, props: Props): Promise<Props>;
    update(olds: Props, news: Props): Promise<Props>;
    delete?(props: Props): Promise<void>;
}

/**
 * Keys whose values differ. `olds` are the recorded outputs (a diff compares against them, as the engine hands a
 * provider), so every compared key is recorded in the outputs too (`recorded`). A key an older release did not record
 * is not a change: comparing it with "undefined" replaced every `pinned` and `max-age` generation on every `up`.
 */
export function changedKeys(olds: Props, news: Props, keys: readonly string[]): string[] {
    return keys.filter((k) => k in olds && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

/** The inputs a diff compares, copied into the outputs it will be compared against. */
function recorded(inputs: Props, keys: readonly string[]): Props {
    return Object.fromEntries(keys.filter((k) => k in inputs).map((k) => [k, inputs[k]]));
}

/** A state folder as the program declared it, resolved against the project folder (the plugin's working folder). */
export const resolveStateDir = (declared: unknown): string => resolve(String(declared));

const frontDoor: Handler = {
    required: { api: "string", port: "number", testPort: "number", stateDir: "string", adminTokenRotationSeconds: "number" },
    paths: ["stateDir"],
    diff(olds, news) {
        // Ports are the front door's identity: a change replaces it (and the I1 guard refuses that without
        // --allow-front-door-change). A dead daemon is repaired by an update that restarts it on the same ports with
        // the same token; a token past its rotation period is rotated by an update too. The state folder is where
        // it keeps its files, not who it is: a checkout moved elsewhere keeps its front door.
        const o = olds as unknown as FrontDoorOutputs;
        const n = news as unknown as FrontDoorInputs;
        const replaces = changedKeys(olds, news, ["port", "testPort", "api"]);
        const repair = !changeover.frontDoorAlive(o);
        const rotate = changeover.adminTokenRotationDue(o, n) || o.adminTokenRotationSeconds !== n.adminTokenRotationSeconds;
        return { changes: replaces.length > 0 || repair || rotate, replaces, deleteBeforeReplace: true };
    },
    async create(inputs) {
        const outs = await changeover.startFrontDoor(inputs as unknown as FrontDoorInputs);
        return { id: `frontdoor-${outs.api}`, outs: outs as unknown as Props };
    },
    async read(_id, props) {
        // Liveness, for `pulumi refresh`: a dead daemon shows as pid 0 (and the next `up` restarts it).
        return changeover.frontDoorAlive(props as unknown as FrontDoorOutputs) ? props : { ...props, pid: 0 };
    },
    async update(olds, news) {
        const o = olds as unknown as FrontDoorOutputs;
        // It keeps the folder it runs from (a moved checkout does not move a running daemon's files).
        const inputs = { ...(news as unknown as FrontDoorInputs), stateDir: o.stateDir };
        const outs = await changeover.startFrontDoor(inputs, o.adminToken, o.adminTokenIssuedAt);
        return (changeover.adminTokenRotationDue(outs, inputs) ? await changeover.rotateAdminToken(outs) : outs) as unknown as Props;
    },
    async delete(props) {
        await changeover.stopFrontDoor(props as unknown as FrontDoorOutputs);
    },
};

const ca: Handler = {
    required: { commonName: "string", rotationSeconds: "number" },
    diff(olds, news) {
        // The CA rotates in place (an update): its successor was published a period ago, so nothing is replaced.
        const replaces = changedKeys(olds, news, ["commonName"]);
        const rotate = changeover.caRotationDue(olds, news as unknown as CaInputs) || olds["rotationSeconds"] !== news["rotationSeconds"];
        return { changes: replaces.length > 0 || rotate, replaces };
    },
    async create(inputs) {
        const outs = await changeover.createCa(inputs as unknown as CaInputs);
        return { id: `ca-${outs.serial}`, outs: outs as unknown as Props };
    },
    async update(olds, news) {
        const o = olds as unknown as CaOutputs;
        const n = news as unknown as CaInputs;
        return (changeover.caRotationDue(o, n) ? await changeover.rotateCa(o, n) : { ...o, ...n }) as unknown as Props;
    },
};

// Not `imageDir`: the content hash is the image's identity, wherever the build store happens to be. Not `stateDir`:
// it is the front door's folder (an output of the front door, which keeps it).
const generationInputKeys = ["api", "generation", "imageEntry", "imageHash", "imageVersion", "capacity", "domains", "certLifetimeDays", "healthCheck", "caCertPem"] as const;

/**
 * The name a new generation serves under: its id, unless a generation of that id still runs in this folder - a
 * replacement with the same id (the CA rotated, the capacity changed) is created before the old one is deleted, and
 * must share neither its folder, its processes' marker, nor its name on the front door (whose in-flight count the
 * old one's drain waits on). It then serves as `<id>-2` (`-3`, ...).
 */
export function servingName(stateDir: string, id: string): string {
    let name = id;
    for (let n = 2; existsSync(join(stateDir, "generations", name)); n++) name = `${id}-${n}`;
    return name;
}

const generation: Handler = {
    required: { api: "string", generation: "string", imageDir: "string", imageEntry: "string", imageHash: "string", capacity: "number", domains: "array", caCertPem: "string", caKeyPem: "string", stateDir: "string", frontDoorToken: "string", healthCheck: "object" },
    diff(olds, news) {
        // A generation is immutable: any change to what it runs is a new generation (create-before-delete), never
        // an in-place update of compute that may be serving traffic (I1). Its declared id is compared (the serving
        // name may carry a suffix, above).
        const replaces = changedKeys({ ...olds, generation: olds["declaredGeneration"] ?? olds["generation"] }, news, generationInputKeys);
        const inPlace = changedKeys(olds, news, ["drainSeconds", "frontDoorToken"]);
        // A generation whose processes are dead (a machine restart) or given up on is repaired in place: the same
        // generation, restarted - so every repave policy comes back with one `pulumi up`.
        const repair = replaces.length === 0 && !changeover.generationAlive(olds as unknown as GenerationOutputs);
        return { changes: replaces.length > 0 || inPlace.length > 0 || repair, replaces };
    },
    async create(inputs) {
        const declared = inputs as unknown as GenerationInputs;
        const name = servingName(declared.stateDir, declared.generation);
        const outs = await changeover.createGeneration({ ...declared, generation: name });
        return { id: `${outs.api}-${name}`, outs: { ...recorded(inputs, generationInputKeys), ...outs, declaredGeneration: declared.generation, frontDoorToken: declared.frontDoorToken } };
    },
    async read(_id, props) {
        // Liveness, for `pulumi refresh`: a generation whose processes are gone shows no pids.
        return changeover.generationAlive(props as unknown as GenerationOutputs) ? props : { ...props, pids: [] };
    },
    async update(olds, news) {
        // Only the drain delay and the front door's (rotated) admin token change in place: both are read when the
        // generation retires. And a dead generation is restarted.
        const current = olds as unknown as GenerationOutputs;
        const repaired = changeover.generationAlive(current) ? olds : await changeover.repairGeneration(current, news as unknown as GenerationInputs);
        return { ...recorded(news, generationInputKeys), ...repaired, declaredGeneration: olds["declaredGeneration"] ?? news["generation"], generation: current.generation, drainSeconds: news["drainSeconds"], frontDoorToken: news["frontDoorToken"] };
    },
    async delete(props) {
        await changeover.retireGeneration(props as unknown as GenerationOutputs, String(props["frontDoorToken"]));
    },
};

const gateInputKeys = [
    "generation", "backends", "certSerial", "probes", "healthCheck", "imageVersion", "imageHash", "scan", "maxCritical", "maxHigh", "allowMissingReport", "testPort",
    "frontDoorToken", // rotated: the gate keeps the current token for its delete
] as const;

/** The gate runs on every new candidate (create or update); its delete needs the folder and the current token. */
async function runGate(inputs: Props): Promise<Props> {
    const outs = await changeover.runGate(inputs as unknown as GateInputs);
    return { ...recorded(inputs, gateInputKeys), ...outs, api: inputs["api"], stateDir: inputs["stateDir"], frontDoorToken: inputs["frontDoorToken"] };
}

const gate: Handler = {
    required: { api: "string", generation: "string", backends: "array", testPort: "number", stateDir: "string", frontDoorToken: "string", probes: "object" },
    diff(olds, news) {
        return { changes: changedKeys(olds, news, gateInputKeys).length > 0, replaces: [] };
    },
    async create(inputs) {
        return { id: `gate-${String(inputs["api"])}`, outs: await runGate(inputs) };
    },
    update: (_olds, news) => runGate(news),
    async delete(props) {
        await changeover.leaveTestRoute(String(props["stateDir"]), String(props["frontDoorToken"]), String(props["generation"]));
    },
};

const switchInputKeys = ["generation", "gatePassedGeneration", "backends", "certSerial", "port", "probes", "keepWarmSeconds", "frontDoorToken", "caCertPem"] as const;

const trafficSwitch: Handler = {
    required: { api: "string", generation: "string", gatePassedGeneration: "string", backends: "array", port: "number", stateDir: "string", frontDoorToken: "string" },
    diff(olds, news) {
        // The production route is part of the front door: it is updated, never replaced (I4).
        return { changes: changedKeys(olds, news, switchInputKeys).length > 0, replaces: [] };
    },
    async create(inputs) {
        const outs = await changeover.switchTraffic(inputs as unknown as SwitchInputs, undefined);
        return { id: `switch-${String(inputs["api"])}`, outs: { ...recorded(inputs, switchInputKeys), ...outs } };
    },
    async update(olds, news) {
        return { ...recorded(news, switchInputKeys), ...(await changeover.switchTraffic(news as unknown as SwitchInputs, olds as unknown as SwitchOutputs)) };
    },
    async delete(props) {
        await changeover.unroute(String(props["stateDir"]), String(props["frontDoorToken"]));
    },
};

// The image ledger's steps are the dynamic provider's own (components/image-ledger.ts): one definition of the ledger.
const imageLedger: Handler = {
    required: { current: "object" },
    async diff(olds, news) {
        const { changes } = await imageLedgerProvider.diff!("image-ledger", olds, news);
        return { changes: changes ?? true, replaces: [] };
    },
    async create(inputs) {
        const created: { id: string; outs?: unknown } = await imageLedgerProvider.create(inputs);
        return { id: created.id, outs: (created.outs ?? {}) as Props };
    },
    async update(olds, news) {
        return ((await imageLedgerProvider.update!("image-ledger", olds, news)).outs ?? {}) as Props;
    },
};

/** The types this plugin serves, by type token: the local target's resources, and the image ledger. */
export const handlers: Readonly<Record<string, Handler>> = {
    "repave:index:ImageLedger": imageLedger,
    "repave:local:FrontDoor": frontDoor,
    "repave:local:CertificateAuthority": ca,
    "repave:local:Generation": generation,
    "repave:local:Gate": gate,
    "repave:local:Switch": trafficSwitch,
};
