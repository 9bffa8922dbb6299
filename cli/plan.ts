// `repave plan`: a preview read as a repave. Per API: live -> candidate generation, image old -> new with ages,
// certificate and credential rotation, and which resources are replaced versus kept (the front door must be kept).
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation/index.js";
import { ageSeconds } from "../components/generation.ts";
import { frontDoorRoleType, isFrontDoorUrn } from "../components/roles.ts";
import { classify } from "./errors.ts";
import { humanDuration, liveFacts, type ApiFacts } from "./facts.ts";
import { localResourceType } from "../policy/model.ts";

export interface ResourceChange {
    name: string;
    type: string;
    op: string;
}

export interface ApiPlan {
    api: string;
    repave: boolean;
    liveGeneration: string | null;
    candidateGeneration: string | null;
    image: { from: string | null; to: string | null; fromAge: string | null; toAge: string | null; changed: boolean };
    certificate: { fromSerial: string | null; fromNotAfter: string | null; rotated: boolean };
    credentialRotated: boolean;
    frontDoorKept: boolean;
    /** Parts of the deployed front door this deploy would replace or delete: each one is an outage of the API's address or route (I4). */
    frontDoorChanges: ResourceChange[];
    replaced: ResourceChange[];
    updated: ResourceChange[];
    created: ResourceChange[];
    deleted: ResourceChange[];
    kept: ResourceChange[];
    /** Existing resources the deploy adopts into state (`import`, `import-replacement`). */
    imported: ResourceChange[];
    /** Resources only read or refreshed from the provider (`read`, `read-replacement`, `refresh`): nothing changes. */
    read: ResourceChange[];
    /** Dropped from state without touching the resource (`discard`, `discard-replaced`, `remove-pending-replace`). */
    forgotten: ResourceChange[];
    /** Steps of an op this driver does not know (a newer engine): shown, never dropped. */
    other: ResourceChange[];
}

/**
 * Every step op the engine reports (pkg/resource/deploy/step.go), each in one bucket of ApiPlan. `replace` and
 * its `create-replacement`/`delete-replaced` halves are one replacement; a new op lands in `other`.
 */
export const opBuckets = {
    same: "kept",
    create: "created",
    update: "updated",
    delete: "deleted",
    replace: "replaced",
    "create-replacement": "replaced",
    "delete-replaced": "replaced",
    import: "imported",
    "import-replacement": "imported",
    read: "read",
    "read-replacement": "read",
    refresh: "read",
    discard: "forgotten",
    "discard-replaced": "forgotten",
    "remove-pending-replace": "forgotten",
} as const satisfies Record<string, keyof ApiPlan>;

