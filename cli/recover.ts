// `repave recover`: the one step after an interrupted run (a killed CD job, a SIGKILL, a lost machine). It clears
// the stale lock, drops pending creates the engine cannot know the outcome of, and stops the processes such
// creates may have left behind (local target), so the next `repave run` converges with no outage: traffic never
// moved to anything that had not passed its gate, and the live generation is still in state.
//
// It is only ever safe on a run that is dead. A lock whose owner is alive on this machine is a live update:
// recover refuses, whatever it is told (clearing it would let a second update race the first, and stopping
// "orphans" would stop the candidate the live run is creating). A lock it cannot judge - another machine's, or a
// backend whose locks it cannot read (Pulumi Cloud; a bucket with no credentials in the environment) - needs --force,
// and recover says what that does. A bucket's lock objects are read through the S3 API (cli/s3-locks.ts).
import type { ImportResource, LocalWorkspace, Stack } from "@pulumi/pulumi/automation/index.js";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { reapGenerations } from "../components/local/changeover.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { deleteObjects, killedRunObjects, type orphanedObjects } from "./kubernetes-orphans.ts";
import { describeDisposition, pendingCreates, providerUrn, type PendingCreate } from "./pending-creates.ts";
import { localResourceType } from "../policy/model.ts";
import { stopOrphanedProviders } from "./orphan-providers.ts";
import { deleteS3Object, envCredentials, parseS3Backend, s3Locks } from "./s3-locks.ts";

export interface RecoverReport {
    /** Damaged metadata sidecars removed from a file backend (see repairFileBackend). */
    repairedMetadata: string[];
    lockCleared: boolean;
    pendingOperations: number;
    reapedGenerations: string[];
    /** Kubernetes objects the killed run's pending creates had made, deleted from the cluster (cli/kubernetes-orphans.ts). */
    deletedObjects: string[];
    /** What became of each pending create, one line each (cli/pending-creates.ts): imported, deleted, stopped, nothing, or LEFT. */
    pendingCreates: string[];
    /** Provider plugin processes the killed engine left running in the project folder, stopped (cli/orphan-providers.ts). */
    stoppedProviders: number;
}

/**
 * Adopts the pending creates whose id is known into state, so no later update loses them. One that replaces a
 * resource still in state (same URN: the live generation's) is imported under `<name>-orphaned-by-kill`, which
 * the program does not declare: the next update deletes it. Returns each create with whether it was imported.
 */
export async function importPendingCreates(stack: Stack, creates: PendingCreate[], inState: Set<string>): Promise<Array<PendingCreate & { imported?: boolean; error?: string }>> {
    const imports = creates.filter((c): c is PendingCreate & { action: "import"; id: string } => c.action === "import");
    if (imports.length === 0) return creates;
    const nameTable: Record<string, string> = {};
    const resources = imports.map((c, i): ImportResource => {
        const resource: ImportResource = { type: c.type, name: inState.has(c.urn) ? `${c.name}-orphaned-by-kill` : c.name, id: c.id };
        if (c.parent) {
            nameTable[`parent${i}`] = c.parent;
            resource.parent = `parent${i}`;
        }
        if (c.provider) {
            nameTable[`provider${i}`] = providerUrn(c.provider);
            resource.provider = `provider${i}`;
        }
        return resource;
    });
    let error: string | undefined;
    try {
        await stack.import({ resources, nameTable, protect: false, generateCode: false, onOutput: () => undefined });
    } catch (err) {
        const message = (err as Error).message;
        error = (message.split("\n").find((l) => /error: /.test(l))?.replace(/^.*?error: /, "") ?? message).slice(0, 300);
    }
    return creates.map((c) => (c.action === "import" ? { ...c, ...(error ? { imported: false, error } : { imported: true }) } : c));
}

/** What the DIY backend writes into `.pulumi/locks/<org>/<project>/<stack>/<id>.json` (pkg/backend/diy/lock.go). */
export interface LockOwner {
    pid: number;
    username: string;
    hostname: string;
    timestamp: string;
}

/**
 * A file backend's metadata sidecars (`<file>.attrs`, written by the blob library beside each file unless the URL
 * says `metadata=skip`) are written in place: a process killed meanwhile leaves one empty or cut short, and every
 * later command fails with "failed to load checkpoint: EOF". They hold only content type and checksums, so a
 * damaged one is removed (the file it describes is untouched). Returns the sidecars removed.
 */
export function repairFileBackend(backendUrl: string | undefined): string[] {
    if (!backendUrl?.startsWith("file://")) return [];
    const root = join(backendUrl.slice("file://".length).split("?")[0]!, ".pulumi");
    if (!existsSync(root)) return [];
    const damaged = readdirSync(root, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".attrs"))
        .filter((f) => {
            try {
                JSON.parse(readFileSync(join(root, f), "utf8"));
                return false;
            } catch {
                return true;
            }
        });
    for (const f of damaged) rmSync(join(root, f));
    return damaged;
}

/** Recover would break a live run, or cannot tell: nothing was changed (exit 4, as for any lock). */
export class RecoverRefusedError extends DriverError {
    constructor(message: string) {
        super(message, exitCodes.locked);
    }
}

