#!/usr/bin/env node
// The repave driver: the Automation API over the resolved Pulumi CLI (cli/engine.ts), for CD pipelines, scheduled
// repaves and engineers reading a plan. Streams compose: data (plan, status) on stdout; progress, messages and the
// audit trail (one JSON line per step) on stderr, or the audit trail in --audit-file.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { sharedOptions } from "./options.ts";
import { durationMs } from "../components/spec.ts";
import { AuditLog, type AuditCommand } from "./audit.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { ChangeoverProgress } from "./progress.ts";
import { liveFacts } from "./facts.ts";
import { plan, renderMarkdown } from "./plan.ts";
import { rollback, rollbackTargets } from "./rollback.ts";
import { CancelledError, frontDoorChangeLines, run } from "./run.ts";
import { driftOf, renderStatus, statusOf } from "./status.ts";
import { resolveEngine } from "./engine.ts";
import { fleetMain, isFleetInvocation } from "./fleet-cli.ts";
import { backendUrlFor, defaultWorkDir, openStack } from "./workspace.ts";

export { exitCodes };

const usage = `usage: repave <command> [options]

commands:
  plan       preview the next deploy as a repave: generations, images and ages, certificate and credential
             rotation, replaced vs kept resources. Exit 0: no repave; 2: a repave would happen; 8: the
             deploy would replace or delete part of a front door.
  run        deploy (a red/green repave). --if-older-than 7d: do nothing when everything serving is younger
             and no newer image waits. Refuses (exit 8) a deploy that would replace or delete part of a
             deployed front door, unless --allow-front-door-change.
  status     per API: generation, ages, certificate expiry. Exit 3 when anything is past policy.
  rollback   redeploy the image the previous generation ran, as a new gated generation, on every target
             (local build, AMI, GCE image, container digest); --api to choose.
  recover    after an interrupted run: clear the stale lock, drop unknown pending creates, stop orphans.
             Refuses while the run holding the lock is alive (exit 4).
  report     one self-contained HTML page: per API ages against policy, certificate expiry, recent changeovers.
  (plan, run, status and report take --stacks PATTERN or several --stack: a fleet, in waves: repave report --help)
  engine     which Pulumi CLI the driver uses, and why (REPAVE_ENGINE=auto|path|project, REPAVE_PULUMI=path).

exit codes: 0 ok, 1 failed, 2 a repave is pending (plan), 3 past policy (status), 4 locked by a live or
  unverifiable update, 5 stack not found, 6 the candidate failed its gate, 7 refused by a policy pack, 8 the
  deploy would replace or delete part of a front door, 64 usage, 130 cancelled (Ctrl-C)

options:
  --stack NAME             stack (default: local)
  --cwd DIR                project folder (default: the current folder)
  --format text|md|json    output of plan/status (default: text; plan's text is its Markdown)
  --out FILE               also write the plan/status output to FILE (e.g. for a PR comment)
  --audit-file FILE        append audit events to FILE instead of stderr
  --force                  recover: also when the lock's owner cannot be checked (another machine, Pulumi
                           Cloud, a bucket without AWS_* credentials); never when it is alive on this machine
  --policy-pack DIR        plan/run: a policy pack the update must pass (repeatable; e.g. the package's policy/)
  --verbose, -v            run/rollback: the Pulumi CLI's own output too, besides the changeover's steps
  --if-older-than DUR      run: e.g. 12h, 7d
  --api NAME               rollback: only this API (repeatable; default: every API with a previous image)
  --refresh                plan: read every resource from its provider first (drift shows in the plan);
                           status: a preview-only refresh first, drift is past policy (exit 3)
  --allow-front-door-change  run: deploy even if it replaces or deletes part of a front door (moving an
                           API's address, removing an API)
  --max-age DUR            status: oldest generation/credential allowed (default 7d)
  --max-image-age DUR      status: oldest image allowed (default 30d)
  --min-cert-validity DUR  status: least certificate validity left (default 7d)`;

class UsageError extends Error {}

/** Set once a command starts: a failure of any command is an audit event too. */
let failedCommand: { audit: AuditLog; started: number } | undefined;



/**
 * Ctrl-C (SIGINT) and a CI runner's cancel (SIGINT, then SIGTERM): the first asks the engine to cancel cleanly
 * - it finishes the steps in flight, writes its checkpoint and releases the lock - by forwarding exactly one
 * SIGINT (the CLI runs in its own process group, so the terminal's signal does not reach it twice). Later signals
 * only say that the cancel is under way; `kill -9` remains for those who mean it.
 */
