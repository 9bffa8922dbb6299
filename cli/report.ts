// `repave report`: one self-contained HTML page (inline CSS and SVG, no script, nothing fetched) for one or many
// stacks - per API the serving generation's image, certificate and credential age against policy (green, amber,
// red), the certificate's expiry, and a timeline of the last changeovers read from the audit events. Every figure
// is the one `repave status --format json` gives at the same instant (`--at`), and carries it in data attributes
// (data-field, data-seconds) so a test - or a script scraping the page - reads the numbers, not the layout.
import type { AuditEvent } from "./audit.ts";
import { humanDuration } from "./facts.ts";
import type { ApiStatus, StatusPolicy } from "./status.ts";

export type Level = "green" | "amber" | "red";

/** An age against its maximum: red past it (what status calls a problem), amber from 75% of it, unknown is red. */
export function ageLevel(seconds: number | null, max: number): Level {
    if (seconds === null || seconds > max) return "red";
    return seconds >= 0.75 * max ? "amber" : "green";
}

/** Certificate validity left against the minimum: red under it, amber under twice it, unknown is red. */
export function remainingLevel(seconds: number | null, min: number): Level {
    if (seconds === null || seconds < min) return "red";
    return seconds < 2 * min ? "amber" : "green";
}

/** A mark on a stack's timeline: a changeover (run.changeover) or a run that failed (run.update failed). */
export interface TimelineMark {
    kind: "changeover" | "failed";
    stack: string;
    api: string | null;
    time: string;
    from: string | null;
    to: string | null;
    image: string | null;
    /** The update's duration (its run.update event, same runId). */
    durationSeconds: number | null;
    gate: "passed" | "failed" | "not reached";
    runId: string;
}

/** The timeline marks of `stack` from audit events, oldest first: one per changeover event, one per failed update. */
export function timelineOf(events: readonly AuditEvent[], stack: string): TimelineMark[] {
    const mine = events.filter((e) => e.stack === stack);
    const update = (runId: string) => mine.find((e) => e.runId === runId && e.step === "run.update");
    const marks = mine.flatMap((e): TimelineMark[] => {
        if (e.step === "run.changeover" && e.outcome === "succeeded") {
            const d = e.details as { from?: string | null; to?: string; image?: { to?: string } };
            return [{ kind: "changeover", stack, api: e.api, time: e.time, from: d.from ?? null, to: d.to ?? e.generation, image: d.image?.to ?? null, durationSeconds: update(e.runId)?.durationSeconds ?? null, gate: "passed", runId: e.runId }];
        }
        // A refusal by a lock (4) changed nothing and a cancel (130) is no verdict on the stack: neither is drawn.
        if (e.step === "run.update" && e.outcome === "failed" && e.exitCode !== 4 && e.exitCode !== 130) {
            return [{ kind: "failed", stack, api: null, time: e.time, from: null, to: null, image: null, durationSeconds: e.durationSeconds, gate: e.exitCode === 6 ? "failed" : "not reached", runId: e.runId }];
        }
        return [];
    });
    return marks.sort((a, b) => a.time.localeCompare(b.time));
}

export interface ReportStack {
    stack: string;
    /** status rows, or null when the stack could not be read (then `error` says why). */
    rows: ApiStatus[] | null;
    error: string | null;
    marks: TimelineMark[];
}

