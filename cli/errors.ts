// What went wrong, as a type and an exit code a pipeline can branch on - decided from the Automation API's typed
// errors and from the messages repave's own gate writes, never from a guess at an arbitrary provider's text.
import { CommandError, ConcurrentUpdateError, StackNotFoundError } from "@pulumi/pulumi/automation/index.js";

export const exitCodes = {
    ok: 0,
    failed: 1,
    repavePending: 2,
    attention: 3,
    locked: 4,
    notFound: 5,
    gateFailed: 6,
    policyViolation: 7,
    /** The deploy would replace or delete part of an existing front door (`plan`; `run` refuses without --allow-front-door-change). */
    frontDoorChange: 8,
    usage: 64,
    cancelled: 130,
} as const;

/**
 * An error the driver explains in one line, with the exit code that says which kind it is - and, when the engine
 * said more than that line (a resource's multi-line error: a process's log, a hint), that text as `detail`, which
 * the command prints below the line (audit events keep the line only).
 */
export class DriverError extends Error {
    readonly exitCode: number;
    readonly detail: string | undefined;
    constructor(message: string, exitCode: number, detail?: string) {
        super(message);
        this.exitCode = exitCode;
        this.detail = detail;
    }
}

/** The error's text as the CLI wrote it (a CommandError carries stderr and stdout). */
function cliText(err: unknown): string {
    if (err instanceof CommandError) {
        const r = (err as unknown as { commandResult?: { stderr?: string; stdout?: string } }).commandResult;
        return `${r?.stderr ?? ""}\n${r?.stdout ?? ""}\n${err.message}`;
    }
    return String((err as Error)?.message ?? err);
}

/** The message of the first `error:` line the CLI printed. */
const firstErrorMessage = (text: string): string | undefined => /error: (.*)/.exec(text)?.[1];

/** The first `error:` line the CLI printed, or the first line of the message: what a person needs first. */
function firstError(text: string): string {
    return (firstErrorMessage(text) ?? text.split("\n").find((l) => l.trim()) ?? "the update failed").slice(0, 500);
}

/**
 * The rest of the error `firstError` reports, from the engine's Diagnostics section, where each message is printed
 * whole (progress lines show only its first line): the lines after it that keep its indentation (the engine indents
 * a multi-line message under its resource, blank lines inside it too), at most 40. None without a Diagnostics
 * section, or for an error at the margin, whose message cannot be told from what follows it.
 */
export function errorDetail(text: string): string | undefined {
    const first = firstErrorMessage(text);
    const lines = text.split("\n");
    const from = lines.findIndex((l) => /^Diagnostics:/.test(l.trim()));
    // The same error as the one line above the detail: never another resource's.
    const at = first === undefined || from < 0 ? -1 : lines.findIndex((l, i) => i > from && l.trimEnd().endsWith(`error: ${first.trimEnd()}`));
    if (at < 0) return undefined;
    const indentOf = (line: string) => /^\s*/.exec(line)![0].length;
    const indent = indentOf(lines[at]!);
    const rest: string[] = [];
    for (const line of lines.slice(at + 1, at + 41)) {
        if (indent === 0 || (line.trim() && indentOf(line) < indent)) break;
        rest.push(line.slice(indent));
    }
    while (rest.length > 0 && !rest.at(-1)!.trim()) rest.pop();
    return rest.length > 0 ? rest.join("\n") : undefined;
}

/** Classifies a failed engine operation (`up`, `preview`, `selectStack`, `cancel`). */
export function classify(err: unknown, doing: string): DriverError {
    if (err instanceof DriverError) return err;
    const text = cliText(err);
    if (err instanceof ConcurrentUpdateError) {
        return new DriverError(`${doing}: the stack is locked by another update (or a killed one): wait for it, or run \`repave recover\` once it is dead`, exitCodes.locked);
    }
    if (err instanceof StackNotFoundError) return new DriverError(`${doing}: the stack does not exist in this backend`, exitCodes.notFound);
    // repave's own gates write these (components/local/changeover.ts, components/gate.ts, components/scan.ts).
    const gate = /((?:image )?gate(?: [A-Z]+)?: .*)/.exec(text);
    if (gate && /gate: candidate .* failed|image gate: |gate FAILED/.test(text)) {
        return new DriverError(`${doing}: the candidate failed its gate; traffic stays on the live generation. ${gate[1]!.slice(0, 400)}`, exitCodes.gateFailed);
    }
    if (/Policy Violations?:|\[mandatory\]/.test(text)) {
        const rule = /\[mandatory\]\s+(\S+)/.exec(text)?.[1];
        return new DriverError(`${doing}: refused by the policy pack${rule ? ` (${rule})` : ""}; nothing was changed`, exitCodes.policyViolation);
    }
    return new DriverError(`${doing}: ${firstError(text)}`, exitCodes.failed, errorDetail(text));
}