export interface Plan {
    stack: string;
    repave: boolean;
    /** Whether any API's deployed front door would be replaced or deleted: `repave plan` exits 8, `repave run` refuses. */
    frontDoorChanged: boolean;
    /**
     * Policy rules the preview could not run because a value they read is unknown until the update (`--policy-pack`):
     * the policy host downgrades each to a warning; the update runs them with values, mandatory as configured.
     */
    policyUnchecked: Array<{ policy: string; resource: string; message: string }>;
    apis: ApiPlan[];
    changeSummary: Record<string, number>;
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;
/** `local:Generation` for the local target's resources (plugin or dynamic), else the type without the dynamic prefix. */
const shortType = (type: string) => (localResourceType(type) ? `local:${localResourceType(type)}` : type.replace(/^pulumi-nodejs:dynamic\//, ""));

const isApiComponent = (urn: string) => /(?:^|\$)repave:[a-z]+:StatelessApi$/.test(urn.split("::")[2] ?? "");

/**
 * The API each resource belongs to: the name of the `repave:<target>:StatelessApi` component up its parent chain
 * (every target names the component after the API). Not a name prefix: API `orders` must not take `orders-admin`'s
 * resources, nor the stack `orders-api-dev`. Events without parents (older engines) fall back to the prefix.
 */
function ownership(steps: Array<{ urn: string; new?: { parent?: string }; old?: { parent?: string } }>): (urn: string, api: string) => boolean {
    const parents = new Map(steps.map((s) => [s.urn, s.new?.parent || s.old?.parent || ""]));
    const owner = (urn: string): string | undefined => {
        for (let u: string | undefined = urn, hops = 0; u && hops < 64; u = parents.get(u), hops++) {
            if (isApiComponent(u)) return nameOf(u);
        }
        return undefined;
    };
    const anyParents = [...parents.values()].some((p) => p !== "");
    return (urn, api) => {
        if (anyParents) return owner(urn) === api;
        const name = nameOf(urn);
        return name === api || name.startsWith(`${api}-`);
    };
}

/**
 * The engine's steps that replace or delete an existing resource. (A create-before-delete replace is the three steps
 * create-replacement, replace, delete-replaced; delete-before-replace runs them the other way round; `delete` is a
 * resource gone from the program, e.g. a removed API.) A front-door resource in any of them loses its address or
 * route. `discard` only forgets a read resource, and read-replacement re-reads one: neither touches it.
 */
const destructiveOps = new Set(["replace", "create-replacement", "delete-replaced", "delete", "import-replacement"]);

type Inputs = Record<string, unknown> | undefined;

/** The generation a resource belongs to: the local Generation's input, or the tag/label every cloud target sets. */
function generationOf(inputs: Inputs): string | null {
    if (!inputs) return null;
    if (typeof inputs["generation"] === "string") return inputs["generation"];
    const metadata = inputs["metadata"] as { labels?: Record<string, string> } | undefined;
    // Most resources take a map; an AWS Auto Scaling group takes a list of {key, value, propagateAtLaunch}.
    const asMap = (t: unknown): Record<string, string> =>
        Array.isArray(t)
            ? Object.fromEntries(t.flatMap((x: { key?: unknown; value?: unknown }) => (typeof x?.key === "string" && typeof x.value === "string" ? [[x.key, x.value]] : [])))
            : typeof t === "object" && t !== null ? (t as Record<string, string>) : {};
    const tags = { ...asMap(inputs["tags"]), ...asMap(inputs["labels"]), ...asMap(metadata?.labels) };
    return tags["repave:generation"] ?? tags["repave-generation"] ?? tags["repave.dev/generation"] ?? null;
}

const text = (inputs: Inputs, key: string) => (typeof inputs?.[key] === "string" ? (inputs[key]) : null);

export function planFromEvents(stackName: string, events: EngineEvent[], live: ApiFacts[], apiNames: string[], changeSummary: Record<string, number>): Plan {
    const steps = events.flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []));
    const belongs = ownership(steps);
    const apis = apiNames.map((api): ApiPlan => {
        const ours = steps.filter((s) => belongs(s.urn, api) && !/^repave:[a-z]+:StatelessApi$/.test(s.type) && s.type !== frontDoorRoleType);
        // `--refresh` reads each resource first (a `refresh` step) and then plans it: only the plan's step counts.
        const planned = new Set(ours.filter((s) => s.op !== "refresh").map((s) => s.urn));
        const mine = ours.filter((s) => s.op !== "refresh" || !planned.has(s.urn));
        type Bucket = (typeof opBuckets)[keyof typeof opBuckets] | "other";
        const bucketOf = (op: string): Bucket => (opBuckets as Record<string, Bucket>)[op] ?? "other";
        // One entry per resource and bucket: a replace's three steps are one replacement.
        const bucket = (name: Bucket) =>
            mine
                .filter((s) => bucketOf(s.op) === name)
                .map((s) => ({ name: nameOf(s.urn), type: shortType(s.type), op: s.op }))
                .filter((c, i, all) => all.findIndex((x) => x.name === c.name && x.type === c.type) === i);
        const replaced = bucket("replaced").map((c) => ({ ...c, op: "replace" }));
        const facts = live.find((f) => f.api === api);
        // The local Generation carries the image facts; cloud targets name their image on the gate (ProbeGate.image).
        const generationInputs = mine.find((s) => localResourceType(s.type) === "Generation")?.new?.inputs as Inputs;
        const gateInputs = mine.find((s) => s.type.endsWith("/repave:ProbeGate"))?.new?.inputs as Inputs;
        const replacedSteps = mine.filter((s) => s.op === "replace" || s.op === "create-replacement" || (s.op === "create" && !facts));
        const candidate = replacedSteps.map((s) => generationOf(s.new?.inputs as Inputs)).find((g) => g !== null) ?? generationOf(generationInputs);
        const generationReplaced = candidate !== null && candidate !== facts?.generation && replacedSteps.length > 0;
        const toHash = text(generationInputs, "imageHash") ?? text(gateInputs, "image");
        const toVersion = text(generationInputs, "imageVersion") ?? text(gateInputs, "image");
        const toCreated = text(generationInputs, "imageCreatedAt");
        // The role marker the shared changeover options set (components/roles.ts), whatever the resource's type.
        const frontDoorChanges = mine
            .filter((s) => isFrontDoorUrn(s.urn) && destructiveOps.has(s.op))
            .map((s) => ({ name: nameOf(s.urn), type: shortType(s.type), op: s.op === "delete" ? "delete" : "replace" }))
            .filter((c, i, all) => all.findIndex((x) => x.name === c.name && x.type === c.type) === i);
        return {
            api,
            repave: generationReplaced,
            liveGeneration: facts?.generation ?? null,
            candidateGeneration: generationReplaced ? candidate : (facts?.generation ?? candidate),
            image: {
                from: facts ? `${facts.imageVersion} (${facts.imageHash.slice(0, 19)})` : null,
                to: toVersion && toHash ? (toVersion === toHash ? toHash : `${toVersion} (${toHash.slice(0, 19)})`) : null,
                fromAge: facts ? humanDuration(ageSeconds(facts.imageCreatedAt)) : null,
                toAge: toCreated ? humanDuration(ageSeconds(toCreated)) : null,
                changed: facts ? facts.imageHash !== toHash : toHash !== null,
            },
            certificate: { fromSerial: facts?.certSerial ?? null, fromNotAfter: facts?.certNotAfter ?? null, rotated: generationReplaced },
            credentialRotated: generationReplaced,
            frontDoorKept: frontDoorChanges.length === 0,
            frontDoorChanges,
            replaced,
            updated: bucket("updated"),
            created: bucket("created"),
            deleted: bucket("deleted"),
            kept: bucket("kept"),
            imported: bucket("imported"),
            read: bucket("read"),
            forgotten: bucket("forgotten"),
            other: bucket("other"),
        };
    });
    const policyUnchecked = events.flatMap((e) =>
        e.policyEvent && /can't run policy/.test(e.policyEvent.message)
            ? [{ policy: e.policyEvent.policyName, resource: e.policyEvent.resourceUrn ? nameOf(e.policyEvent.resourceUrn) : "(stack)", message: e.policyEvent.message.trim() }]
            : [],
    );
    return { stack: stackName, repave: apis.some((a) => a.repave), frontDoorChanged: apis.some((a) => a.frontDoorChanges.length > 0), policyUnchecked, apis, changeSummary };
}

/** `refresh`: read every resource from its provider first, so the plan diffs against what runs, not the last checkpoint. */
export async function plan(stack: Stack, signal?: AbortSignal, policyPacks?: string[], refresh = false): Promise<Plan> {
    const events: EngineEvent[] = [];
    // The live facts are one small read; it runs while the engine previews.
    const [live, result] = await Promise.all([
        liveFacts(stack),
        stack.preview({ onEvent: (e) => events.push(e), diff: true, signal, refresh, ...(policyPacks?.length ? { policyPacks } : {}) }).catch((err: unknown) => {
            throw classify(err, "repave plan");
        }),
    ]);
    // The APIs are the StatelessApi components the program declares, on whatever target.
    const apiNames = events
        .flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []))
        .filter((m) => /^repave:[a-z]+:StatelessApi$/.test(m.type))
        .map((m) => nameOf(m.urn));
    return planFromEvents(stack.name, events, live, [...new Set(apiNames)], result.changeSummary);
}

