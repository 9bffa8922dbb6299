// `repave run` shows the changeover as it happens - candidate, health, gate, switch and bake, retire - with the
// time since the run began, read from the engine's own events. In a terminal the current step is one line that
// updates in place; anywhere else (CI logs) every step is a plain line of its own.
import type { EngineEvent, OpType } from "@pulumi/pulumi/automation/index.js";

export type Step = "candidate" | "gate" | "switch" | "retire";

/** The changeover step a resource operation belongs to, from the resource's role in the changeover. */
export function stepOf(type: string, urn: string, op: OpType): Step | undefined {
    const name = urn.split("::").pop() ?? "";
    const role = /(?:^|[-:])(gate|switch|generation)$/i.exec(name)?.[1]?.toLowerCase() ?? /:(Gate|Switch|Generation)$/.exec(type)?.[1]?.toLowerCase();
    if (role === "gate") return "gate";
    if (role === "switch") return "switch";
    if (role === "generation") {
        if (op === "delete" || op === "delete-replaced" || op === "discard-replaced") return "retire";
        // `replace` is the engine's bookkeeping step between create-replacement and delete-replaced: no work.
        if (op === "create" || op === "create-replacement") return "candidate";
    }
    return undefined;
}

const started: Record<Step, string> = {
    candidate: "candidate: starting the new generation and waiting for it to be healthy",
    gate: "gate: image scan, then positive and negative probes on the test route",
    switch: "switch: production moves to the candidate; bake: production probes while the old generation stays warm",
    retire: "retire: draining and stopping the old generation",
};
const finished: Record<Step, string> = {
    candidate: "candidate: healthy",
    gate: "gate: passed",
    switch: "switch and bake: done",
    retire: "retire: old generation gone",
};

export class ChangeoverProgress {
    private readonly begin = Date.now();
    private readonly live: boolean;
    private readonly write: (text: string) => void;
    private pending = new Map<string, number>();

    constructor(write: (text: string) => void = (t) => process.stderr.write(t), live = Boolean(process.stderr.isTTY) && !process.env["CI"]) {
        this.write = write;
        this.live = live;
    }

    private line(text: string, final: boolean): void {
        const stamp = `[${((Date.now() - this.begin) / 1000).toFixed(1).padStart(5)}s]`;
        if (this.live) this.write(`\r\x1b[2K${stamp} ${text}${final ? "\n" : ""}`);
        else this.write(`${stamp} ${text}\n`);
    }

    /** Feed every engine event of the update here (the Automation API's `onEvent`). */
    readonly onEvent = (event: EngineEvent): void => {
        const pre = event.resourcePreEvent;
        const done = event.resOutputsEvent;
        const failed = event.resOpFailedEvent;
        const meta = pre?.metadata ?? done?.metadata ?? failed?.metadata;
        if (!meta || pre?.planning || done?.planning) return;
        const step = stepOf(meta.type, meta.urn, meta.op);
        if (!step) return;
        const api = (meta.urn.split("::").pop() ?? "").replace(/-(gate|switch|generation)$/i, "");
        const key = `${meta.urn}/${meta.op}`;
        if (pre) {
            this.pending.set(key, Date.now());
            this.line(`${api}: ${started[step]}...`, false);
        } else {
            const took = this.pending.has(key) ? ` (${((Date.now() - this.pending.get(key)!) / 1000).toFixed(1)}s)` : "";
            this.pending.delete(key);
            this.line(`${api}: ${failed ? `${step}: FAILED` : finished[step]}${took}`, true);
        }
    };
}
