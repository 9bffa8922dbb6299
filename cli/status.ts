// `repave status`: how old is everything that serves, against policy. Non-zero exit when anything is past it,
// so a scheduler or an alert can run it as is.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { classify } from "./errors.ts";
import { agesOf, humanDuration, type ApiFacts } from "./facts.ts";

export interface StatusPolicy {
    maxGenerationAge: number;
    maxImageAge: number;
    minCertValidity: number;
}

export interface ApiStatus {
    api: string;
    url: string;
    generation: string;
    imageVersion: string;
    generationAge: string;
    imageAge: string;
    credentialAge: string;
    certSerial: string;
    certExpiresIn: string;
    /** The same ages in seconds (null: unknown), for machines: status --format json and the audit events. */
    seconds: { generationAge: number | null; imageAge: number | null; credentialAge: number | null; certRemaining: number | null };
    problems: string[];
}

const known = (n: number) => (Number.isFinite(n) ? n : null);
/** A fact that is not known (a null expiry, an unparsable date) reads "unknown" and needs attention, never the epoch. */
const show = (n: number) => (Number.isFinite(n) ? humanDuration(n) : "unknown");

/**
 * `status --refresh`: what a refresh would change, by op (e.g. `{ update: 1, delete: 1 }`), from a preview-only
 * refresh - the state is not written. Empty: the resources are as the last deploy left them.
 */
export async function driftOf(stack: Stack, signal?: AbortSignal): Promise<Record<string, number>> {
    let changes: Record<string, number> = {};
    await stack
        .refresh({ previewOnly: true, signal, onOutput: () => undefined, onEvent: (e) => void (e.summaryEvent && (changes = e.summaryEvent.resourceChanges ?? {})) })
        .catch((err: unknown) => {
            throw classify(err, "repave status --refresh");
        });
    return Object.fromEntries(Object.entries(changes).filter(([op, n]) => op !== "same" && n > 0));
}

export function statusOf(facts: ApiFacts[], policy: StatusPolicy, now = new Date(), drift: Record<string, number> = {}): ApiStatus[] {
    const drifted = Object.entries(drift).map(([op, n]) => `${n} ${op}`);
    return facts.map((f) => {
        const a = agesOf(f, now);
        const problems: string[] = [];
        // The facts are what the last deploy recorded; resources changed since then make them unreliable.
        if (drifted.length > 0) problems.push(`the stack drifted since its last deploy (refresh: ${drifted.join(", ")}): see repave plan --refresh`);
        for (const [what, value] of [["generation age", a.generationAge], ["image age", a.imageAge], ["credential age", a.credentialAge], ["certificate expiry", a.certRemaining]] as const) {
            if (!Number.isFinite(value)) problems.push(`${what} unknown: the stack does not report it`);
        }
        if (a.generationAge > policy.maxGenerationAge) problems.push(`generation is ${humanDuration(a.generationAge)} old (max ${humanDuration(policy.maxGenerationAge)}): repave`);
        if (a.credentialAge > policy.maxGenerationAge) problems.push(`credential is ${humanDuration(a.credentialAge)} old (max ${humanDuration(policy.maxGenerationAge)}): rotate`);
        if (a.imageAge > policy.maxImageAge) problems.push(`image ${f.imageVersion} is ${humanDuration(a.imageAge)} old (max ${humanDuration(policy.maxImageAge)}): publish a patched build`);
        if (a.certRemaining < policy.minCertValidity) problems.push(`certificate expires in ${humanDuration(a.certRemaining)} (min ${humanDuration(policy.minCertValidity)}): repave`);
        return {
            api: f.api,
            url: f.url,
            generation: f.generation,
            imageVersion: f.imageVersion,
            generationAge: show(a.generationAge),
            imageAge: show(a.imageAge),
            credentialAge: show(a.credentialAge),
            certSerial: f.certSerial,
            certExpiresIn: show(a.certRemaining),
            seconds: { generationAge: known(a.generationAge), imageAge: known(a.imageAge), credentialAge: known(a.credentialAge), certRemaining: known(a.certRemaining) },
            problems,
        };
    });
}

export function renderStatus(rows: ApiStatus[]): string {
    const head = ["api", "generation", "age", "image", "image age", "credential age", "cert expires in", "state"];
    const body = rows.map((r) => [r.api, r.generation, r.generationAge, r.imageVersion, r.imageAge, r.credentialAge, r.certExpiresIn, r.problems.length ? "ATTENTION" : "ok"]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    const problems = rows.flatMap((r) => r.problems.map((p) => `  ${r.api}: ${p}`));
    return [line(head), ...body.map(line), ...(problems.length ? ["", "past policy:", ...problems] : [])].join("\n");
}
