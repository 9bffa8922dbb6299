// `repave report`: reads what each selected stack serves (the status of cli/status.ts, at `--at` or now) and the
// changeovers in the audit events, and writes the HTML page (cli/report.ts). Reading is all it does: it writes no
// audit event, so the trail it reads is only the changes.
import { writeFileSync } from "node:fs";
import { auditEventSchema, type AuditEvent } from "./audit.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { liveFacts } from "./facts.ts";
import { runFleet } from "./fleet.ts";
import { renderReport, timelineOf, type ReportStack } from "./report.ts";
import { statusOf, type ApiStatus, type StatusPolicy } from "./status.ts";
import { openStack } from "./workspace.ts";

/** The audit events in a JSONL file's text; lines that are not repave events (other tools' lines) are left out. */
export function auditEventsOf(text: string): AuditEvent[] {
    return text.split("\n").flatMap((line) => {
        if (!line.trim()) return [];
        try {
            const parsed = auditEventSchema.safeParse(JSON.parse(line));
            return parsed.success ? [parsed.data] : [];
        } catch {
            return [];
        }
    });
}

export interface ReportOptions {
    stacks: string[];
    workDir: string | undefined;
    policy: StatusPolicy;
    at: Date | undefined;
    auditText: string;
    out: string;
    concurrency: number;
}

export async function writeReport(options: ReportOptions): Promise<number> {
    const at = options.at ?? new Date();
    const events = auditEventsOf(options.auditText);
    const summary = await runFleet({
        command: "status",
        stacks: options.stacks,
        canary: 0,
        waveSize: 1,
        concurrency: options.concurrency,
        runner: async (name) => {
            const rows = statusOf(await liveFacts(await openStack(name, options.workDir)), options.policy, at);
            if (rows.length === 0) throw new DriverError(`stack ${name} serves no API yet (hint: repave run)`, exitCodes.failed);
            return { result: rows.some((r) => r.problems.length) ? "attention" : "ok", apis: [], gate: "n/a", message: "", data: rows };
        },
    });
    const stacks: ReportStack[] = summary.stacks.map((s) => ({
        stack: s.stack,
        rows: s.result === "failed" ? null : ((s.data as ApiStatus[] | undefined) ?? null),
        error: s.result === "failed" ? s.message : null,
        marks: timelineOf(events, s.stack),
    }));
    writeFileSync(options.out, renderReport({ generatedAt: at, policy: options.policy, stacks }));
    const failed = summary.stacks.find((s) => s.result === "failed");
    console.error(`repave: report for ${stacks.length} stack(s) written to ${options.out}${failed ? ` (${failed.stack} could not be read: ${failed.message})` : ""}`);
    return failed ? failed.exitCode : exitCodes.ok;
}