function cancelOnSignals(controller: AbortController): void {
    const onSignal = (signal: NodeJS.Signals) => {
        if (!controller.signal.aborted) {
            console.error(`repave: ${signal}: asking the engine to cancel at a safe point (steps in flight finish; traffic stays where it is)...`);
            controller.abort();
        } else {
            console.error(`repave: ${signal}: the cancel is under way; waiting for the engine to stop at a safe point.`);
        }
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
}

function duration(flag: string, text: string | undefined, fallback?: string): number | undefined {
    const value = text ?? fallback;
    if (value === undefined) return undefined;
    try {
        return durationMs(value) / 1000;
    } catch {
        throw new UsageError(`--${flag}: "${value}" is not a duration (write e.g. 90s, 15m, 12h or 7d)`);
    }
}

async function main(argv: string[]): Promise<number> {
    if (isFleetInvocation(argv)) return fleetMain(argv);
    let parsed;
    try {
        parsed = parseArgs({
            args: argv,
            allowPositionals: true,
            strict: true,
            options: {
                ...sharedOptions,
                stack: { type: "string", default: "local" },
                force: { type: "boolean" },
                api: { type: "string", multiple: true },
            },
        });
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const { values, positionals } = parsed;
    const command = positionals[0];
    if (values.help) {
        console.log(usage);
        return exitCodes.ok;
    }
    if (!command) throw new UsageError("a command is required");
    if (!["text", "md", "json"].includes(values.format)) throw new UsageError(`--format: "${values.format}" is not one of text, md, json`);
    if (!["plan", "run", "status", "rollback", "recover", "engine"].includes(command)) throw new UsageError(`unknown command "${command}"`);
    const audit = new AuditLog(values.stack, command as AuditCommand, values["audit-file"]);
    failedCommand = { audit, started: Date.now() };
    const controller = new AbortController();
    cancelOnSignals(controller);
    const emit = (text: string) => {
        if (values.out) writeFileSync(values.out, `${text}\n`);
        process.stdout.write(`${text}\n`);
    };
    // The changeover's steps as they happen; the CLI's own output too with --verbose.
    const progress = { onOutput: values.verbose ? (text: string) => void process.stderr.write(text) : undefined, onEvent: new ChangeoverProgress().onEvent };
    const stack = () => openStack(values.stack, values.cwd);
    const policyPacks = (values["policy-pack"] ?? []).map((p) => resolve(p));

    switch (command) {
        case "plan": {
            const p = await plan(await stack(), controller.signal, policyPacks, values.refresh ?? false);
            for (const a of p.apis) {
                audit.write("plan", "ok", {
                    api: a.api,
                    generation: a.liveGeneration,
                    details: { repave: a.repave, candidate: a.candidateGeneration, image: a.image, frontDoorKept: a.frontDoorKept, frontDoorChanges: a.frontDoorChanges },
                });
            }
            emit(values.format === "json" ? JSON.stringify(p, null, 2) : renderMarkdown(p));
            if (p.policyUnchecked.length > 0) {
                // The policy host downgrades these to warnings in a preview: say so, never let them pass unseen.
                console.error(`repave: ${p.policyUnchecked.length} policy check(s) could not run in this preview (values unknown until the update, which runs them): ${p.policyUnchecked.map((u) => `${u.policy} on ${u.resource}`).join(", ")}`);
            }
            if (p.frontDoorChanged) {
                // The plan is printed above; the exit code and this line are what a pipeline acts on.
                console.error(
                    `repave: this deploy would replace or delete part of the front door (I4): ${frontDoorChangeLines(p).join("; ")}. ` +
                        "`repave run` refuses it unless --allow-front-door-change.",
                );
                return exitCodes.frontDoorChange;
            }
            return p.repave ? exitCodes.repavePending : exitCodes.ok;
        }
        case "run": {
            const threshold = duration("if-older-than", values["if-older-than"]);
            const outcome = await run(await stack(), audit, {
                ifOlderThan: threshold,
                signal: controller.signal,
                policyPacks,
                allowFrontDoorChange: values["allow-front-door-change"] ?? false,
                ...progress,
            });
            if (outcome.skipped) console.error(`repave: nothing to do: ${outcome.reason}`);
            else for (const f of outcome.after) console.error(`repave: ${f.api} now on ${f.generation} (image ${f.imageVersion})`);
            return exitCodes.ok;
        }
        case "status": {
            const policy = {
                maxGenerationAge: duration("max-age", values["max-age"], "7d")!,
                maxImageAge: duration("max-image-age", values["max-image-age"], "30d")!,
                minCertValidity: duration("min-cert-validity", values["min-cert-validity"], "7d")!,
            };
            const opened = await stack();
            const drift = values.refresh ? await driftOf(opened, controller.signal) : {};
            const rows = statusOf(await liveFacts(opened), policy, new Date(), drift);
            if (rows.length === 0) throw new Error(`stack ${values.stack} serves no API yet (hint: repave run)`);
            for (const r of rows) audit.write("status", r.problems.length ? "attention" : "ok", { api: r.api, generation: r.generation, durationSeconds: null, details: { problems: r.problems, ages: r.seconds } });
            emit(values.format === "json" ? JSON.stringify(rows, null, 2) : renderStatus(rows));
            return rows.some((r) => r.problems.length) ? exitCodes.attention : exitCodes.ok;
        }
        case "rollback": {
            const targets = await rollbackTargets(await stack(), values.api ?? []);
            if (targets.length === 0) {
                throw new Error(
                    "nothing to roll back to: no API records a previous image different from the one it runs. " +
                        "(A generation that fails its bake window is rolled back automatically during the run.)",
                );
            }
            const outcome = await rollback(targets, (env) => openStack(values.stack, values.cwd, env), audit, { signal: controller.signal, ...progress });
            for (const f of outcome.after) console.error(`repave: ${f.api} rolled back to image ${f.imageVersion} as generation ${f.generation}`);
            console.error("repave: the next run deploys the newest patched image again: mark the bad build unpatched, or pin image.version, to stay.");
            return exitCodes.ok;
        }
        case "recover": {
            // Loaded on demand: it pulls in the local target's PKI, which no other command needs.
            const { recover, repairFileBackend } = await import("./recover.ts");
            // Before the stack is opened: a damaged metadata sidecar makes every CLI call fail, selecting included.
            const repairedMetadata = repairFileBackend(backendUrlFor(values.cwd ?? defaultWorkDir()));
            const report = await recover(await stack(), { force: values.force ?? false, repairedMetadata });
            audit.write("recover", "succeeded", { details: { ...report } });
            console.error(
                `recovered ${values.stack}: ${report.repairedMetadata.length ? `${report.repairedMetadata.length} damaged metadata file(s) removed, ` : ""}lock ${report.lockCleared ? "cleared" : "was free"}, ` +
                    `${report.pendingOperations} pending operation(s) cleared, ` +
                    `${report.reapedGenerations.length} orphaned generation(s) stopped${report.reapedGenerations.length ? ` (${report.reapedGenerations.join(", ")})` : ""}, ` +
                    `${report.deletedObjects.length} orphaned Kubernetes object(s) deleted${report.deletedObjects.length ? ` (${report.deletedObjects.join(", ")})` : ""}, ` +
                    `${report.stoppedProviders} orphaned plugin process(es) stopped. ` +
                    `Now run the update again.`,
            );
            // What became of each pending create, one line each: a cloud object recover could not adopt or delete
            // needs a person (exit 3), it is never dropped silently.
            for (const line of report.pendingCreates) console.error(`  pending create ${line}`);
            const left = report.pendingCreates.filter((l) => /: LEFT - |: NOT imported/.test(l));
            if (left.length > 0) {
                console.error(`repave: ${left.length} pending create(s) may exist outside the state: see above before the next run`);
                return exitCodes.attention;
            }
            return exitCodes.ok;
        }
        case "engine": {
            const engine = resolveEngine(resolve(values.cwd ?? defaultWorkDir()));
            emit(values.format === "json" ? JSON.stringify(engine, null, 2) : `repave uses ${engine.reason}`);
            return exitCodes.ok;
        }
        default:
            throw new UsageError(`unknown command "${command}"`);
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
        if (err instanceof UsageError) {
            console.error(`repave: ${err.message}\n\n${usage}`);
            process.exit(exitCodes.usage);
        }
        console.error(`repave: ${err.message}`);
        // What the engine said beyond that line (a process's log, a hint), indented under it.
        if (err instanceof DriverError && err.detail) console.error(err.detail.replace(/^/gm, "  "));
        const code = err instanceof DriverError ? err.exitCode : err instanceof CancelledError ? exitCodes.cancelled : exitCodes.failed;
        try {
            failedCommand?.audit.write("command", "failed", { durationSeconds: (Date.now() - failedCommand.started) / 1000, exitCode: code, details: { error: err.message.slice(0, 500) } });
        } catch {
            // the audit file itself cannot be written: the message above is all there is
        }
        process.exit(code);
    },
);
