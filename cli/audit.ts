// Audit events: one JSON line per driver step, in a versioned schema a SIEM can ingest (docs/audit-events.md,
// docs/audit-event.schema.json generated from the zod schema below). Events carry facts - generation ids, image
// ids, serials, outcomes, durations in seconds - and the ids that tie them together: the run, the correlation id
// of the CD run, the commit, the tool and the Pulumi update version. Never a secret value: every line passes a
// tripwire for everything repave mints (credentials, the admin token, keys, JWTs) before a byte is written.
import { appendFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { userInfo } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { secretsIn } from "../policy/model.ts";
import { packageRoot } from "./engine.ts";

// The tripwire's patterns are the policy pack's too ("secrets are secret"): one definition in policy/model.ts.
export { secretPatterns, secretsIn } from "../policy/model.ts";

export const auditSteps = ["plan", "run.start", "run.skip", "run.update", "run.changeover", "status", "rollback", "recover", "command"] as const;
export const auditOutcomes = ["started", "succeeded", "failed", "skipped", "ok", "attention"] as const;

export const auditEventSchema = z.strictObject({
    schema: z.literal("repave.audit/v2"),
    time: z.iso.datetime(),
    /** One id per `repave` invocation: every event of that invocation carries it. */
    runId: z.uuid(),
    /** Ties the driver's runs to the CD run that made them: REPAVE_CORRELATION_ID, else the CI's run id, else runId. */
    correlationId: z.string().min(1),
    /** The fleet run (`repave run --stacks ...`) this stack's run belongs to: one id across all its stacks. Absent outside a fleet. */
    fleetRunId: z.uuid().optional(),
    tool: z.strictObject({ name: z.literal("repave"), version: z.string().min(1) }),
    actor: z.string().min(1),
    /** The commit being deployed when the CI says so (GITHUB_SHA, CI_COMMIT_SHA), else null. */
    commit: z.string().nullable(),
    command: z.enum(["plan", "run", "status", "rollback", "recover", "engine"]),
    stack: z.string().min(1),
    api: z.string().nullable(),
    generation: z.string().nullable(),
    step: z.enum(auditSteps),
    outcome: z.enum(auditOutcomes),
    /** How long the step took, in seconds; null for instantaneous records. */
    durationSeconds: z.number().min(0).nullable(),
    /** The Pulumi update version the step produced (run.update), else null. */
    updateVersion: z.number().int().nullable(),
    /** The driver's exit code, on failures. */
    exitCode: z.number().int().nullable(),
    details: z.record(z.string(), z.unknown()),
});

export type AuditEvent = z.infer<typeof auditEventSchema>;
export type AuditCommand = AuditEvent["command"];

export function actor(env: NodeJS.ProcessEnv = process.env): string {
    return env["REPAVE_ACTOR"] ?? env["GITHUB_ACTOR"] ?? env["GITLAB_USER_LOGIN"] ?? env["USER"] ?? userInfo().username;
}

function toolVersion(): string {
    try {
        return (createRequire(join(packageRoot, "package.json"))("./package.json") as { version: string }).version;
    } catch {
        return "unknown";
    }
}

export interface AuditFields {
    api?: string | null;
    generation?: string | null;
    durationSeconds?: number | null;
    updateVersion?: number | null;
    exitCode?: number | null;
    details?: Record<string, unknown>;
}

export class AuditLog {
    private readonly file: string | undefined;
    private readonly stack: string;
    private readonly command: AuditCommand;
    private readonly base: Pick<AuditEvent, "runId" | "correlationId" | "fleetRunId" | "tool" | "actor" | "commit">;
    readonly events: AuditEvent[] = [];

    constructor(stack: string, command: AuditCommand, file?: string, env: NodeJS.ProcessEnv = process.env, fleetRunId?: string) {
        this.stack = stack;
        this.command = command;
        this.file = file;
        const runId = randomUUID();
        const ciRun = env["GITHUB_RUN_ID"] ? `github:${env["GITHUB_RUN_ID"]}/${env["GITHUB_RUN_ATTEMPT"] ?? "1"}` : env["CI_PIPELINE_ID"] ? `gitlab:${env["CI_PIPELINE_ID"]}` : undefined;
        this.base = {
            runId,
            correlationId: env["REPAVE_CORRELATION_ID"] ?? ciRun ?? runId,
            ...(fleetRunId ? { fleetRunId } : {}),
            tool: { name: "repave", version: toolVersion() },
            actor: actor(env),
            commit: env["GITHUB_SHA"] ?? env["CI_COMMIT_SHA"] ?? null,
        };
    }

    /**
     * Writes one event. The tripwire runs before anything is written; when it trips, the event is still written
     * - with its details withheld and the kinds of secret named - and the step keeps its outcome: a successful
     * deploy is not turned into a failure (and a pipeline's recovery) by a reporting bug, but the bug is loud.
     */
    write(step: AuditEvent["step"], outcome: AuditEvent["outcome"], fields: AuditFields = {}): void {
        let event = auditEventSchema.parse({
            schema: "repave.audit/v2",
            time: new Date().toISOString(),
            ...this.base,
            command: this.command,
            stack: this.stack,
            api: fields.api ?? null,
            generation: fields.generation ?? null,
            step,
            outcome,
            durationSeconds: fields.durationSeconds === undefined || fields.durationSeconds === null ? null : Math.round(fields.durationSeconds * 1000) / 1000,
            updateVersion: fields.updateVersion ?? null,
            exitCode: fields.exitCode ?? null,
            details: fields.details ?? {},
        });
        const found = secretsIn(JSON.stringify(event));
        if (found.length > 0) {
            process.stderr.write(`repave: audit tripwire: the ${step} event looked like it held ${found.join(", ")}; its details were withheld. Please report this.\n`);
            event = { ...event, details: { withheld: `looked like ${found.join(", ")}` } };
            if (secretsIn(JSON.stringify(event)).length > 0) event = { ...event, api: null, generation: null };
        }
        const line = JSON.stringify(event);
        this.events.push(event);
        if (this.file) appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
        else process.stderr.write(`${line}\n`); // stdout is for data (plan, status)
    }
}