const describe = (l: LockOwner) => `${l.username}@${l.hostname} (pid ${l.pid}, since ${l.timestamp})`;

/** The locks of a stack in a file:// backend; undefined when the backend's locks cannot be read from here. */
function lockDir(backendUrl: string | undefined, project: string, stack: string): string | undefined {
    if (!backendUrl?.startsWith("file://")) return undefined;
    const root = backendUrl.slice("file://".length).split("?")[0]!;
    const qualified = stack.split("/").length === 3 ? stack : `organization/${project}/${stack.split("/").pop()}`;
    return join(root, ".pulumi", "locks", ...qualified.split("/"));
}

export function fileBackendLocks(backendUrl: string | undefined, project: string, stack: string): LockOwner[] | undefined {
    const dir = lockDir(backendUrl, project, stack);
    if (dir === undefined) return undefined;
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
        .filter((f) => f.endsWith(".json"))
        .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as LockOwner);
}

/**
 * After `pulumi cancel`: removes the stack's file-backend locks whose owners are dead (the caller has established
 * that with checkRecoverable; a cancel can succeed and leave the lock file behind) and returns the locks still
 * there, which only a live owner keeps. The lock is cleared when this returns none: read back, never assumed.
 */
export function removeDeadLocks(backendUrl: string | undefined, project: string, stack: string, thisHost = hostname()): LockOwner[] {
    const dir = lockDir(backendUrl, project, stack);
    if (dir === undefined || !existsSync(dir)) return [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
        const owner = JSON.parse(readFileSync(join(dir, f), "utf8")) as LockOwner;
        if (!ownerAlive(owner, thisHost)) rmSync(join(dir, f), { force: true });
    }
    return fileBackendLocks(backendUrl, project, stack) ?? [];
}

/** A bucket backend whose lock objects this process can read (credentials in the environment), else undefined. */
function s3LockReader(backendUrl: string | undefined, project: string, stack: string, env: NodeJS.ProcessEnv) {
    const bucket = parseS3Backend(backendUrl, env);
    const creds = envCredentials(env);
    if (!bucket || !creds) return undefined;
    const qualified = stack.split("/").length === 3 ? stack : `organization/${project}/${stack.split("/").pop()}`;
    const dir = `.pulumi/locks/${qualified}/`;
    return {
        read: () => s3Locks<LockOwner>(bucket, creds, dir),
        remove: (key: string) => deleteS3Object(bucket, creds, key),
    };
}

/**
 * The stack's locks: a file backend's lock files, or a bucket's lock objects read through the S3 API (cli/s3-locks.ts);
 * undefined when they cannot be read from here (Pulumi Cloud; a bucket with no credentials in the environment).
 * A bucket that answers with an error throws it.
 */
export async function backendLocks(backendUrl: string | undefined, project: string, stack: string, env: NodeJS.ProcessEnv = process.env): Promise<LockOwner[] | undefined> {
    const s3 = s3LockReader(backendUrl, project, stack, env);
    return s3 ? (await s3.read()).map((l) => l.owner) : fileBackendLocks(backendUrl, project, stack);
}

/** removeDeadLocks for any backend whose locks can be read (file, or bucket): the locks still there afterwards. */
async function removeDeadBackendLocks(backendUrl: string | undefined, project: string, stack: string, env: NodeJS.ProcessEnv): Promise<LockOwner[]> {
    const s3 = s3LockReader(backendUrl, project, stack, env);
    if (!s3) return removeDeadLocks(backendUrl, project, stack);
    for (const l of await s3.read()) if (!ownerAlive(l.owner)) await s3.remove(l.key);
    return (await s3.read()).map((l) => l.owner);
}

/** The driver's environment as the engine sees it: the workspace's variables over the process's. */
const workspaceEnv = (ws: LocalWorkspace): NodeJS.ProcessEnv => ({ ...process.env, ...ws.envVars });

/**
 * Refuses (exit 4) when the stack is locked by another update. A file or bucket backend's preview takes no lock, so
 * a `repave run` that previews first would otherwise preview beside a live update and then repave again the moment
 * it ends: two changeovers back to back, and callers holding the credential of two generations ago cut off.
 */
export async function refuseWhileLocked(stack: Stack, doing: string): Promise<void> {
    const ws = stack.workspace as LocalWorkspace;
    const backend = ws.envVars["PULUMI_BACKEND_URL"] ?? process.env["PULUMI_BACKEND_URL"];
    let locks: LockOwner[] | undefined;
    try {
        locks = await backendLocks(backend, (await ws.projectSettings()).name, stack.name, workspaceEnv(ws));
    } catch {
        locks = undefined; // a bucket that cannot be listed now: the engine's own lock still refuses a second update
    }
    if (locks && locks.length > 0) {
        throw new DriverError(`${doing}: the stack is locked by another update: ${locks.map(describe).join(", ")}; wait for it, or run \`repave recover\` once it is dead`, exitCodes.locked);
    }
}