export function renderMarkdown(p: Plan): string {
    const lines = [`### repave plan for \`${p.stack}\`: ${p.repave ? "**repave**" : "no repave"}`, ""];
    for (const a of p.apis) {
        lines.push(`#### ${a.api}: ${a.repave ? `${a.liveGeneration ?? "(none)"} → ${a.candidateGeneration ?? "(new)"}` : `stays on ${a.liveGeneration}`}`, "");
        lines.push("| | live | after this deploy |", "|---|---|---|");
        lines.push(`| generation | ${a.liveGeneration ?? "—"} | ${a.candidateGeneration ?? "—"} |`);
        lines.push(`| image | ${a.image.from ?? "—"}${a.image.fromAge ? `, ${a.image.fromAge} old` : ""} | ${a.image.to ?? "—"}${a.image.toAge ? `, ${a.image.toAge} old` : ""}${a.image.changed ? " (new)" : ""} |`);
        lines.push(`| certificate | ${a.certificate.fromSerial ?? "—"}${a.certificate.fromNotAfter ? ` (until ${a.certificate.fromNotAfter.slice(0, 10)})` : ""} | ${a.certificate.rotated ? "new key and certificate" : "kept"} |`);
        lines.push(`| credential | ${a.liveGeneration ? "current" : "—"} | ${a.credentialRotated ? "rotated (previous accepted for one generation)" : "kept"} |`);
        lines.push(`| front door | ${a.frontDoorKept ? "kept" : `**${a.frontDoorChanges.map((c) => `${c.op} \`${c.name}\``).join(", ")}**`} | |`, "");
        const list = (label: string, xs: ResourceChange[]) => xs.length && lines.push(`- ${label}: ${xs.map((x) => `\`${x.name}\``).join(", ")}`);
        list("replaced", a.replaced);
        list("updated", a.updated);
        list("created", a.created);
        list("deleted", a.deleted);
        list("imported", a.imported);
        list("read from the provider", a.read);
        list("dropped from state (the resource itself untouched)", a.forgotten);
        list("other steps", a.other.map((o) => ({ ...o, name: `${o.name} (${o.op})` })));
        list("kept", a.kept);
        lines.push("");
    }
    if (p.policyUnchecked.length > 0) {
        lines.push("#### policy checks the preview could not run (values unknown until the update, which runs them)", "");
        for (const u of p.policyUnchecked) lines.push(`- \`${u.policy}\` on \`${u.resource}\``);
        lines.push("");
    }
    return lines.join("\n");
}
