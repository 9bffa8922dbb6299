// `repave recover`: the one step after an interrupted run (a killed CD job, a SIGKILL, a lost machine). It clears
// the stale lock, drops pending creates the engine cannot know the outcome of, and stops the processes such
// creates may have left behind (local target), so the next `repave run` converges with no outage: traffic never
// moved to anything that had not passed its gate, and the live generation is still in state.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { reapGenerations } from "../components/local/changeover.ts";

export interface RecoverReport {
    lockCleared: boolean;
    pendingOperations: number;
    reapedGenerations: string[];
}

export async function recover(stack: Stack): Promise<RecoverReport> {
    let lockCleared = false;
    try {
        await stack.cancel();
        lockCleared = true;
    } catch {
        // no update in progress: nothing to cancel
    }
    const before = await stack.exportStack();
    const pendingOperations = ((before.deployment as { pending_operations?: unknown[] }).pending_operations ?? []).length;
    if (pendingOperations > 0) {
        await stack.refresh({ clearPendingCreates: true, onOutput: () => undefined });
    }
    const state = (await stack.exportStack()).deployment as {
        resources?: Array<{ type: string; outputs?: Record<string, unknown> }>;
    };
    const resources = state.resources ?? [];
    const known = new Set(
        resources.filter((r) => r.type === "pulumi-nodejs:dynamic/local:Generation").map((r) => String(r.outputs?.["generation"])),
    );
    const stateDirs = new Set(
        resources.filter((r) => r.type === "pulumi-nodejs:dynamic/local:FrontDoor").map((r) => String(r.outputs?.["stateDir"])),
    );
    const reapedGenerations: string[] = [];
    for (const dir of stateDirs) {
        reapedGenerations.push(...(await reapGenerations(dir, (generation) => !known.has(generation))));
    }
    return { lockCleared, pendingOperations, reapedGenerations };
}
