// What is serving now, per API, read from the stack's own outputs: the facts status, plan and run decide on.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { ageSeconds } from "../components/generation.ts";
import { pulumiJson } from "./workspace.ts";

export interface ApiFacts {
    api: string;
    url: string;
    generation: string;
    previousGeneration: string | null;
    previousImageVersion: string | null;
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
    } catch {
        endpoints = {}; // a stack that never deployed has no such output
    }
    return Object.entries(endpoints).map(([api, facts]) => ({ api, ...facts }));
}

export function agesOf(f: ApiFacts, now = new Date()): Ages {
    return {
        generationAge: ageSeconds(f.generationCreatedAt, now),
        imageAge: ageSeconds(f.imageCreatedAt, now),
        credentialAge: ageSeconds(f.credentialCreatedAt, now),
        certRemaining: Math.round((new Date(f.certNotAfter).getTime() - now.getTime()) / 1000),
    };
}

export function humanDuration(seconds: number): string {
    const s = Math.abs(seconds);
    const text = s >= 86_400 ? `${(s / 86_400).toFixed(1)}d` : s >= 3_600 ? `${(s / 3_600).toFixed(1)}h` : s >= 60 ? `${Math.round(s / 60)}m` : `${s}s`;
    return seconds < 0 ? `-${text}` : text;
}
