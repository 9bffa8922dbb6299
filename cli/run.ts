// `repave run`: the update, with progress, audit events and, with --if-older-than, a no-op when everything
// serving is fresh enough and no newer image is waiting.
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation/index.js";
import type { AuditLog } from "./audit.ts";
import { agesOf, humanDuration, liveFacts, type ApiFacts } from "./facts.ts";
import { classify, DriverError, exitCodes } from "./errors.ts";
import { plan, type Plan } from "./plan.ts";
import { refuseWhileLocked } from "./recover.ts";

/** The run was cancelled by a signal (Ctrl-C, a CI runner's cancel) and stopped cleanly. */
export class CancelledError extends Error {}

export interface RunOptions {
    ifOlderThan?: number;
    signal?: AbortSignal;
    /** The CLI's own output (repave run --verbose). */
    onOutput?: (text: string) => void;
    /** Policy packs the update must pass (`--policy-pack`). */
    policyPacks?: string[];
    /** Engine events as they happen (the changeover's steps: cli/progress.ts). */
    onEvent?: (event: EngineEvent) => void;
    /**
     * Deploy even when the preview replaces or deletes part of an existing front door (`--allow-front-door-change`):
     * a deliberate move of an API's address, or the removal of an API.
     */
    allowFrontDoorChange?: boolean;
}

/** Each part of a front door the plan would replace or delete, as `api: op name (type)`. */
export function frontDoorChangeLines(p: Plan): string[] {
    return p.apis.flatMap((a) => a.frontDoorChanges.map((c) => `${a.api}: ${c.op} ${c.name} (${c.type})`));
}

/** The refusal of a deploy that would replace or delete part of a front door, naming each part. */
export function frontDoorRefusal(p: Plan, doing: string): DriverError | undefined {
    if (!p.frontDoorChanged) return undefined;
    return new DriverError(
        `${doing}: refused: this deploy would replace or delete part of the front door, which moves or drops the API's address or route (I4): ` +
            `${frontDoorChangeLines(p).join("; ")}. Nothing was changed. If that is intended (moving an address, removing an API), run again with --allow-front-door-change.`,
        exitCodes.frontDoorChange,
    );
}

export interface RunOutcome {
    skipped: boolean;
    reason: string;
    before: ApiFacts[];
    after: ApiFacts[];
}

/** Why an API needs a repave under --if-older-than, or undefined when it is fresh. */
export function staleness(f: ApiFacts, threshold: number, now = new Date()): string | undefined {
    const a = agesOf(f, now);
    if (a.generationAge >= threshold) return `generation ${f.generation} is ${humanDuration(a.generationAge)} old`;
    if (a.credentialAge >= threshold) return `credential is ${humanDuration(a.credentialAge)} old`;
    if (a.certRemaining <= threshold) return `certificate expires in ${humanDuration(a.certRemaining)}`;
    return undefined;
}

export async function run(stack: Stack, audit: AuditLog, options: RunOptions = {}): Promise<RunOutcome> {
    await refuseWhileLocked(stack, "repave run");
    const before = await liveFacts(stack);
    // One preview serves both checks: the front door's and --if-older-than's newer image. It is skipped only when
    // neither asks for it (a first deploy has no front door to lose; --allow-front-door-change).
    let previewed: Plan | undefined;
    const preview = async () => (previewed ??= await plan(stack, options.signal, options.policyPacks));
    if (!options.allowFrontDoorChange && before.length > 0) {
        const refusal = frontDoorRefusal(await preview(), "repave run");
        if (refusal) {
            audit.write("run.start", "failed", { exitCode: refusal.exitCode, details: { error: refusal.message, frontDoorChanges: previewed!.apis.flatMap((a) => a.frontDoorChanges.map((c) => ({ api: a.api, ...c }))) } });
            throw refusal;
        }
    }
    if (options.ifOlderThan !== undefined && before.length > 0) {
        const stale = before.flatMap((f) => {
            const why = staleness(f, options.ifOlderThan!);
            return why ? [`${f.api}: ${why}`] : [];
        });
        if (stale.length === 0) {
            // Fresh by age; a newer patched image still repaves (Repair fast), so ask the engine.
            const newImages = (await preview()).apis.filter((a) => a.image.changed).map((a) => `${a.api}: new image ${a.image.to}`);
            if (newImages.length === 0) {
                const reason = `everything is younger than ${humanDuration(options.ifOlderThan)} and on the newest image`;
                for (const f of before) audit.write("run.skip", "skipped", { api: f.api, generation: f.generation, details: { reason } });
                return { skipped: true, reason, before, after: before };
            }
            stale.push(...newImages);
        }
        audit.write("run.start", "started", { details: { reasons: stale } });
    } else {
        audit.write("run.start", "started", { details: { reasons: ["every run repaves"] } });
    }
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    let updateVersion: number | null = null;
    try {
        const result = await stack.up({ onOutput: options.onOutput, onEvent: options.onEvent, signal: options.signal, ...(options.policyPacks?.length ? { policyPacks: options.policyPacks } : {}) });
        updateVersion = result.summary.version ?? null;
    } catch (err) {
        if (options.signal?.aborted) {
            const summary = "cancelled: the engine stopped at a safe point; traffic stays on the generation that served before";
            audit.write("run.update", "failed", { durationSeconds: seconds(), exitCode: 130, details: { error: summary } });
            throw new CancelledError(summary);
        }
        const failure = classify(err, "repave run");
        audit.write("run.update", "failed", { durationSeconds: seconds(), exitCode: failure.exitCode, details: { error: failure.message } });
        throw failure;
    }
    const after = await liveFacts(stack);
    audit.write("run.update", "succeeded", { durationSeconds: seconds(), updateVersion, details: {} });
    for (const f of after) {
        const prior = before.find((b) => b.api === f.api);
        audit.write("run.changeover", "succeeded", {
            api: f.api,
            generation: f.generation,
            details: {
                from: prior?.generation ?? null,
                to: f.generation,
                image: { from: prior?.imageVersion ?? null, to: f.imageVersion, id: f.imageHash, createdAt: f.imageCreatedAt },
                certificate: { serial: f.certSerial, notAfter: f.certNotAfter },
                credentialRotated: prior?.generation !== f.generation,
            },
        });
    }
    return { skipped: false, reason: "updated", before, after };
}
