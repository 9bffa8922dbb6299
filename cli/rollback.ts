// `repave rollback`. Inside the keep-warm window a bad generation is rolled back automatically: the bake probes
// switch production back to the still-running previous generation and fail the update. After the window the
// previous generation is gone (shape (a), see README), so a rollback is a new generation of the previous image:
// built, gated and switched like any repave, with fresh certificate and credential - never a shortcut past the gate.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { AuditLog } from "./audit.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { liveFacts, type ApiFacts } from "./facts.ts";
import { run, type RunOptions, type RunOutcome } from "./run.ts";

export interface RollbackTarget {
    api: string;
    from: string;
    to: string;
    /** What the program pins (REPAVE_IMAGE_PINS): the previous image's id and version, or a local build's version. */
    pin: { id: string; version: string } | string;
}

/**
 * What each API would roll back to: the image its ledger recorded before the current one (AMI id, image self-link,
 * digest reference, local build), or - on a local stack deployed before the ledger - the version its switch
 * recorded. `apis` chooses (`--api`, repeatable); an API it names that the stack does not serve is refused.
 */
export function rollbackTargetsOf(facts: ApiFacts[], apis: string[] = []): RollbackTarget[] {
    const unknown = apis.filter((a) => !facts.some((f) => f.api === a));
    if (unknown.length > 0) {
        throw new DriverError(`--api: ${unknown.join(", ")} not served by this stack (it serves ${facts.map((f) => f.api).join(", ") || "nothing"})`, exitCodes.notFound);
    }
    return facts
        .filter((f) => apis.length === 0 || apis.includes(f.api))
        .flatMap((f): RollbackTarget[] => {
            const previous = f.previousImage;
            if (previous && previous.id && previous.id !== f.imageHash) return [{ api: f.api, from: f.imageVersion, to: previous.version, pin: previous }];
            if (previous === undefined && f.previousImageVersion && f.previousImageVersion !== f.imageVersion) {
                return [{ api: f.api, from: f.imageVersion, to: f.previousImageVersion, pin: f.previousImageVersion }];
            }
            return [];
        });
}

export async function rollbackTargets(stack: Stack, apis: string[] = []): Promise<RollbackTarget[]> {
    return rollbackTargetsOf(await liveFacts(stack), apis);
}

/** `reopen` gives a handle on the same stack whose program sees REPAVE_IMAGE_PINS. */
export async function rollback(
    targets: RollbackTarget[],
    reopen: (env: Record<string, string>) => Promise<Stack>,
    audit: AuditLog,
    options: RunOptions = {},
): Promise<RunOutcome> {
    const pins = Object.fromEntries(targets.map((t) => [t.api, t.pin]));
    for (const t of targets) audit.write("rollback", "started", { api: t.api, details: { image: { from: t.from, to: t.to } } });
    const stack = await reopen({ REPAVE_IMAGE_PINS: JSON.stringify(pins) });
    try {
        const outcome = await run(stack, audit, options);
        for (const t of targets) audit.write("rollback", "succeeded", { api: t.api, generation: outcome.after.find((f) => f.api === t.api)?.generation ?? null, details: { image: t.to } });
        return outcome;
    } catch (err) {
        for (const t of targets) audit.write("rollback", "failed", { api: t.api, details: { error: (err as Error).message } });
        throw err;
    }
}