export interface ReportInput {
    generatedAt: Date;
    policy: StatusPolicy;
    stacks: ReportStack[];
    /** The most recent marks drawn per stack (older ones are counted, not drawn). */
    lastMarks?: number;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const attr = (value: string | number | null) => `"${escapeHtml(value === null ? "" : String(value))}"`;

const css = `
:root { --green: #1a7f37; --amber: #9a6700; --red: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } .muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.level { display: inline-block; min-width: 4.5em; padding: 1px 8px; border-radius: 10px; font-weight: 600; color: #fff; text-align: center; }
.green { background: var(--green); } .amber { background: var(--amber); } .red { background: var(--red); }
.legend span { margin-right: 14px; } .error { color: var(--red); font-weight: 600; }
svg.timeline { width: 100%; height: 64px; display: block; }
svg .axis { stroke: var(--line); stroke-width: 2; } svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .changeover { fill: var(--green); } svg .failed { fill: var(--red); }
.problems { color: var(--red); margin: 0; padding-left: 18px; }
`;

function level(field: string, text: string, seconds: number | null, lvl: Level): string {
    return `<td data-field=${attr(field)} data-seconds=${attr(seconds)} data-level=${attr(lvl)}><span class="level ${lvl}">${escapeHtml(text)}</span></td>`;
}

function apiRow(stack: string, r: ApiStatus, policy: StatusPolicy): string {
    return [
        `<tr class="api" data-stack=${attr(stack)} data-api=${attr(r.api)} data-state=${attr(r.problems.length ? "attention" : "ok")}>`,
        `<td data-field="api"><b>${escapeHtml(r.api)}</b><br><code class="muted">${escapeHtml(r.url)}</code></td>`,
        `<td data-field="generation"><code>${escapeHtml(r.generation)}</code></td>`,
        level("generationAge", r.generationAge, r.seconds.generationAge, ageLevel(r.seconds.generationAge, policy.maxGenerationAge)),
        `<td data-field="imageVersion"><code>${escapeHtml(r.imageVersion)}</code></td>`,
        level("imageAge", r.imageAge, r.seconds.imageAge, ageLevel(r.seconds.imageAge, policy.maxImageAge)),
        `<td data-field="certSerial"><code>${escapeHtml(r.certSerial)}</code></td>`,
        level("certExpiresIn", r.certExpiresIn, r.seconds.certRemaining, remainingLevel(r.seconds.certRemaining, policy.minCertValidity)),
        level("credentialAge", r.credentialAge, r.seconds.credentialAge, ageLevel(r.seconds.credentialAge, policy.maxGenerationAge)),
        `</tr>`,
        r.problems.length ? `<tr class="problems-row"><td colspan="8"><ul class="problems">${r.problems.map((p) => `<li data-field="problem">${escapeHtml(p)}</li>`).join("")}</ul></td></tr>` : "",
    ].join("");
}

/** The stack's timeline: one SVG mark per changeover (green dot) and failed update (red diamond), by time. */
function timeline(s: ReportStack, last: number): string {
    const marks = s.marks.slice(-last);
    if (marks.length === 0) return `<p class="muted">No changeover in the audit events given (<code>--audit-file</code>).</p>`;
    // From the first mark drawn to the last: marks minutes apart stay apart however old they are; a single mark
    // sits in the middle.
    const t0 = Date.parse(marks[0]!.time);
    const t1 = Date.parse(marks[marks.length - 1]!.time);
    const span = t1 - t0;
    const x = (time: string) => (span > 0 ? 20 + ((Date.parse(time) - t0) / span) * 1060 : 550).toFixed(1);
    const label = (m: TimelineMark) =>
        m.kind === "changeover"
            ? `${m.time} ${m.api}: ${m.from ?? "(first)"} → ${m.to}${m.image ? ` (image ${m.image})` : ""}, ${m.durationSeconds === null ? "duration unknown" : `${m.durationSeconds}s`}, gate ${m.gate}`
            : `${m.time} update failed after ${m.durationSeconds ?? "?"}s, gate ${m.gate}`;
    const drawn = marks
        .map((m) => {
            const data = `class="mark ${m.kind}" data-kind=${attr(m.kind)} data-stack=${attr(m.stack)} data-api=${attr(m.api)} data-time=${attr(m.time)} data-from=${attr(m.from)} data-to=${attr(m.to)} data-duration=${attr(m.durationSeconds)} data-gate=${attr(m.gate)}`;
            const cx = x(m.time);
            const shape = m.kind === "changeover" ? `<circle cx="${cx}" cy="24" r="6"/>` : `<path d="M${cx} 16 l8 8 l-8 8 l-8 -8 z"/>`;
            return `<g ${data}><title>${escapeHtml(label(m))}</title>${shape}</g>`;
        })
        .join("");
    const rows = [...marks]
        .reverse()
        .map((m) => `<tr><td>${escapeHtml(m.time.replace("T", " ").slice(0, 19))}</td><td>${escapeHtml(m.api ?? "—")}</td><td><code>${escapeHtml(m.kind === "changeover" ? `${m.from ?? "(first)"} → ${m.to}` : "update failed")}</code></td><td>${m.durationSeconds === null ? "—" : `${m.durationSeconds}s`}</td><td><span class="level ${m.gate === "passed" ? "green" : "red"}">${m.gate}</span></td></tr>`)
        .join("");
    const older = s.marks.length - marks.length;
    return [
        `<svg class="timeline" viewBox="0 0 1100 64" role="img" aria-label="changeovers of ${escapeHtml(s.stack)}"><line class="axis" x1="10" y1="24" x2="1090" y2="24"/>`,
        drawn,
        `<text x="10" y="56">${escapeHtml(marks[0]!.time.slice(0, 16).replace("T", " "))}</text><text x="1090" y="56" text-anchor="end">${escapeHtml(marks[marks.length - 1]!.time.slice(0, 16).replace("T", " "))}</text></svg>`,
        `<details open><summary>${marks.length} most recent mark(s)${older ? `, ${older} older not drawn` : ""}</summary><table><tr><th>when (UTC)</th><th>api</th><th>generation</th><th>took</th><th>gate</th></tr>${rows}</table></details>`,
    ].join("");
}

export function renderReport(input: ReportInput): string {
    const p = input.policy;
    const last = input.lastMarks ?? 20;
    const apis = input.stacks.flatMap((s) => s.rows ?? []);
    const attention = apis.filter((r) => r.problems.length).length;
    const sections = input.stacks.map((s) =>
        [
            `<section class="stack" data-stack=${attr(s.stack)}>`,
            `<h2>${escapeHtml(s.stack)}</h2>`,
            s.rows === null
                ? `<p class="error" data-field="error">${escapeHtml(s.error ?? "unreadable")}</p>`
                : `<table><tr><th>api</th><th>generation</th><th>generation age</th><th>image</th><th>image age</th><th>certificate</th><th>expires in</th><th>credential age</th></tr>${s.rows.map((r) => apiRow(s.stack, r, p)).join("")}</table>`,
            timeline(s, last),
            `</section>`,
        ].join("\n"),
    );
    return [
        `<!doctype html>`,
        `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`,
        // No network: nothing on this page may load anything, whatever a stack's outputs hold.
        `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
        `<title>repave freshness report</title><style>${css}</style></head>`,
        `<body data-generated-at=${attr(input.generatedAt.toISOString())}>`,
        `<h1>repave freshness report</h1>`,
        `<p class="muted">${input.stacks.length} stack(s), ${apis.length} API(s), ${attention} past policy. Ages as of ${escapeHtml(input.generatedAt.toISOString())}. ` +
            `Policy: generation and credential ≤ ${humanDuration(p.maxGenerationAge)}, image ≤ ${humanDuration(p.maxImageAge)}, certificate valid ≥ ${humanDuration(p.minCertValidity)}.</p>`,
        `<p class="legend"><span><span class="level green">green</span> within policy</span><span><span class="level amber">amber</span> ≥ 75% of the age allowed, or certificate under twice the minimum</span><span><span class="level red">red</span> past policy or unknown</span></p>`,
        ...sections,
        `</body></html>`,
    ].join("\n");
}
