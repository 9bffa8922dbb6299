// What `repave recover` does with each pending create a killed run left in the checkpoint - the one thing it must
// never do is drop a resource from state while it exists: nothing would ever delete it (an ASG would run on, a
// certificate or secret keep its material), and under `pinned`/`max-age` the rerun would collide on its name.
// Per target, by what names the object in its cloud:
//   import    the id follows from the inputs the operation recorded (AWS names, GCP resource paths): the object is
//             adopted into state, so the rerun updates, replaces or deletes it like any other
//   delete    Kubernetes objects, by kind, namespace and name (cli/kubernetes-orphans.ts)
//   stop      the local target's generation processes (components/local/changeover.ts reapGenerations)
//   none      nothing outside the state: a component, or a dynamic resource whose outputs live in the state only
//   manual    no id can be derived (an id the cloud assigns: an ACM ARN, a launch template's lt-...): recover says
//             where to find it, never silently
// (A hook per target fits here: a new target adds its types to `importId` or its own disposition.)

import { localResourceType } from "../policy/model.ts";

/** A pending operation as `pulumi stack export` writes it (apitype.OperationV2). */
export interface PendingOperation {
    type: string;
    resource: { type: string; urn: string; custom?: boolean; id?: string; parent?: string; provider?: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
}

export type Disposition =
    | { action: "import"; id: string }
    | { action: "delete" | "stop"; how: string }
    | { action: "none"; why: string }
    | { action: "manual"; why: string };

export type PendingCreate = Disposition & { urn: string; type: string; name: string; parent?: string; provider?: string };

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

/** GCP names a resource by a path its inputs give: project (and region or location) and name. */
function gcpId(type: string, inputs: Record<string, unknown>): string | undefined {
    const project = text(inputs["project"]);
    const name = text(inputs["name"]);
    if (!project) return undefined;
    const global = (collection: string) => (name ? `projects/${project}/global/${collection}/${name}` : undefined);
    switch (type) {
        case "gcp:compute/instanceTemplate:InstanceTemplate":
            return global("instanceTemplates");
        case "gcp:compute/backendService:BackendService":
            return global("backendServices");
        case "gcp:compute/healthCheck:HealthCheck":
            return global("healthChecks");
        case "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": {
            const region = text(inputs["region"]);
            return region && name ? `projects/${project}/regions/${region}/instanceGroupManagers/${name}` : undefined;
        }
        case "gcp:certificatemanager/certificate:Certificate":
            return name ? `projects/${project}/locations/${text(inputs["location"]) ?? "global"}/certificates/${name}` : undefined;
        case "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": {
            const map = text(inputs["map"]);
            return map && name ? `projects/${project}/locations/global/certificateMaps/${map.split("/").pop()}/certificateMapEntries/${name}` : undefined;
        }
        case "gcp:serviceaccount/account:Account": {
            const accountId = text(inputs["accountId"]);
            return accountId ? `projects/${project}/serviceAccounts/${accountId}@${project}.iam.gserviceaccount.com` : undefined;
        }
        default:
            return undefined;
    }
}

/** AWS ids that are the resource's own name (or names), as the provider's import documents them. */
function awsId(type: string, inputs: Record<string, unknown>): string | undefined {
    const name = text(inputs["name"]);
    switch (type) {
        case "aws:autoscaling/group:Group":
        case "aws:iam/role:Role":
        case "aws:iam/instanceProfile:InstanceProfile":
            return name;
        case "aws:iam/rolePolicy:RolePolicy": {
            const role = text(inputs["role"]);
            return role && name ? `${role}:${name}` : undefined;
        }
        case "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
            const role = text(inputs["role"]);
            const arn = text(inputs["policyArn"]);
            return role && arn ? `${role}/${arn}` : undefined;
        }
        default:
            return undefined;
    }
}

/** Where a person finds an object recover cannot name, by the tags every generation resource carries. */
function manualHint(type: string, inputs: Record<string, unknown>): string {
    const tags = (inputs["tags"] ?? inputs["labels"]) as Record<string, unknown> | Array<{ key?: string; value?: string }> | undefined;
    const generation = Array.isArray(tags) ? tags.find((t) => t.key === "repave:generation")?.value : text(tags?.["repave:generation"]) ?? text(tags?.["repave-generation"]);
    const name = text(inputs["name"]);
    return `its id is assigned by the cloud and was never recorded; find it${name ? ` by name ${name}` : ""}${generation ? ` or by the tag repave:generation=${generation}` : ""} and delete it (or \`pulumi import ${type} <name> <id>\`)`;
}

/** What recover does with one pending create (see the top of this file). */
export function dispositionOf(op: PendingOperation): PendingCreate {
    const r = op.resource;
    const inputs = r.inputs ?? {};
    const base = { urn: r.urn, type: r.type, name: r.urn.split("::").pop() ?? r.urn, ...(r.parent ? { parent: r.parent } : {}), ...(r.provider ? { provider: r.provider } : {}) };
    if (r.custom === false) return { ...base, action: "none", why: "a component: nothing outside the state" };
    if (localResourceType(r.type) === "Generation") return { ...base, action: "stop", how: "its processes are stopped (no generation in state owns them)" };
    if (r.type.startsWith("kubernetes:")) return { ...base, action: "delete", how: "deleted from the cluster by kind, namespace and name" };
    if (r.type.startsWith("pulumi-nodejs:dynamic/") || localResourceType(r.type) !== undefined || r.type === "aws:acm/certificateValidation:CertificateValidation") {
        return { ...base, action: "none", why: "its outputs live in the state only: nothing was made outside it" };
    }
    const id = r.id || (r.type.startsWith("gcp:") ? gcpId(r.type, inputs) : r.type.startsWith("aws:") ? awsId(r.type, inputs) : undefined);
    if (id) return { ...base, action: "import", id };
    return { ...base, action: "manual", why: manualHint(r.type, inputs) };
}

/** The pending creates of a checkpoint; other pending ops (updates, deletes) keep a resource that is in state already. */
export function pendingCreates(pending: PendingOperation[]): PendingCreate[] {
    return pending.filter((op) => op.type === "creating").map(dispositionOf);
}

/** The provider reference `urn::id` a resource records, as the URN the import's name table wants. */
export const providerUrn = (reference: string) => reference.slice(0, reference.lastIndexOf("::"));

/** One line per pending create, saying what recover did: the report a person reads. */
export function describeDisposition(p: PendingCreate & { imported?: boolean; error?: string }): string {
    switch (p.action) {
        case "import":
            return p.imported ? `${p.name} (${p.type}): imported as ${p.id}` : `${p.name} (${p.type}): NOT imported (${p.error ?? "not attempted"}); find ${p.id} and delete it or import it by hand`;
        case "delete":
        case "stop":
            return `${p.name} (${p.type}): ${p.how}`;
        case "none":
            return `${p.name} (${p.type}): nothing to do, ${p.why}`;
        case "manual":
            return `${p.name} (${p.type}): LEFT - ${p.why}`;
    }
}