/** Is this lock's owner a Pulumi process still running on this machine? (pids are reused: check what runs.) */
export function ownerAlive(lock: LockOwner, thisHost = hostname()): boolean {
    if (lock.hostname !== thisHost) return false;
    try {
        return readFileSync(`/proc/${lock.pid}/cmdline`, "utf8").includes("pulumi");
    } catch {
        return false;
    }
}

/** Decides whether recovering is safe; throws RecoverRefusedError, saying why, when it is not. */
export function checkRecoverable(locks: LockOwner[] | undefined, backend: string, force: boolean, thisHost = hostname()): void {
    if (locks === undefined) {
        if (force) return;
        throw new RecoverRefusedError(
            `cannot read the locks of backend ${backend} from here, so cannot tell whether an update is still running. ` +
                "If you know the run is dead (a lost CD runner), `repave recover --force` cancels the stack's current update and lock, " +
                "drops pending creates and stops this machine's orphaned processes.",
        );
    }
    const alive = locks.filter((l) => ownerAlive(l, thisHost));
    if (alive.length > 0) {
        throw new RecoverRefusedError(
            `an update is running: ${alive.map(describe).join(", ")}. Recovering now would break it. ` +
                "Wait for it to finish, or stop it (Ctrl-C in its terminal cancels it cleanly) and run recover again if it leaves a lock.",
        );
    }
    const elsewhere = locks.filter((l) => l.hostname !== thisHost);
    if (elsewhere.length > 0 && !force) {
        throw new RecoverRefusedError(
            `the stack is locked from another machine: ${elsewhere.map(describe).join(", ")}; this machine cannot tell whether that run is alive. ` +
                "If it is not, `repave recover --force` removes the lock, drops pending creates and stops orphaned processes on this machine.",
        );
    }
}

export async function recover(stack: Stack, options: { force?: boolean; repairedMetadata?: string[] } = {}): Promise<RecoverReport> {
    const ws = stack.workspace as LocalWorkspace;
    const backend = ws.envVars["PULUMI_BACKEND_URL"] ?? process.env["PULUMI_BACKEND_URL"] ?? "(your `pulumi login`)";
    const project = (await ws.projectSettings()).name;
    const env = workspaceEnv(ws);
    let locks: LockOwner[] | undefined;
    let unreadable = "";
    try {
        locks = await backendLocks(backend, project, stack.name, env);
    } catch (err) {
        unreadable = ` (${(err as Error).message})`; // the service's answer, e.g. HTTP 403 AccessDenied
    }
    checkRecoverable(locks, `${backend}${unreadable}`, options.force ?? false);
    // The update is dead (or --force says so): its engine's provider plugins have no one to answer to. Stopped
    // first, so none of them goes on creating behind the refresh and reaping below.
    const stoppedProviders = await stopOrphanedProviders(ws.workDir);

    let lockCleared = false;
    if (locks === undefined || locks.length > 0) {
        try {
            await stack.cancel();
        } catch {
            // no update in progress: nothing to cancel
        }
    }
    if (locks !== undefined && locks.length > 0) {
        // A cancel that "succeeds" proves nothing on a file or bucket backend: read the locks back.
        const remaining = await removeDeadBackendLocks(backend, project, stack.name, env);
        if (remaining.length > 0) {
            throw new RecoverRefusedError(`the stack is still locked after the cancel: ${remaining.map(describe).join(", ")}; nothing else was changed.`);
        }
        lockCleared = true;
    }
    const before = await stack.exportStack();
    const pending = (before.deployment as { pending_operations?: Parameters<typeof orphanedObjects>[0] }).pending_operations ?? [];
    const pendingOperations = pending.length;
    const creates = pendingCreates(pending);
    // Before the pending creates are cleared: afterwards nothing would ever name the objects they made.
    const deletedObjects = deleteObjects(killedRunObjects(pending, (before.deployment as { resources?: Parameters<typeof orphanedObjects>[1] }).resources ?? []));
    if (pendingOperations > 0) {
        await stack.refresh({ clearPendingCreates: true, onOutput: () => undefined });
    }
    const cleared = ((await stack.exportStack()).deployment as { resources?: Array<{ urn: string }> }).resources ?? [];
    // Cleared from the checkpoint, then adopted back where the cloud's id is known: never dropped silently.
    const handled = await importPendingCreates(stack, creates, new Set(cleared.map((r) => r.urn)));
    const state = (await stack.exportStack()).deployment as {
        resources?: Array<{ type: string; outputs?: Record<string, unknown> }>;
    };
    const resources = state.resources ?? [];
    const known = new Set(
        resources.filter((r) => localResourceType(r.type) === "Generation").map((r) => String(r.outputs?.["generation"])),
    );
    const stateDirs = new Set(
        resources.filter((r) => localResourceType(r.type) === "FrontDoor").map((r) => String(r.outputs?.["stateDir"])),
    );
    const reapedGenerations: string[] = [];
    for (const dir of stateDirs) {
        reapedGenerations.push(...(await reapGenerations(dir, (generation) => !known.has(generation))));
    }
    return { repairedMetadata: options.repairedMetadata ?? [], lockCleared, pendingOperations, reapedGenerations, deletedObjects, pendingCreates: handled.map(describeDisposition), stoppedProviders };
}
