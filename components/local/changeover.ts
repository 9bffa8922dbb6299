// The local target's changeover, step by step. Each exported function is one engine operation of one resource
// (see providers.ts); the engine orders them: front door -> candidate generation -> gate -> switch -> retire the
// old generation (a create-before-delete replacement: the old one is deleted only at the end of a successful
// update, after the switch moved traffic). This code runs inside Pulumi's dynamic-provider processes.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runPositive, runProbeSuite, summarize, type KnownCredentials, type ProbeResult, type ProbeSuite } from "../probes.ts";
import { FrontDoorClient, FrontDoorGoneError, readInfo, type FrontDoorState, type RouteSpec } from "./frontdoor/client.ts";
import { findHaproxy } from "./frontdoor/runtime-api.ts";
import { checkScan } from "../scan.ts";
import { hashBuild, type ScanReport } from "./image.ts";
import { createCertificateAuthority, issueServerCertificate } from "./pki.ts";
import { isOurs, sleep, startDetached, stop, waitForFile } from "./processes.ts";
import type { InstancesFile } from "./instances.ts";
import { moduleFile } from "../module-file.ts";

const daemonScript = moduleFile("./frontdoor/daemon.ts", import.meta.url);
const supervisorScript = moduleFile("./supervisor.ts", import.meta.url);

export interface HealthCheck {
    path: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    healthyThreshold: number;
    graceSeconds: number;
}

// ---------------------------------------------------------------------------------------------- front door

export interface FrontDoorInputs {
    api: string;
    port: number;
    testPort: number;
    stateDir: string;
    /** The admin token is replaced this often; the one before stays valid until the next rotation. */
    adminTokenRotationSeconds: number;
}

export interface FrontDoorOutputs extends FrontDoorInputs {
    pid: number;
    adminToken: string;
    adminTokenIssuedAt: string;
    url: string;
    testUrl: string;
}

const frontDoorMarker = (stateDir: string) => `--repave-frontdoor=${stateDir}`;

/** The admin client of this state folder's front door, which knows the daemon's process by its marker. */
export function frontDoorClient(stateDir: string, token: string): FrontDoorClient {
    return new FrontDoorClient(stateDir, token, (pid) => isOurs(pid, frontDoorMarker(stateDir)));
}

export function frontDoorAlive(outs: Pick<FrontDoorOutputs, "stateDir">): boolean {
    const info = readInfo(outs.stateDir);
    return info !== undefined && isOurs(info.pid, frontDoorMarker(outs.stateDir));
}

/** Starts the front door daemon, or adopts the one already serving this state folder (repair after a crash). */
export async function startFrontDoor(inputs: FrontDoorInputs, adminToken?: string, issuedAt = new Date().toISOString()): Promise<FrontDoorOutputs> {
    mkdirSync(inputs.stateDir, { recursive: true, mode: 0o700 });
    const marker = frontDoorMarker(inputs.stateDir);
    const running = readInfo(inputs.stateDir);
    const urls = { url: `https://localhost:${inputs.port}`, testUrl: `https://localhost:${inputs.testPort}` };
    if (running && isOurs(running.pid, marker)) {
        if (adminToken) return { ...inputs, pid: running.pid, adminToken, adminTokenIssuedAt: issuedAt, ...urls };
        await stop(running.pid, marker, 10_000); // a leftover from an earlier stack of the same name
    }
    rmSync(join(inputs.stateDir, "frontdoor.json"), { force: true });
    // The front door's traffic goes through HAProxy; without it, refuse in one line rather than fall back to a
    // hand-written proxy (see README, "the local target's front door").
    const haproxy = findHaproxy();
    if ("missing" in haproxy) {
        throw new Error(`front door for ${inputs.api}: ${haproxy.missing}; the local front door needs it (as root: apt-get install haproxy, or set REPAVE_HAPROXY to its path)`);
    }
    const token = adminToken ?? randomBytes(32).toString("hex");
    const logFile = join(inputs.stateDir, "frontdoor.log");
    const pid = startDetached(
        daemonScript,
        [marker],
        {
            REPAVE_FD_STATE_DIR: inputs.stateDir,
            REPAVE_FD_ADMIN_TOKEN: token,
            REPAVE_FD_PORT: String(inputs.port),
            REPAVE_FD_TEST_PORT: String(inputs.testPort),
            REPAVE_HAPROXY: haproxy.path,
            // The daemon's deadlines (handshake, headers, upstream; see frontdoor/haproxy-config.ts) may be tuned from the
            // environment of whoever starts it: the deploy's, or a test's.
            ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^REPAVE_FD_[A-Z_]+_MS$/.test(e[0]) && e[1] !== undefined)),
        },
        logFile,
        inputs.stateDir,
    );
    try {
        await waitForFile(join(inputs.stateDir, "frontdoor.json"), pid, marker, 15_000, logFile);
    } catch (err) {
        throw new Error(
            `front door for ${inputs.api} did not start on 127.0.0.1:${inputs.port}/${inputs.testPort}: ${(err as Error).message}` +
                `\n(hint: is another process using these ports? choose others with local.port / local.testPort)`,
        );
    }
    return { ...inputs, pid, adminToken: token, adminTokenIssuedAt: issuedAt, ...urls };
}

