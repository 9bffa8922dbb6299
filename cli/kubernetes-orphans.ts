// `repave recover` on the Kubernetes target: a killed `pulumi up` leaves pending creates - objects the provider may
// have created (a candidate Deployment and its pods, its credential and TLS Secrets, a gate Job) that the engine
// never recorded. Clearing the pending creates drops them from the checkpoint, so no later update would ever
// delete them: the pods would run on and the Secrets would keep their keys. recover deletes them from the cluster
// first, by the kind, namespace and name the pending operation recorded, with the kubectl the user deploys with
// (REPAVE_KUBECTL, else `kubectl` on PATH) and the cluster the provider used (KUBECONFIG, or the default context).
import { spawnSync } from "node:child_process";

interface PendingOperation {
    type: string;
    resource: { type: string; urn: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
}
interface StateResource {
    type: string;
    urn: string;
    delete?: boolean;
    outputs?: Record<string, unknown>;
}

export interface KubernetesObject {
    /** kubectl's fully qualified resource: `deployment.v1.apps`, `secret`, `job.v1.batch`. */
    resource: string;
    namespace: string;
    name: string;
}

const describe = (o: KubernetesObject) => `${o.resource}/${o.name} in ${o.namespace}`;

function objectOf(type: string, props: Record<string, unknown> | undefined): KubernetesObject | undefined {
    // Patches (SecretPatch, ...) change an object they do not own: never delete what they point at.
    if (!type.startsWith("kubernetes:") || type.endsWith("Patch") || !props) return undefined;
    const metadata = props["metadata"] as { name?: unknown; namespace?: unknown } | undefined;
    const apiVersion = props["apiVersion"];
    const kind = props["kind"];
    if (typeof metadata?.name !== "string" || typeof apiVersion !== "string" || typeof kind !== "string") return undefined;
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    return {
        resource: group ? `${kind.toLowerCase()}.${version}.${group}` : kind.toLowerCase(),
        namespace: typeof metadata.namespace === "string" && metadata.namespace ? metadata.namespace : "default",
        name: metadata.name,
    };
}

/**
 * The Kubernetes objects the pending creates may have made, except any that a resource in state also names (a
 * replacement under the same name must never delete the object the state holds).
 */
export function orphanedObjects(pending: PendingOperation[], resources: StateResource[]): KubernetesObject[] {
    const key = (o: KubernetesObject) => `${o.resource} ${o.namespace} ${o.name}`;
    const inState = new Set(
        resources.filter((r) => !r.delete).flatMap((r) => {
            const o = objectOf(r.type, r.outputs);
            return o ? [key(o)] : [];
        }),
    );
    const found = new Map<string, KubernetesObject>();
    for (const op of pending) {
        if (op.type !== "creating") continue;
        const o = objectOf(op.resource.type, op.resource.inputs ?? op.resource.outputs);
        if (o && !inState.has(key(o))) found.set(key(o), o);
    }
    return [...found.values()];
}

/** Deletes each object (absent ones are fine); returns what was deleted, and throws listing what could not be. */
export function deleteObjects(objects: KubernetesObject[], kubectl = process.env["REPAVE_KUBECTL"] || "kubectl"): string[] {
    const deleted: string[] = [];
    const failed: string[] = [];
    for (const o of objects) {
        const r = spawnSync(kubectl, ["delete", o.resource, o.name, "-n", o.namespace, "--ignore-not-found", "--wait=false"], { encoding: "utf8", timeout: 60_000 });
        if (r.status === 0) {
            if (r.stdout.trim()) deleted.push(describe(o));
        } else {
            failed.push(`${describe(o)}: ${(r.error?.message ?? r.stderr).trim()}`);
        }
    }
    if (failed.length > 0) {
        throw new Error(
            `recover: could not delete what the killed run may have created in the cluster (nothing was cleared; run recover again once kubectl reaches the cluster):\n  ${failed.join("\n  ")}`,
        );
    }
    return deleted;
}

/** The kinds a generation is made of (its pods go with their Deployment or Job). */
const generationKinds = ["deployments.v1.apps", "secrets", "jobs.v1.batch", "poddisruptionbudgets.v1.policy"];
/** Only where cert-manager is installed: its absence is not an error. */
const optionalKinds = ["certificates.v1.cert-manager.io"];

interface Listed {
    kind: string;
    apiVersion: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}
/** Lists the objects of `kinds` in `namespace` that carry `selector`; null when a kind is unknown to the cluster. */
export type Lister = (namespace: string, kinds: string[], selector: string) => Listed[] | null;

const labelsOf = (props: Record<string, unknown> | undefined) => (props?.["metadata"] as { labels?: Record<string, string>; namespace?: string } | undefined) ?? {};

/**
 * Objects of a killed run found by their labels, whatever the checkpoint recorded: every object labelled with an
 * API this stack deploys (`repave.dev/api`, in the namespaces where the state has its objects) whose
 * `repave.dev/generation` no resource in the state carries - a generation no update will ever delete (the killed
 * run's candidate, its gate or bake Jobs, its Secrets with their keys). Generations the state holds, pending deletes
 * included, are the engine's to delete.
 */
export function labelledOrphans(resources: StateResource[], list: Lister): KubernetesObject[] {
    const generations = new Set<string>();
    const scopes = new Map<string, { namespace: string; api: string }>();
    for (const r of resources) {
        if (!r.type.startsWith("kubernetes:")) continue;
        const { labels, namespace } = labelsOf(r.outputs);
        const generation = labels?.["repave.dev/generation"];
        if (generation) generations.add(generation);
        const api = labels?.["repave.dev/api"];
        if (api) scopes.set(`${namespace ?? "default"} ${api}`, { namespace: namespace ?? "default", api });
    }
    const found: KubernetesObject[] = [];
    for (const { namespace, api } of scopes.values()) {
        const selector = `repave.dev/api=${api},repave.dev/generation`;
        const items = [...(list(namespace, generationKinds, selector) ?? []), ...(list(namespace, optionalKinds, selector) ?? [])];
        for (const item of items) {
            const generation = item.metadata.labels?.["repave.dev/generation"];
            if (!generation || generations.has(generation)) continue;
            const o = objectOf(`kubernetes:${item.apiVersion}:${item.kind}`, { ...item });
            if (o) found.push({ ...o, namespace: item.metadata.namespace ?? namespace });
        }
    }
    return found;
}

/** The default Lister: kubectl get -o json. Throws when the cluster cannot be asked (nothing is cleared then). */
export function kubectlLister(kubectl = process.env["REPAVE_KUBECTL"] || "kubectl"): Lister {
    return (namespace, kinds, selector) => {
        const r = spawnSync(kubectl, ["get", kinds.join(","), "-n", namespace, "-l", selector, "-o", "json"], { encoding: "utf8", timeout: 60_000 });
        if (r.status !== 0) {
            if (/doesn't have a resource type|the server could not find the requested resource/.test(r.stderr)) return null;
            throw new Error(`recover: could not list ${kinds.join(", ")} in ${namespace} (nothing was cleared; run recover again once kubectl reaches the cluster): ${(r.error?.message ?? r.stderr).trim()}`);
        }
        return (JSON.parse(r.stdout) as { items: Listed[] }).items;
    };
}

/** Both: the pending creates' objects and the labelled ones, each once. */
export function killedRunObjects(pending: PendingOperation[], resources: StateResource[], list: Lister = kubectlLister()): KubernetesObject[] {
    const all = [...orphanedObjects(pending, resources), ...(resources.some((r) => r.type.startsWith("kubernetes:")) ? labelledOrphans(resources, list) : [])];
    const seen = new Set<string>();
    return all.filter((o) => {
        const k = `${o.resource} ${o.namespace} ${o.name}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
    });
}
