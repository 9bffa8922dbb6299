// Generation identity: what decides that a deploy builds a new generation, and how its resources are named.
// A generation id is derived, not stored: the same inputs give the same id, so `pinned` and `max-age` deploys
// that have nothing to do show no change, and `every-deploy` gets a new id from the deploy's own id.
import { createHash } from "node:crypto";
import { durationMs, type RepavePolicy, type StatelessApiSpec } from "./spec.ts";

export interface GenerationIdentity {
    /** `g` + 6 hex: short enough for the tightest cloud name limits (AWS target groups: 32 characters). */
    id: string;
    /** What makes this generation differ from its siblings: the deploy id, the age bucket, or "pinned". */
    epoch: string;
    /** Why a deploy with this id would repave, in words for a plan. */
    reason: string;
}

export interface GenerationContext {
    /** The immutable image id the generation pins (AMI id, image self-link, digest, build hash). */
    imageId: string;
    /** Identifies this deploy: each `repave run` (or `pulumi up`) has its own. */
    deployId: string;
    now: Date;
    /**
     * Where the generation lives (stackScope): two stacks of one spec get different ids, so their generations'
     * physical names differ under `pinned` and `max-age` too. Unset (the local and Kubernetes targets, whose names
     * are per state folder or namespace), the id is what it always was.
     */
    scope?: string;
    /** The target's own settings that shape a generation's resources (machine type, network, ...): see beginChangeover. */
    shape?: string;
}

/** The parts of a spec that a running generation embodies: changing any of them must build a new generation. */
export function generationShape(spec: StatelessApiSpec): string {
    const { name, port, healthCheck, capacity, certificate, credentials } = spec;
    return JSON.stringify({ name, port, healthCheck, capacity, certificate, credentials });
}

export function epochFor(policy: RepavePolicy, ctx: Pick<GenerationContext, "deployId" | "now">): { epoch: string; reason: string } {
    switch (policy.policy) {
        case "every-deploy":
            return { epoch: `deploy:${ctx.deployId}`, reason: "every deploy builds a new generation" };
        case "max-age": {
            const span = durationMs(policy.maxAge);
            const bucket = Math.floor(ctx.now.getTime() / span) * span;
            return { epoch: `since:${new Date(bucket).toISOString()}`, reason: `generations live at most ${policy.maxAge}` };
        }
        case "pinned":
            return { epoch: "pinned", reason: "pinned: a new generation only for a new image or spec" };
    }
}

export function generationIdentity(spec: StatelessApiSpec, ctx: GenerationContext): GenerationIdentity {
    const { epoch, reason } = epochFor(spec.repave, ctx);
    const parts = [spec.name, ctx.imageId, generationShape(spec), epoch];
    // Appended only when set, so an id without them is the one earlier releases derived (no needless repave).
    if (ctx.shape !== undefined) parts.push(`shape:${ctx.shape}`);
    if (ctx.scope !== undefined) parts.push(`scope:${ctx.scope}`);
    const digest = createHash("sha256").update(parts.join("\n")).digest("hex");
    return { id: `g${digest.slice(0, 6)}`, epoch, reason };
}

/**
 * The stack's mark in physical names: 6 hex of the project, stack and API. Cloud names are per account or project,
 * not per stack, so a staging and a production stack of one spec need it; the API is in it too, so a name cut to a
 * resource's length limit still names one API.
 */
export function stackScope(project: string, stack: string, api: string): string {
    return createHash("sha256").update(`${project}\n${stack}\n${api}`).digest("hex").slice(0, 6);
}

/**
 * `<api>-<tail>` within `max` characters: the API part is cut (never the tail, which holds the scope and the
 * generation) and loses a trailing '-', so the name still ends and starts as every cloud's rules ask.
 */
export function fitName(api: string, tail: string, max: number): string {
    const room = max - tail.length - 1;
    if (room < 1) throw new Error(`name: "${tail}" leaves no room for the API name within ${max} characters`);
    return `${api.slice(0, room).replace(/-+$/, "")}-${tail}`;
}

/** Physical name of a generation-scoped resource: `<api>-<generation>[-<suffix>]`. */
export function generationName(api: string, generation: string, suffix?: string): string {
    return suffix ? `${api}-${generation}-${suffix}` : `${api}-${generation}`;
}

/** A deploy id for this run: REPAVE_DEPLOY_ID when a driver or CD system sets one, else the time. */
export function currentDeployId(env: NodeJS.ProcessEnv = process.env, now = new Date()): string {
    return env["REPAVE_DEPLOY_ID"] || now.toISOString();
}

/** Age in whole seconds between an ISO time and now, for status reports and policy checks. */
export function ageSeconds(iso: string, now = new Date()): number {
    return Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
}