/** Is the admin token due for rotation? (A token from before rotation existed always is.) */
export function adminTokenRotationDue(olds: Partial<FrontDoorOutputs>, inputs: FrontDoorInputs, now = Date.now()): boolean {
    return !olds.adminTokenIssuedAt || now - Date.parse(olds.adminTokenIssuedAt) >= inputs.adminTokenRotationSeconds * 1000;
}

/**
 * Rotation with overlap: the front door accepts the new token and, until the next rotation, the one before - which
 * resources deployed earlier still hold in their state (an old generation retired at the end of this update).
 */
export async function rotateAdminToken(outs: FrontDoorOutputs): Promise<FrontDoorOutputs> {
    const next = randomBytes(32).toString("hex");
    await frontDoorClient(outs.stateDir, outs.adminToken).rotateToken(next);
    return { ...outs, adminToken: next, adminTokenIssuedAt: new Date().toISOString() };
}

/** Stops the front door and reaps every process left in its state folder (orphans of interrupted runs too). */
export async function stopFrontDoor(outs: FrontDoorOutputs): Promise<void> {
    const info = readInfo(outs.stateDir);
    if (info) await stop(info.pid, frontDoorMarker(outs.stateDir), 15_000);
    await reapGenerations(outs.stateDir, () => true);
    rmSync(outs.stateDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------- CA

export interface CaInputs {
    commonName: string;
    /** How long a CA signs leaves; it is published (as `next`) for one period before, so clients have it in time. */
    rotationSeconds: number;
}

interface CaKeyPair {
    certPem: string;
    keyPem: string;
    serial: string;
    notAfter: string;
}

export interface CaOutputs extends CaInputs {
    /** The trust bundle clients use: the signing CA and the next one (the overlap that makes rotation safe). */
    certPem: string;
    /** The CA that signs this period's leaf certificates, and its key. */
    signingCertPem: string;
    keyPem: string;
    serial: string;
    notAfter: string;
    next: CaKeyPair;
    /** The number of the next CA (in its common name): 2 after creation, one more per rotation. */
    sequence: number;
    rotatedAt: string;
}

/** A CA lives two periods and a week: one published as `next`, one signing, and a margin for late leaves. */
async function newCa(commonName: string, rotationSeconds: number): Promise<CaKeyPair> {
    const lifetimeDays = (2 * rotationSeconds) / 86_400 + 7;
    const ca = await createCertificateAuthority(commonName, lifetimeDays);
    return { certPem: ca.certPem, keyPem: ca.keyPem, serial: ca.serial, notAfter: ca.notAfter };
}

function caOutputs(inputs: CaInputs, signing: CaKeyPair, next: CaKeyPair, sequence: number): CaOutputs {
    return {
        ...inputs,
        certPem: `${signing.certPem.trim()}\n${next.certPem.trim()}\n`,
        signingCertPem: signing.certPem,
        keyPem: signing.keyPem,
        serial: signing.serial,
        notAfter: signing.notAfter,
        next,
        sequence,
        rotatedAt: new Date().toISOString(),
    };
}

export async function createCa(inputs: CaInputs): Promise<CaOutputs> {
    return caOutputs(inputs, await newCa(`${inputs.commonName} 1`, inputs.rotationSeconds), await newCa(`${inputs.commonName} 2`, inputs.rotationSeconds), 2);
}

/** Is the signing CA due to hand over to the next one? (A CA from before rotation existed always is.) */
export function caRotationDue(olds: Partial<CaOutputs>, inputs: CaInputs, now = Date.now()): boolean {
    return !olds.next || !olds.rotatedAt || now - Date.parse(olds.rotatedAt) >= inputs.rotationSeconds * 1000;
}

/**
 * Rotation with overlap: the next CA - in every trust bundle handed out for a whole period - starts signing, and a
 * new next CA joins the bundle. A client that refreshed its bundle within the last period keeps trusting every
 * leaf; the CA that signed before is no longer trusted once its leaves are gone.
 */
export async function rotateCa(olds: Partial<CaOutputs> & { certPem: string; keyPem: string }, inputs: CaInputs): Promise<CaOutputs> {
    const sequence = (olds.sequence ?? 1) + 1;
    // A CA from before rotation existed (one PEM, no `next`) signs for one more period while its successor is published.
    const signing: CaKeyPair = olds.next ?? { certPem: olds.signingCertPem ?? olds.certPem, keyPem: olds.keyPem, serial: olds.serial ?? "", notAfter: olds.notAfter ?? "" };
    return caOutputs(inputs, signing, await newCa(`${inputs.commonName} ${sequence}`, inputs.rotationSeconds), sequence);
}

// ---------------------------------------------------------------------------------------------- credentials

/**
 * The local stand-in for a secret manager's staging labels (AWSCURRENT/AWSPREVIOUS): the credential of the live
 * generation, and the one before it. A new generation also accepts the live one's credential, so callers move
 * to the new credential after the changeover instead of failing during it. The file is 0600 in the state folder;
 * in Pulumi state credentials are secrets only.
 */
interface CredentialStore {
    current?: { generation: string; credential: string; since: string };
    previous?: { generation: string; credential: string; since: string };
}

const storeFile = (stateDir: string) => join(stateDir, "credentials.json");

function readStore(stateDir: string): CredentialStore {
    return existsSync(storeFile(stateDir)) ? (JSON.parse(readFileSync(storeFile(stateDir), "utf8")) as CredentialStore) : {};
}

/**
 * What the store says about `generation`'s credentials: the one it also accepts (grace), and the one it must
 * refuse (two generations old). Once `generation` itself is current (its gate runs again after its switch), its
 * grace credential is the previous one and nothing older is kept.
 */
function credentialsAround(stateDir: string, generation: string): KnownCredentials {
    const { current, previous } = readStore(stateDir);
    if (current && current.generation !== generation) {
        return { previous: current.credential, revoked: previous && previous.generation !== generation ? [previous.credential] : [] };
    }
    return { previous: previous?.credential ?? null, revoked: [] };
}

function promoteCredential(stateDir: string, generation: string, credential: string): void {
    const store = readStore(stateDir);
    if (store.current?.generation === generation) return;
    const next: CredentialStore = { current: { generation, credential, since: new Date().toISOString() }, previous: store.current };
    writeFileSync(storeFile(stateDir), JSON.stringify(next), { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------- generation

export interface GenerationInputs {
    api: string;
    generation: string;
    imageDir: string;
    imageEntry: string;
    imageHash: string;
    imageVersion: string;
    imageCreatedAt: string;
    capacity: number;
    domains: string[];
    certLifetimeDays: number;
    caCertPem: string;
    caKeyPem: string;
    stateDir: string;
    frontDoorToken: string;
    healthCheck: HealthCheck;
    drainSeconds: number;
}

export interface GenerationOutputs {
    api: string;
    generation: string;
    imageHash: string;
    imageVersion: string;
    imageCreatedAt: string;
    capacity: number;
    pids: number[];
    backends: string[];
    domains: string[];
    certPem: string;
    keyPem: string;
    certSerial: string;
    certNotAfter: string;
    credential: string;
    credentialCreatedAt: string;
    createdAt: string;
    stateDir: string;
    drainSeconds: number;
    /** The generation's supervisor (supervisor.ts), which restarts a dead instance in place; unset before it existed. */
    supervisor?: number;
}

const generationMarker = (api: string, generation: string, stateDir: string) => `--repave-generation=${api}/${generation}@${stateDir}`;
const generationDir = (stateDir: string, generation: string) => join(stateDir, "generations", generation);
// No "@" in it: counting a generation's processes by its instances' marker (or "@<stateDir>") counts instances only.
const supervisorMarker = (stateDir: string, generation: string) => `--repave-supervisor=${generationDir(stateDir, generation)}`;

function readInstances(dir: string): InstancesFile | undefined {
    try {
        return JSON.parse(readFileSync(join(dir, "instances.json"), "utf8")) as InstancesFile;
    } catch {
        return undefined; // not written yet, or the folder is gone
    }
}

/** Stops a generation's supervisor first (so nothing restarts), then every instance it (or state) knows of. */
async function stopGenerationProcesses(stateDir: string, generation: string, marker: string, knownPids: number[], graceMs: number): Promise<void> {
    const dir = generationDir(stateDir, generation);
    const recorded = readInstances(dir);
    const supervisor = recorded?.supervisor ?? (existsSync(join(dir, "pids.json")) ? (JSON.parse(readFileSync(join(dir, "pids.json"), "utf8")) as { supervisor?: number }).supervisor : undefined);
    if (supervisor !== undefined) await stop(supervisor, supervisorMarker(stateDir, generation), graceMs);
    const pids = new Set([...knownPids, ...(recorded?.instances.map((i) => i.pid) ?? [])]);
    await Promise.all([...pids].map((pid) => stop(pid, marker, graceMs)));
}

interface Launched {
    supervisor: number;
    pids: number[];
    backends: string[];
}

/**
 * Starts a generation's supervisor, which starts its instances (on `ports` when given: a repair keeps the
 * addresses the front door routes to), and waits until every instance listens and passes its health check.
 */
async function launch(
    inputs: Pick<GenerationInputs, "api" | "generation" | "stateDir" | "imageDir" | "imageEntry" | "imageVersion" | "healthCheck">,
    capacity: number,
    credential: string,
    previousCredential: string,
    ports: number[] = [],
): Promise<Launched> {
    const dir = generationDir(inputs.stateDir, inputs.generation);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (let i = 0; i < capacity; i++) rmSync(join(dir, `port-${i}`), { force: true });
    rmSync(join(dir, "instances.json"), { force: true });
    const marker = generationMarker(inputs.api, inputs.generation, inputs.stateDir);
    const supMarker = supervisorMarker(inputs.stateDir, inputs.generation);
    const supervisor = startDetached(
        supervisorScript,
        [supMarker],
        {
            REPAVE_SUP_ENTRY: join(inputs.imageDir, inputs.imageEntry),
            REPAVE_SUP_CWD: inputs.imageDir,
            REPAVE_SUP_DIR: dir,
            REPAVE_SUP_MARKER: marker,
            REPAVE_SUP_COUNT: String(capacity),
            REPAVE_SUP_PORTS: ports.join(","),
            REPAVE_CREDENTIAL: credential,
            REPAVE_PREVIOUS_CREDENTIAL: previousCredential,
            REPAVE_GENERATION: inputs.generation,
            REPAVE_IMAGE_VERSION: inputs.imageVersion,
        },
        join(dir, "supervisor.log"),
        inputs.imageDir,
    );
    // Recorded at once: if this run is killed, destroy and `repave recover` still find the processes.
    writeFileSync(join(dir, "pids.json"), JSON.stringify({ marker, pids: [], supervisor }));
    try {
        const backends = await Promise.all(
            Array.from({ length: capacity }, async (_, i) => {
                const port = await waitForFile(join(dir, `port-${i}`), supervisor, supMarker, inputs.healthCheck.graceSeconds * 1000, join(dir, `app-${i}.log`));
                return `127.0.0.1:${port.trim()}`;
            }),
        );
        await waitHealthy(backends, inputs.healthCheck);
        const pids = readInstances(dir)?.instances.map((i) => i.pid) ?? [];
        writeFileSync(join(dir, "pids.json"), JSON.stringify({ marker, pids, supervisor }));
        return { supervisor, pids, backends };
    } catch (err) {
        await stopGenerationProcesses(inputs.stateDir, inputs.generation, marker, [], 5_000);
        throw err;
    }
}

async function healthy(backend: string, check: HealthCheck): Promise<boolean> {
    try {
        const res = await fetch(`http://${backend}${check.path}`, { signal: AbortSignal.timeout(check.timeoutSeconds * 1000) });
        await res.arrayBuffer();
        return res.status === 200;
    } catch {
        return false;
    }
}

/** Waits until every backend answered its health check `healthyThreshold` times in a row. */
async function waitHealthy(backends: string[], check: HealthCheck): Promise<void> {
    const streak = new Map(backends.map((b) => [b, 0]));
    const deadline = Date.now() + check.graceSeconds * 1000;
    while (Date.now() < deadline) {
        await Promise.all(backends.map(async (b) => streak.set(b, (await healthy(b, check)) ? streak.get(b)! + 1 : 0)));
        if ([...streak.values()].every((n) => n >= check.healthyThreshold)) return;
        await sleep(check.intervalSeconds * 1000);
    }
    const sick = [...streak].filter(([, n]) => n < check.healthyThreshold).map(([b]) => b);
    throw new Error(`not healthy within ${check.graceSeconds}s (${check.path} on ${sick.join(", ")})`);
}

export async function createGeneration(inputs: GenerationInputs): Promise<GenerationOutputs> {
    const actual = hashBuild(inputs.imageDir);
    if (actual !== inputs.imageHash) {
        throw new Error(`image ${inputs.imageVersion} changed since it was resolved (${inputs.imageHash} != ${actual}); run the update again`);
    }
    const cert = await issueServerCertificate(
        { certPem: inputs.caCertPem, keyPem: inputs.caKeyPem },
        inputs.domains,
        inputs.certLifetimeDays,
    );
    const credential = randomBytes(32).toString("base64url");
    const accepted = readStore(inputs.stateDir).current;
    const frontDoor = frontDoorClient(inputs.stateDir, inputs.frontDoorToken);
    // Capacity >= what serves now: a candidate never takes traffic with fewer instances than the live one.
    const live = (await frontDoor.state()).routes.production;
    const capacity = Math.max(inputs.capacity, live?.backends.length ?? 0);

    const previousCredential = accepted && accepted.generation !== inputs.generation ? accepted.credential : "";
    try {
        const { supervisor, pids, backends } = await launch(inputs, capacity, credential, previousCredential);
        const now = new Date().toISOString();
        return {
            api: inputs.api,
            generation: inputs.generation,
            imageHash: inputs.imageHash,
            imageVersion: inputs.imageVersion,
            imageCreatedAt: inputs.imageCreatedAt,
            capacity,
            pids,
            backends,
            domains: inputs.domains,
            certPem: cert.certPem,
            keyPem: cert.keyPem,
            certSerial: cert.serial,
            certNotAfter: cert.notAfter,
            credential,
            credentialCreatedAt: now,
            createdAt: now,
            stateDir: inputs.stateDir,
            drainSeconds: inputs.drainSeconds,
            supervisor,
        };
    } catch (err) {
        rmSync(generationDir(inputs.stateDir, inputs.generation), { recursive: true, force: true });
        throw new Error(`generation ${inputs.generation} of ${inputs.api} failed to start: ${(err as Error).message}`);
    }
}

/**
 * Does this generation run as it should? Its supervisor is alive and has given up on no instance (a dead
 * instance it is restarting counts as running). A generation from before supervisors: is any process alive.
 */
export function generationAlive(outs: GenerationOutputs): boolean {
    if (outs.supervisor === undefined) return outs.pids.some((pid) => isOurs(pid, generationMarker(outs.api, outs.generation, outs.stateDir)));
    if (!isOurs(outs.supervisor, supervisorMarker(outs.stateDir, outs.generation))) return false;
    const recorded = readInstances(generationDir(outs.stateDir, outs.generation));
    return recorded !== undefined && recorded.supervisor === outs.supervisor && !recorded.instances.some((i) => i.gaveUp);
}

/**
 * Repairs a generation in place, the same generation (id, credential, certificate) in the same folder: a
 * supervisor that gave up on an instance tries it again; a dead supervisor (a machine restart killed everything,
 * or someone killed it) is replaced, its leftover instances stopped first, and the new instances take the ports
 * the front door routes to when they are free (else new ones: the gate and switch then move the routes).
 */
export async function repairGeneration(olds: GenerationOutputs, inputs: GenerationInputs): Promise<GenerationOutputs> {
    const dir = generationDir(olds.stateDir, olds.generation);
    if (olds.supervisor !== undefined && isOurs(olds.supervisor, supervisorMarker(olds.stateDir, olds.generation))) {
        process.kill(olds.supervisor, "SIGHUP");
        const deadline = Date.now() + inputs.healthCheck.graceSeconds * 1000;
        while (readInstances(dir)?.instances.some((i) => i.gaveUp) && Date.now() < deadline) await sleep(50);
        await waitHealthy(olds.backends, inputs.healthCheck);
        return { ...olds, pids: readInstances(dir)?.instances.map((i) => i.pid) ?? olds.pids };
    }
    const actual = hashBuild(inputs.imageDir);
    if (actual !== olds.imageHash) {
        throw new Error(`cannot repair generation ${olds.generation} of ${olds.api}: its image ${olds.imageVersion} changed (${olds.imageHash} != ${actual})`);
    }
    const marker = generationMarker(olds.api, olds.generation, olds.stateDir);
    await stopGenerationProcesses(olds.stateDir, olds.generation, marker, olds.pids, 5_000);
    const { current, previous } = readStore(olds.stateDir);
    const previousCredential = current && current.generation !== olds.generation ? current.credential : (previous?.credential ?? "");
    const ports = olds.backends.map((b) => Number(b.split(":")[1]));
    try {
        const launched = await launch({ ...inputs, api: olds.api, generation: olds.generation, stateDir: olds.stateDir }, olds.capacity, olds.credential, previousCredential, ports);
        return { ...olds, ...launched };
    } catch (err) {
        throw new Error(`generation ${olds.generation} of ${olds.api} could not be repaired: ${(err as Error).message}`);
    }
}

/**
 * The front door's routing, or undefined when the front door is gone (its process is not running: destroy, or
 * after a machine restart) - then nothing routes anywhere. A front door that runs but does not answer is not
 * "gone": its routing is unknown, so after a few tries this throws, and nothing that relies on it (I1's guard,
 * the drain) is skipped.
 */
async function routingOrGone(frontDoor: FrontDoorClient, doing: string): Promise<FrontDoorState | undefined> {
    let last: Error | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            return await frontDoor.state();
        } catch (err) {
            if (err instanceof FrontDoorGoneError) return undefined;
            last = err as Error;
            await sleep(500);
        }
    }
    throw new Error(`refusing to ${doing}: the front door runs but did not answer (${last?.message}); its routing is unknown (I1). Try again.`);
}

/**
 * Retires a generation: refuses while it is live (I1), leaves the test route, waits for its in-flight requests
 * (the deregistration delay), then stops its processes, each of which drains what it still holds.
 */
export async function retireGeneration(outs: GenerationOutputs, frontDoorToken: string): Promise<void> {
    // Already gone: its folder removed and none of its processes alive - the front door it ran behind was replaced
    // (a port moved with --allow-front-door-change), and stopping that one reaped it. Nothing can serve for it or
    // route to it, so there is nothing to retire; the new front door does not know the token it held (a 401).
    if (!existsSync(generationDir(outs.stateDir, outs.generation)) && !generationAlive(outs)) return;
    const frontDoor = frontDoorClient(outs.stateDir, frontDoorToken);
    const state = await routingOrGone(frontDoor, `delete generation ${outs.generation} of ${outs.api}`);
    if (state?.routes.production?.generation === outs.generation) {
        throw new Error(
            `refusing to delete generation ${outs.generation} of ${outs.api}: it is serving production traffic (I1). ` +
                `Switch traffic to another generation first (run the update again).`,
        );
    }
    if (state?.routes.test?.generation === outs.generation) await frontDoor.clearRoute("test");
    const deadline = Date.now() + outs.drainSeconds * 1000;
    let now = state;
    while (now && (now.inflight[outs.generation] ?? 0) > 0 && Date.now() < deadline) {
        await sleep(100);
        now = await routingOrGone(frontDoor, `drain generation ${outs.generation} of ${outs.api}`);
    }
    const marker = generationMarker(outs.api, outs.generation, outs.stateDir);
    await stopGenerationProcesses(outs.stateDir, outs.generation, marker, outs.pids, Math.max(5_000, outs.drainSeconds * 1000));
    rmSync(generationDir(outs.stateDir, outs.generation), { recursive: true, force: true });
}

/** Stops generations in a state folder that `keep` rejects: orphans of a killed run, or everything on destroy. */
export async function reapGenerations(stateDir: string, reap: (generation: string) => boolean): Promise<string[]> {
    const root = join(stateDir, "generations");
    if (!existsSync(root)) return [];
    const reaped: string[] = [];
    for (const generation of readdirSync(root)) {
        if (!reap(generation)) continue;
        const file = join(root, generation, "pids.json");
        if (existsSync(file)) {
            const { marker, pids } = JSON.parse(readFileSync(file, "utf8")) as { marker: string; pids: number[] };
            await stopGenerationProcesses(stateDir, generation, marker, pids, 5_000);
        }
        rmSync(join(root, generation), { recursive: true, force: true });
        reaped.push(generation);
    }
    return reaped;
}

// ---------------------------------------------------------------------------------------------- gate

export interface RouteTarget {
    api: string;
    generation: string;
    imageVersion: string;
    backends: string[];
    certPem: string;
    keyPem: string;
    certSerial: string;
    domains: string[];
    credential: string;
    caCertPem: string;
    stateDir: string;
    frontDoorToken: string;
}

export interface GateInputs extends RouteTarget {
    testPort: number;
    healthCheck: HealthCheck;
    probes: ProbeSuite;
    /** The pinned content hash of the candidate's build: its scan report must be the one made for it. */
    imageHash: string;
    /** The report written when the build was made (image.ts), or null. */
    scan: ScanReport | null;
    maxCritical: number;
    maxHigh: number | null;
    allowMissingReport: boolean;
}

export interface GateOutputs {
    generation: string;
    passedAt: string;
    /** The image gate's verdict (scanner, findings, the hash the report is bound to). */
    imageScan: string;
    results: ProbeResult[];
}

function routeSpec(t: RouteTarget & { healthCheck?: HealthCheck }): RouteSpec {
    const spec: RouteSpec = { generation: t.generation, backends: t.backends, certPem: t.certPem, keyPem: t.keyPem, certSerial: t.certSerial, domains: t.domains };
    // The front door checks the backends actively with the spec's health check (without one: a TCP connect).
    if (t.healthCheck) {
        const { path, intervalSeconds, timeoutSeconds, healthyThreshold } = t.healthCheck;
        spec.healthCheck = { path, intervalSeconds, timeoutSeconds, healthyThreshold };
    }
    return spec;
}

function endpoint(t: RouteTarget, port: number) {
    return { host: "127.0.0.1", port, serverName: t.domains[0] ?? "localhost", caPem: t.caCertPem };
}

/**
 * The gate: the candidate must pass the image scan, health behind the test listener, and every positive and
 * negative transaction there, before the switch may run. A failure keeps the test route on the candidate, so it
 * can be inspected, and fails the update: production never moved. The grace and revoked credentials come from
 * the credential store at run time, so they reach the probes without passing through Pulumi state.
 */
export async function runGate(inputs: GateInputs): Promise<GateOutputs> {
    // A build record without a report (or with one for other content) is refused below: no report is no pass.
    const report = inputs.scan ? { ...inputs.scan, images: inputs.scan.imageHash ? [inputs.scan.imageHash] : [] } : null;
    const policy = { maxCritical: inputs.maxCritical, maxHigh: inputs.maxHigh, allowMissingReport: inputs.allowMissingReport };
    const imageScan = checkScan(report, policy, inputs.imageHash, inputs.imageVersion);
    const frontDoor = frontDoorClient(inputs.stateDir, inputs.frontDoorToken);
    await waitHealthy(inputs.backends, inputs.healthCheck);
    await frontDoor.setRoute("test", routeSpec(inputs));
    const known = credentialsAround(inputs.stateDir, inputs.generation);
    const probes = await runProbeSuite(endpoint(inputs, inputs.testPort), inputs.probes, inputs.credential, known);
    if (!probes.passed) {
        throw new Error(`gate: candidate ${inputs.generation} of ${inputs.api} failed on the test listener; traffic stays where it is. ${summarize(probes)}`);
    }
    return { generation: inputs.generation, passedAt: new Date().toISOString(), imageScan, results: probes.results };
}

export async function leaveTestRoute(stateDir: string, token: string, generation: string): Promise<void> {
    const frontDoor = frontDoorClient(stateDir, token);
    try {
        if ((await frontDoor.state()).routes.test?.generation === generation) await frontDoor.clearRoute("test");
    } catch (err) {
        if (!(err instanceof FrontDoorGoneError)) throw err; // gone: no route left to clear
    }
}

// ---------------------------------------------------------------------------------------------- switch

export interface SwitchInputs extends RouteTarget {
    port: number;
    /** The front door's active health check of the production backends (unset in stacks deployed before it). */
    healthCheck?: HealthCheck;
    gatePassedGeneration: string;
    probes: ProbeSuite;
    keepWarmSeconds: number;
    intervalSeconds: number;
}

export interface SwitchOutputs extends RouteTarget {
    healthCheck?: HealthCheck;
    previousGeneration: string | null;
    /** The image the previous generation ran: what `repave rollback` redeploys. */
    previousImageVersion: string | null;
    switchedAt: string;
    bakeProbes: number;
}

/**
 * Moves production (backends and certificate in one step) to a generation that passed its gate, then bakes:
 * production probes repeat for the keep-warm window while the old generation still runs, and any failure
 * switches straight back and fails the update.
 */
export async function switchTraffic(inputs: SwitchInputs, previous: SwitchOutputs | undefined): Promise<SwitchOutputs> {
    if (inputs.gatePassedGeneration !== inputs.generation) {
        throw new Error(`switch: generation ${inputs.generation} has not passed its gate (gate passed ${inputs.gatePassedGeneration}) (I2)`);
    }
    const frontDoor = frontDoorClient(inputs.stateDir, inputs.frontDoorToken);
    await frontDoor.setRoute("production", routeSpec(inputs));
    writeFileSync(join(inputs.stateDir, "ca.pem"), inputs.caCertPem);
    const bakeUntil = Date.now() + inputs.keepWarmSeconds * 1000;
    let bakeProbes = 0;
    do {
        const report = await runPositive(endpoint(inputs, inputs.port), inputs.probes, inputs.credential);
        bakeProbes += report.results.length;
        if (!report.passed) {
            if (previous && previous.generation !== inputs.generation) {
                await frontDoor.setRoute("production", routeSpec(previous));
            }
            throw new Error(
                `bake: ${inputs.generation} failed on production after the switch; traffic is back on ${previous?.generation ?? "(none)"}. ${summarize(report)}`,
            );
        }
        if (Date.now() < bakeUntil) await sleep(inputs.intervalSeconds * 1000);
    } while (Date.now() < bakeUntil);
    promoteCredential(inputs.stateDir, inputs.generation, inputs.credential);
    await leaveTestRoute(inputs.stateDir, inputs.frontDoorToken, inputs.generation);
    const { port: _port, gatePassedGeneration: _gate, probes: _probes, keepWarmSeconds: _k, intervalSeconds: _i, ...target } = inputs;
    return {
        ...target,
        previousGeneration: previous && previous.generation !== inputs.generation ? previous.generation : (previous?.previousGeneration ?? null),
        previousImageVersion:
            previous && previous.generation !== inputs.generation ? previous.imageVersion : (previous?.previousImageVersion ?? null),
        switchedAt: new Date().toISOString(),
        bakeProbes,
    };
}

export async function unroute(stateDir: string, token: string): Promise<void> {
    try {
        await frontDoorClient(stateDir, token).clearRoute("production");
    } catch (err) {
        if (!(err instanceof FrontDoorGoneError)) throw err; // gone: nothing routes any more
    }
}
