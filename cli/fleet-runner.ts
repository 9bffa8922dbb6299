// The single-stack runner behind a fleet (cli/fleet.ts): each stack's turn is exactly what `repave run|plan|status
// --stack NAME` does - the same functions, the same audit events (each stack its own runId, all of them the fleet's
// fleetRunId) - with the changeover's progress lines prefixed by the stack's name, since stacks run side by side.
import type { Stack } from "@pulumi/pulumi/automation/index.js";
import { AuditLog } from "./audit.ts";
import { classify, DriverError, exitCodes } from "./errors.ts";
import { liveFacts, type ApiFacts } from "./facts.ts";
import { StackFailure, type FleetCommand, type StackReport, type StackRunner } from "./fleet.ts";
import { plan } from "./plan.ts";
import { ChangeoverProgress } from "./progress.ts";
import { CancelledError, frontDoorChangeLines, run } from "./run.ts";
import { driftOf, statusOf, type StatusPolicy } from "./status.ts";
import { openStack } from "./workspace.ts";

export interface RunnerOptions {
    workDir: string | undefined;
    auditFile: string | undefined;
    ifOlderThan?: number | undefined;
    policyPacks: string[];
    verbose: boolean;
    policy: StatusPolicy;
    /** plan: read every resource from its provider first; status: a preview-only refresh, drift is past policy. */
    refresh?: boolean;
    /** run: deploy even when it replaces or deletes part of a front door (`--allow-front-door-change`). */
    allowFrontDoorChange?: boolean;
    /** recover: also when a lock's owner cannot be checked (another machine, an unreadable backend): `--force`. */
    force?: boolean;
    /** Ages are measured at this time (status: `--at`); default now. */
    at?: Date | undefined;
    write?: (text: string) => void;
}

/** Each line of `text` prefixed with the stack's name. */
const prefixed = (stack: string, write: (t: string) => void) => (text: string) =>
    write(text.split("\n").map((l, i, all) => (l === "" && i === all.length - 1 ? "" : `[${stack}] ${l}`)).join("\n"));

export function stackRunner(command: FleetCommand, options: RunnerOptions): StackRunner {
    const write = options.write ?? ((t: string) => void process.stderr.write(t));
    return async (name, { signal, fleetRunId }): Promise<StackReport> => {
        const audit = new AuditLog(name, command, options.auditFile, process.env, fleetRunId);
        const started = Date.now();
        let stack: Stack | undefined;
        let before: ApiFacts[] | undefined;
        try {
            stack = await openStack(name, options.workDir);
            switch (command) {
                case "run": {
                    before = await liveFacts(stack);
                    const progress = new ChangeoverProgress(prefixed(name, write), false);
                    const outcome = await run(stack, audit, {
                        ifOlderThan: options.ifOlderThan,
                        signal,
                        policyPacks: options.policyPacks,
                        onEvent: progress.onEvent,
                        onOutput: options.verbose ? prefixed(name, write) : undefined,
                        allowFrontDoorChange: options.allowFrontDoorChange ?? false,
                    });
                    const apis = outcome.after.map((f) => ({ api: f.api, before: outcome.before.find((b) => b.api === f.api)?.generation ?? null, after: f.generation }));
                    return { result: outcome.skipped ? "fresh" : "repaved", apis, gate: outcome.skipped ? "n/a" : "passed", message: outcome.reason };
                }
                case "plan": {
                    const p = await plan(stack, signal, options.policyPacks, options.refresh ?? false);
                    for (const a of p.apis) {
                        audit.write("plan", "ok", { api: a.api, generation: a.liveGeneration, details: { repave: a.repave, candidate: a.candidateGeneration, image: a.image, frontDoorKept: a.frontDoorKept, frontDoorChanges: a.frontDoorChanges } });
                    }
                    if (p.frontDoorChanged) {
                        // As for one stack: exit 8, which `repave run` would refuse without --allow-front-door-change.
                        throw new DriverError(`repave plan: this deploy would replace or delete part of the front door (I4): ${frontDoorChangeLines(p).join("; ")}`, exitCodes.frontDoorChange);
                    }
                    const apis = p.apis.map((a) => ({ api: a.api, before: a.liveGeneration, after: a.candidateGeneration, image: a.image.changed ? a.image.to : null }));
                    return { result: p.repave ? "repave-pending" : "no-repave", apis, gate: "n/a", message: p.repave ? "the next deploy repaves" : "no repave", data: p };
                }
                case "recover": {
                    // Loaded on demand, as for one stack: it pulls in the local target's PKI.
                    const { recover } = await import("./recover.ts");
                    // The same function as `repave recover --stack NAME`: it refuses (exit 4, RecoverRefusedError) a
                    // stack whose update is still live, and that refusal is this stack's "locked" line in the fleet.
                    const report = await recover(stack, { force: options.force ?? false });
                    audit.write("recover", "succeeded", { details: { ...report } });
                    const apis = (await liveFacts(stack)).map((f) => ({ api: f.api, before: f.generation, after: f.generation }));
                    const left = report.pendingCreates.filter((l) => /: LEFT - |: NOT imported/.test(l));
                    const message =
                        `lock ${report.lockCleared ? "cleared" : "was free"}, ${report.pendingOperations} pending operation(s) cleared, ` +
                        `${report.reapedGenerations.length} orphaned generation(s) stopped${report.reapedGenerations.length ? ` (${report.reapedGenerations.join(", ")})` : ""}` +
                        `${report.deletedObjects.length ? `, ${report.deletedObjects.length} orphaned Kubernetes object(s) deleted` : ""}` +
                        `${report.stoppedProviders ? `, ${report.stoppedProviders} orphaned plugin process(es) stopped` : ""}` +
                        `${left.length ? `; ${left.length} pending create(s) may exist outside the state: ${left.join("; ")}` : ""}`;
                    return { result: left.length ? "attention" : "recovered", apis, gate: "n/a", message, data: report };
                }
                case "status": {
                    const drift = options.refresh ? await driftOf(stack, signal) : {};
                    const rows = statusOf(await liveFacts(stack), options.policy, options.at ?? new Date(), drift);
                    if (rows.length === 0) throw new DriverError(`stack ${name} serves no API yet (hint: repave run)`, exitCodes.failed);
                    for (const r of rows) audit.write("status", r.problems.length ? "attention" : "ok", { api: r.api, generation: r.generation, durationSeconds: null, details: { problems: r.problems, ages: r.seconds } });
                    const attention = rows.some((r) => r.problems.length);
                    return {
                        result: attention ? "attention" : "ok",
                        apis: rows.map((r) => ({ api: r.api, before: r.generation, after: r.generation })),
                        gate: "n/a",
                        message: attention ? rows.flatMap((r) => r.problems.map((p) => `${r.api}: ${p}`)).join("; ") : "within policy",
                        data: rows,
                    };
                }
            }
        } catch (err) {
            const failure = err instanceof CancelledError ? new DriverError(err.message, exitCodes.cancelled) : classify(err, `repave ${command}`);
            audit.write("command", "failed", { durationSeconds: (Date.now() - started) / 1000, exitCode: failure.exitCode, details: { error: failure.message.slice(0, 500) } });
            // What serves after the failure (a failed gate leaves the live generation serving): read, not assumed.
            const after = stack && command === "run" ? await liveFacts(stack).catch(() => undefined) : undefined;
            const apis = (after ?? before ?? []).map((f) => ({ api: f.api, before: before?.find((b) => b.api === f.api)?.generation ?? null, after: after ? f.generation : null }));
            throw new StackFailure(failure, apis);
        }
    };
}
