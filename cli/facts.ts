// What is serving now, per API, read from the stack's own outputs: the facts status, plan and run decide on.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { ageSeconds } from "../components/generation.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { pulumiJson } from "./workspace.ts";

export interface ApiFacts {
    api: string;
    url: string;
    generation: string;
    previousGeneration: string | null;
    previousImageVersion: string | null;
    /** The image served before the current one (components/image-ledger.ts), on every target; absent on stacks deployed before it. */
    previousImage?: { id: string; version: string } | null;
    imageVersion: string;
    imageHash: string;
    imageCreatedAt: string;
    certSerial: string;
    certNotAfter: string;
    credentialCreatedAt: string;
    generationCreatedAt: string;
}

export interface Ages {
    generationAge: number;
    imageAge: number;
    credentialAge: number;
    certRemaining: number;
}

export async function liveFacts(stack: Stack): Promise<ApiFacts[]> {
    let endpoints: Record<string, Omit<ApiFacts, "api">>;
    try {
        endpoints = (await pulumiJson<Record<string, Omit<ApiFacts, "api">> | null>(stack, ["stack", "output", "endpoints"])) ?? {};
    } catch (err) {
        // Only "no such output" means never deployed. Anything else - a backend, auth or decryption error - is
        // not "nothing serves": `--if-older-than` must not repave on it, `status` must not say all is well.
        const text = `${(err as { stderr?: string }).stderr ?? ""} ${(err as Error).message}`;
        if (!/does not have output property|no output named|current stack does not have/i.test(text)) {
            throw new DriverError(`reading what ${stack.name} serves failed: ${text.trim().split("\n").find((l) => /error/i.test(l)) ?? text.trim().slice(0, 300)}`, exitCodes.failed);
        }
        endpoints = {};
    }
    return Object.entries(endpoints).map(([api, facts]) => ({ api, ...facts }));
}

/** Seconds since `iso`; NaN ("unknown") when the stack reports no date or one that does not parse. */
const age = (iso: string | null | undefined, now: Date) => (iso && Number.isFinite(Date.parse(iso)) ? ageSeconds(iso, now) : Number.NaN);

export function agesOf(f: ApiFacts, now = new Date()): Ages {
    return {
        generationAge: age(f.generationCreatedAt, now),
        imageAge: age(f.imageCreatedAt, now),
        credentialAge: age(f.credentialCreatedAt, now),
        // null or unparsable: NaN ("unknown"), never the epoch (which reads as long expired).
        certRemaining: f.certNotAfter ? Math.round((Date.parse(f.certNotAfter) - now.getTime()) / 1000) : Number.NaN,
    };
}

export function humanDuration(seconds: number): string {
    const s = Math.abs(seconds);
    const text = s >= 86_400 ? `${(s / 86_400).toFixed(1)}d` : s >= 3_600 ? `${(s / 3_600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${s}s`;
    return seconds < 0 ? `-${text}` : text;
}
