// The fleet's one summary - per stack: wave, result, generation before → after, duration, gate result - as text
// for a terminal or CI log, Markdown for a PR or job summary, and JSON (the FleetSummary itself) for machines.
import type { FleetSummary, StackOutcome } from "./fleet.ts";

export type SummaryFormat = "text" | "md" | "json";

const generations = (s: StackOutcome): string =>
    s.apis.length === 0
        ? "—"
        : s.apis.map((a) => (a.before === a.after ? `${a.api} ${a.after ?? "—"}` : `${a.api} ${a.before ?? "(none)"} → ${a.after ?? "(unknown)"}`)).join(", ");

const seconds = (s: StackOutcome) => (s.durationSeconds === null ? "—" : `${s.durationSeconds.toFixed(1)}s`);

/** What needs saying beyond the result: why it failed, was skipped or needs attention. */
const note = (s: StackOutcome) => (["failed", "locked", "cancelled", "attention", "fresh", "recovered"].includes(s.result) ? s.message : "");

function counts(summary: FleetSummary): string {
    const by = new Map<string, number>();
    for (const s of summary.stacks) by.set(s.result, (by.get(s.result) ?? 0) + 1);
    return [...by].map(([result, n]) => `${n} ${result}`).join(", ");
}

function headline(summary: FleetSummary): string {
    const o = summary.options;
    const shape = summary.command === "run" ? `, ${summary.waves.length} wave(s) (canary ${o.canary}, wave size ${o.waveSize}, concurrency ${o.concurrency})` : ` (concurrency ${o.concurrency})`;
    return `fleet ${summary.command} ${summary.fleetRunId}: ${summary.stacks.length} stack(s)${shape}, ${summary.durationSeconds.toFixed(1)}s: ${counts(summary)}`;
}

function footer(summary: FleetSummary): string[] {
    if (!summary.stopped) return [];
    return [`stopped${summary.stopped.wave ? ` after wave ${summary.stopped.wave}` : ""}: ${summary.stopped.reason}; no further stack started. Left untouched: ${summary.untouched.join(", ") || "none"}`];
}

function rows(summary: FleetSummary): { head: string[]; body: string[][] } {
    const column = summary.command === "plan" ? "generation (live → next)" : summary.command === "status" || summary.command === "recover" ? "generation" : "generation (before → after)";
    const head = ["wave", "stack", "result", column, "duration", "gate", "note"];
    const body = summary.stacks.map((s) => [s.wave ? String(s.wave) : "—", s.stack, s.result, generations(s), seconds(s), s.gate, note(s)]);
    return { head, body };
}

export function renderFleetText(summary: FleetSummary): string {
    const { head, body } = rows(summary);
    const clipped = body.map((r) => r.map((c, i) => (i === r.length - 1 && c.length > 140 ? `${c.slice(0, 139)}…` : c)));
    const widths = head.map((h, i) => Math.max(h.length, ...clipped.map((b) => b[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    return [headline(summary), line(head), ...clipped.map(line), ...footer(summary)].join("\n");
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderFleetMarkdown(summary: FleetSummary): string {
    const { head, body } = rows(summary);
    return [
        `### ${cell(headline(summary))}`,
        "",
        `| ${head.join(" | ")} |`,
        `|${head.map(() => "---").join("|")}|`,
        ...body.map((r) => `| ${r.map((c, i) => (i === 1 ? `\`${cell(c)}\`` : cell(c))).join(" | ")} |`),
        ...(summary.stopped ? ["", `**${cell(footer(summary)[0]!)}**`] : []),
    ].join("\n");
}

export function renderFleet(summary: FleetSummary, format: SummaryFormat): string {
    if (format === "json") return JSON.stringify(summary, null, 2);
    return format === "md" ? renderFleetMarkdown(summary) : renderFleetText(summary);
}
