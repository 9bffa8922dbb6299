// `repave rollback`. Inside the keep-warm window a bad generation is rolled back automatically: the bake probes
// switch production back to the still-running previous generation and fail the update. After the window the
// previous generation is gone (shape (a), see README), so a rollback is a new generation of the previous image:
// built, gated and switched like any repave, with fresh certificate and credential - never a shortcut past the gate.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import type { AuditLog } from "./audit.ts";
import { liveFacts } from "./facts.ts";
import { run, type RunOptions, type RunOutcome } from "./run.ts";

export interface RollbackTarget {
    api: string;
    from: string;
    to: string;
}

export async function rollbackTargets(stack: Stack): Promise<RollbackTarget[]> {
    return (await liveFacts(stack)).flatMap((f) =>
        f.previousImageVersion && f.previousImageVersion !== f.imageVersion ? [{ api: f.api, from: f.imageVersion, to: f.previousImageVersion }] : [],
    );
}

/** `reopen` gives a handle on the same stack whose program sees REPAVE_IMAGE_PINS. */
export async function rollback(
    targets: RollbackTarget[],
    reopen: (env: Record<string, string>) => Promise<Stack>,
    audit: AuditLog,
    options: RunOptions = {},
): Promise<RunOutcome> {
    const pins = Object.fromEntries(targets.map((t) => [t.api, t.to]));
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
