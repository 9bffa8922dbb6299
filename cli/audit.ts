// Audit events: one JSON line per driver step, in a schema a SIEM can ingest (docs/audit-events.md). Events carry
// facts (generation ids, image ids, serials, outcomes), never secret values: `write` refuses a line that looks
// like a key or a credential, whatever put it there.
import { appendFileSync } from "node:fs";
import { userInfo } from "node:os";
import { z } from "zod";

export const auditEventSchema = z.strictObject({
    schema: z.literal("repave.audit/v1"),
    time: z.iso.datetime(),
    actor: z.string().min(1),
    stack: z.string().min(1),
    api: z.string().nullable(),
    generation: z.string().nullable(),
    step: z.enum(["plan", "run.start", "run.skip", "run.update", "run.changeover", "status", "rollback", "recover"]),
    outcome: z.enum(["started", "succeeded", "failed", "skipped", "ok", "attention"]),
    details: z.record(z.string(), z.unknown()),
});

export type AuditEvent = z.infer<typeof auditEventSchema>;

/** Patterns no audit line may contain: PEM blocks, bearer tokens, long opaque tokens, ciphertext envelopes. */
const secretPatterns = [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, /Bearer [A-Za-z0-9._~+/-]{16,}/, /"ciphertext"/, /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/];

export function actor(env: NodeJS.ProcessEnv = process.env): string {
    return env["REPAVE_ACTOR"] ?? env["GITHUB_ACTOR"] ?? env["GITLAB_USER_LOGIN"] ?? env["USER"] ?? userInfo().username;
}

export class AuditLog {
    private readonly file: string | undefined;
    private readonly stack: string;
    private readonly who: string;
    readonly events: AuditEvent[] = [];

    constructor(stack: string, file?: string) {
        this.stack = stack;
        this.file = file;
        this.who = actor();
    }

    write(step: AuditEvent["step"], outcome: AuditEvent["outcome"], fields: { api?: string | null; generation?: string | null; details?: Record<string, unknown> } = {}): void {
        const event = auditEventSchema.parse({
            schema: "repave.audit/v1",
            time: new Date().toISOString(),
            actor: this.who,
            stack: this.stack,
            api: fields.api ?? null,
            generation: fields.generation ?? null,
            step,
            outcome,
            details: fields.details ?? {},
        });
        const line = JSON.stringify(event);
        const leak = secretPatterns.find((p) => p.test(line));
        if (leak) throw new Error(`audit: refusing to write an event that looks like it holds a secret (${leak.source}) at step ${step}`);
        this.events.push(event);
        if (this.file) appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
        else process.stderr.write(`${line}\n`); // stdout is for data (plan, status)
    }
}
