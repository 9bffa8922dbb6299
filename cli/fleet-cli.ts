// The command line of the fleet commands (`repave plan|run|status` over many stacks) and of `repave report`. The
// driver's entry (cli/repave.ts) hands an invocation here when it selects stacks by pattern or more than one
// stack, asks for waves, or is `report`; one stack without those stays on the single-stack path.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { sharedOptions } from "./options.ts";
import { durationMs } from "../components/spec.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { runFleet, type FleetCommand } from "./fleet.ts";
import { stackRunner } from "./fleet-runner.ts";
import { listStacks, selectStacks } from "./fleet-stacks.ts";
import { renderFleet, type SummaryFormat } from "./fleet-summary.ts";

export const fleetUsage = `fleet: the same commands over many stacks (one summary; audit events carry a fleetRunId)
  repave run    --stacks 'prod-*' [--stack NAME ...] [--canary 1] [--wave-size 4] [--concurrency 2] [--if-older-than 7d]
  repave plan   --stacks 'prod-*' [--concurrency 2]
  repave status --stacks 'prod-*' [--at ISO-TIME]
  repave recover --stacks 'prod-*' [--force]
  repave report --stacks 'prod-*' --out report.html [--audit-file audit.jsonl] [--at ISO-TIME]

  --stacks PATTERN     stacks whose name matches (* and ?; repeatable or comma-separated); --stack NAME repeatable.
                       Order: named stacks as given, then each pattern's matches by name. It is the waves' order.
  --canary N           run: the first N stacks are a wave of their own (default 1; 0: none)
  --wave-size N        run: stacks per wave after the canary (default 4)
  --concurrency N      stacks running at the same time (default 2)
  --at TIME            status/report: measure ages at this time (ISO 8601; default now), e.g. to see what will be
                       past policy next Monday, or to compare a report with a status taken at the same instant
  --format text|md|json, --out FILE, --audit-file FILE, --if-older-than, --max-age, --max-image-age,
  --min-cert-validity, --policy-pack, --verbose, --refresh (plan, status), --allow-front-door-change (run): as for
  one stack. report reads the changeovers from --audit-file.

  recover: after a fleet run was killed (SIGKILL, a lost runner), each selected stack is recovered as by
  \`repave recover --stack NAME\`; a stack whose update is still running is refused (its line says so, exit 4) and
  the others are recovered. --force as for one stack. Then \`repave run --stacks ... --if-older-than D\` repaves only
  the stacks still due. SIGINT/SIGTERM to a fleet run cancel each running stack's update at a safe point instead.

  run: a failed stack lets the running stacks of its wave finish and starts nothing more; the summary names the
  stacks left untouched. A stack locked by another update is skipped, with a line saying so (exit 4 if nothing
  failed). Exit: the first failure's own code (6: a gate failed, 8: a front-door change), else 130 cancelled,
  else 4 locked, else 0 (plan: 2 when a stack would repave; status: 3 when a stack is past policy).`;

const fleetFlags = ["--stacks", "--canary", "--wave-size", "--concurrency", "--at"];

/** Is this a fleet invocation: report, a pattern, several --stack, or a fleet-only flag? */
export function isFleetInvocation(argv: readonly string[]): boolean {
    const { tokens } = parseArgs({ args: [...argv], strict: false, allowPositionals: true, tokens: true });
    const command = tokens.find((t) => t.kind === "positional");
    if (command?.kind === "positional" && command.value === "report") return true;
    if (!(command?.kind === "positional" && ["plan", "run", "status", "recover"].includes(command.value))) return false;
    const names = tokens.flatMap((t) => (t.kind === "option" ? [`--${t.name}`] : []));
    return names.some((n) => fleetFlags.includes(n)) || names.filter((n) => n === "--stack").length > 1;
}

class FleetUsageError extends DriverError {
    constructor(message: string) {
        super(`${message}\n\n${fleetUsage}`, exitCodes.usage);
    }
}

function duration(flag: string, value: string | undefined, fallback?: string): number | undefined {
    const text = value ?? fallback;
    if (text === undefined) return undefined;
    try {
        return durationMs(text) / 1000;
    } catch {
        throw new FleetUsageError(`--${flag}: "${text}" is not a duration (write e.g. 90s, 15m, 12h or 7d)`);
    }
}

function count(flag: string, value: string, least: number): number {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < least) throw new FleetUsageError(`--${flag}: "${value}" is not a whole number ≥ ${least}`);
    return n;
}

function parse(argv: string[]) {
    try {
        return parseArgs({
            args: argv,
            allowPositionals: true,
            strict: true,
            options: {
                ...sharedOptions,
                stack: { type: "string", multiple: true },
                stacks: { type: "string", multiple: true },
                canary: { type: "string", default: "1" },
                "wave-size": { type: "string", default: "4" },
                concurrency: { type: "string", default: "2" },
                at: { type: "string" },
                force: { type: "boolean" },
            },
        });
    } catch (err) {
        throw new FleetUsageError((err as Error).message);
    }
}

/** The fleet commands and `report`; returns the exit code. */
export async function fleetMain(argv: string[]): Promise<number> {
    const { values, positionals } = parse(argv);
    if (values.help) {
        console.log(fleetUsage);
        return exitCodes.ok;
    }
    const command = positionals[0] as FleetCommand | "report";
    if (positionals.length > 1) throw new FleetUsageError(`unexpected argument "${positionals[1]}"`);
    const format = values.format as SummaryFormat;
    if (!["text", "md", "json"].includes(format)) throw new FleetUsageError(`--format: "${values.format}" is not one of text, md, json`);
    if (values["if-older-than"] && command !== "run") throw new FleetUsageError("--if-older-than is for run");
    if (values["allow-front-door-change"] && command !== "run") throw new FleetUsageError("--allow-front-door-change is for run");
    if (values.force && command !== "recover") throw new FleetUsageError("--force is for recover");
    if (values.refresh && command !== "plan" && command !== "status") throw new FleetUsageError("--refresh is for plan and status");
    let at: Date | undefined;
    if (values.at !== undefined) {
        if (command !== "status" && command !== "report") throw new FleetUsageError("--at is for status and report");
        at = new Date(values.at);
        if (!/^\d{4}-\d\d-\d\dT/.test(values.at) || !Number.isFinite(at.getTime())) throw new FleetUsageError(`--at: "${values.at}" is not an ISO 8601 time (e.g. 2026-12-01T09:00:00Z)`);
    }
    const policy = {
        maxGenerationAge: duration("max-age", values["max-age"], "7d")!,
        maxImageAge: duration("max-image-age", values["max-image-age"], "30d")!,
        minCertValidity: duration("min-cert-validity", values["min-cert-validity"], "7d")!,
    };
    const waves = { canary: count("canary", values.canary, 0), waveSize: count("wave-size", values["wave-size"], 1), concurrency: count("concurrency", values.concurrency, 1) };
    const workDir = values.cwd;
    if (command === "recover") {
        // Before the stacks are listed: a metadata sidecar a SIGKILL cut short makes every CLI call fail, listing
        // included (cli/recover.ts). One backend holds the whole fleet, so once for all of them.
        const { repairFileBackend } = await import("./recover.ts");
        const { backendUrlFor, defaultWorkDir } = await import("./workspace.ts");
        const repaired = repairFileBackend(backendUrlFor(workDir ?? defaultWorkDir()));
        if (repaired.length) console.error(`repave: ${repaired.length} damaged metadata file(s) removed: ${repaired.join(", ")}`);
    }
    const stacks = selectStacks(await listStacks(workDir ?? process.cwd()), values.stack ?? [], values.stacks ?? []);

    if (command === "report") {
        const { writeReport } = await import("./report-command.ts");
        const auditText = values["audit-file"] ? readFileSync(values["audit-file"], "utf8") : "";
        return writeReport({ stacks, workDir, policy, at, auditText, out: values.out ?? "repave-report.html", concurrency: waves.concurrency });
    }

    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
        console.error(`repave: ${signal}: ${controller.signal.aborted ? "the cancel is under way" : "cancelling: running stacks stop at a safe point, no further stack starts"}`);
        controller.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const summary = await runFleet({
        command,
        stacks,
        ...waves,
        signal: controller.signal,
        onLine: (t) => console.error(t),
        runner: stackRunner(command, {
            workDir,
            auditFile: values["audit-file"],
            ifOlderThan: duration("if-older-than", values["if-older-than"]),
            policyPacks: (values["policy-pack"] ?? []).map((p) => resolve(p)),
            verbose: values.verbose ?? false,
            policy,
            at,
            refresh: values.refresh ?? false,
            allowFrontDoorChange: values["allow-front-door-change"] ?? false,
            force: values.force ?? false,
        }),
    });
    const text = renderFleet(summary, format);
    if (values.out) writeFileSync(values.out, `${text}\n`);
    process.stdout.write(`${text}\n`);
    return summary.exitCode;
}
