// A fleet run: `repave plan|run|status` over many stacks, in waves. The single-stack functions (cli/run.ts,
// cli/plan.ts, cli/status.ts) do the work for each stack, behind a StackRunner (cli/fleet-runner.ts); this file
// holds only the order and the brakes, so the unit tests drive it with a fake runner.
//
// Failure semantics of `run`: the stacks of a wave run at most `concurrency` at a time. A failed stack lets the
// stacks of its wave that are already running finish, and starts nothing more - neither the rest of its wave nor
// a later wave; every stack not started is reported as left untouched. A stack locked by another update is
// skipped (its lock is someone else's to clear) and does not stop the fleet. plan and status are read-only: every
// selected stack runs, one failure does not hide the others' answers. recover is one pass too: each stack's recover
// stands alone (cli/recover.ts), and one stack whose update is still live - refused - must not keep the others locked.
//
// Interruptions of the fleet driver itself. SIGINT/SIGTERM abort the signal every running stack's update holds:
// the Automation API forwards one SIGINT to each engine (each in its own session, cli/workspace.ts, so a terminal's
// Ctrl-C reaches the driver alone), every engine cancels at a safe point and releases its lock, no further stack
// starts, and the summary says cancelled/untouched. SIGKILL gives the driver no say: the engines it started live on
// in their own sessions with their output pipes closed, and each dies at its next progress line (a Go program's write
// to a closed stdout is a SIGPIPE), or finishes first if it had no more to say - either way leaving its stack's lock
// and pending operations behind when it did not finish. `repave recover --stacks ...` then clears each stack whose
// engine is dead and refuses, stack by stack, any whose engine still runs; a rerun with --if-older-than repaves only
// what is still due (test/e2e/fleet-kill.test.ts).
import { randomUUID } from "node:crypto";
import { DriverError, exitCodes } from "./errors.ts";

export type FleetCommand = "plan" | "run" | "status" | "recover";

export interface WaveOptions {
    /** Stacks in the first wave, alone (0: no canary wave). */
    canary: number;
    /** Stacks per wave after the canary. */
    waveSize: number;
    /** Stacks running at the same time inside a wave. */
    concurrency: number;
}

/** The stacks in waves, in the order given: `canary` first, then `waveSize` at a time. */
export function planWaves(stacks: readonly string[], options: WaveOptions): string[][] {
    if (!Number.isInteger(options.canary) || options.canary < 0) throw new DriverError(`--canary: ${options.canary} is not a whole number ≥ 0`, exitCodes.usage);
    if (!Number.isInteger(options.waveSize) || options.waveSize < 1) throw new DriverError(`--wave-size: ${options.waveSize} is not a whole number ≥ 1`, exitCodes.usage);
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new DriverError(`--concurrency: ${options.concurrency} is not a whole number ≥ 1`, exitCodes.usage);
    const waves: string[][] = [];
    const canary = stacks.slice(0, options.canary);
    if (canary.length) waves.push(canary);
    for (let i = canary.length; i < stacks.length; i += options.waveSize) waves.push(stacks.slice(i, i + options.waveSize));
    return waves;
}

/** One API of a stack: the generation serving before the stack's turn and after it (the same for plan/status). */
export interface ApiChange {
    api: string;
    before: string | null;
    after: string | null;
    /** plan: the image the next deploy would run, when it changes. */
    image?: string | null;
}

/**
 * What a stack's turn came to. `fresh`: run --if-older-than found nothing due; `locked`: another update holds the
 * stack, skipped (recover: refused, the update is live or cannot be judged); `untouched`: never started because the
 * fleet stopped (or was cancelled) first; `recovered`: recover cleared what a dead update left, nothing needs a person.
 */
export type StackResult = "repaved" | "fresh" | "failed" | "locked" | "untouched" | "cancelled" | "repave-pending" | "no-repave" | "ok" | "attention" | "recovered";

/** Did the candidate pass its gate: only a run that reached a new generation knows. */
export type GateResult = "passed" | "failed" | "not reached" | "n/a";

/** What the single-stack runner reports for one stack; a thrown error is a failure (see `outcomeOfError`). */
export interface StackReport {
    result: Exclude<StackResult, "failed" | "locked" | "untouched" | "cancelled">;
    apis: ApiChange[];
    gate: GateResult;
    message: string;
    /** The single-stack command's own JSON (status rows, the plan): the fleet's JSON carries it as is. */
    data?: unknown;
}

export interface StackOutcome {
    stack: string;
    /** 1-based; 0 for plan/status (one pass over every stack). */
    wave: number;
    result: StackResult;
    apis: ApiChange[];
    gate: GateResult;
    durationSeconds: number | null;
    exitCode: number;
    message: string;
    data?: unknown;
}

export interface StackRunner {
    /** One stack's turn. Throws a DriverError (or any error) when it fails; `apis` then comes from `failedApis`. */
    (stack: string, context: { signal: AbortSignal; fleetRunId: string }): Promise<StackReport>;
}

export interface FleetOptions extends WaveOptions {
    command: FleetCommand;
    stacks: readonly string[];
    runner: StackRunner;
    signal?: AbortSignal;
    /** Clear lines as the fleet goes: waves starting, a stack locked, the fleet stopping. */
    onLine?: (text: string) => void;
    fleetRunId?: string;
    now?: () => number;
}

export interface FleetSummary {
    fleetRunId: string;
    command: FleetCommand;
    startedAt: string;
    durationSeconds: number;
    options: WaveOptions;
    waves: string[][];
    /** Why the fleet started no further stack, or null when every stack had its turn. */
    stopped: { wave: number; reason: string } | null;
    /** Stacks the fleet never started (they serve what they served before). */
    untouched: string[];
    stacks: StackOutcome[];
    exitCode: number;
}

/** The errors that carry the apis a stack served when its turn failed (the runner reads them after a failure). */
export class StackFailure extends DriverError {
    readonly apis: ApiChange[];
    constructor(cause: DriverError, apis: ApiChange[]) {
        super(cause.message, cause.exitCode);
        this.apis = apis;
    }
}

function outcomeOfError(err: unknown): Pick<StackOutcome, "result" | "gate" | "exitCode" | "message" | "apis"> {
    const exitCode = err instanceof DriverError ? err.exitCode : exitCodes.failed;
    const message = (err as Error)?.message ?? String(err);
    const apis = err instanceof StackFailure ? err.apis : [];
    if (exitCode === exitCodes.locked) return { result: "locked", gate: "n/a", exitCode, message, apis };
    if (exitCode === exitCodes.cancelled) return { result: "cancelled", gate: "not reached", exitCode, message, apis };
    return { result: "failed", gate: exitCode === exitCodes.gateFailed ? "failed" : "not reached", exitCode, message, apis };
}

/** The fleet's exit code: the first failure's own code; else cancelled; else locked (something was not done); else the command's. */
function fleetExitCode(command: FleetCommand, stacks: StackOutcome[], cancelled: boolean): number {
    const failed = stacks.find((s) => s.result === "failed");
    if (failed) return failed.exitCode;
    if (cancelled || stacks.some((s) => s.result === "cancelled")) return exitCodes.cancelled;
    if (stacks.some((s) => s.result === "locked")) return exitCodes.locked;
    if (command === "plan" && stacks.some((s) => s.result === "repave-pending")) return exitCodes.repavePending;
    if ((command === "status" || command === "recover") && stacks.some((s) => s.result === "attention")) return exitCodes.attention;
    return exitCodes.ok;
}

export async function runFleet(options: FleetOptions): Promise<FleetSummary> {
    const now = options.now ?? Date.now;
    const say = options.onLine ?? (() => undefined);
    const fleetRunId = options.fleetRunId ?? randomUUID();
    const started = now();
    const signal = options.signal ?? new AbortController().signal;
    const stackNames = [...options.stacks];
    if (stackNames.length === 0) throw new DriverError("no stack selected", exitCodes.usage);
    if (new Set(stackNames).size !== stackNames.length) throw new DriverError(`a stack is selected twice: ${stackNames.join(", ")}`, exitCodes.usage);
    // Waves brake a change; plan and status change nothing, so they are one pass at the concurrency limit.
    const runWaves = planWaves(stackNames, options);
    const waves = options.command === "run" ? runWaves : [stackNames];
    const outcomes = new Map<string, StackOutcome>();
    let stopped: FleetSummary["stopped"] = null;

    const turn = async (stack: string, wave: number): Promise<StackOutcome> => {
        const t0 = now();
        const seconds = () => Math.round((now() - t0) / 100) / 10;
        try {
            const report = await options.runner(stack, { signal, fleetRunId });
            return { stack, wave, ...report, durationSeconds: seconds(), exitCode: exitCodes.ok };
        } catch (err) {
            return { stack, wave, ...outcomeOfError(err), durationSeconds: seconds() };
        }
    };

    for (const [index, members] of waves.entries()) {
        const wave = options.command === "run" ? index + 1 : 0;
        if (stopped || signal.aborted) break;
        if (options.command === "run") say(`fleet: wave ${wave}/${waves.length}${index === 0 && options.canary > 0 ? " (canary)" : ""}: ${members.join(", ")}`);
        const queue = [...members];
        let waveFailed: StackOutcome | undefined;
        const worker = async () => {
            // A failure in this wave (run only) or a cancel: the running stacks finish, no queued one starts.
            while (queue.length && !signal.aborted && !(options.command === "run" && waveFailed)) {
                const stack = queue.shift()!;
                const outcome = await turn(stack, wave);
                outcomes.set(stack, outcome);
                if (outcome.result === "locked" && options.command === "recover") {
                    say(`fleet: ${stack}: refused, nothing changed: ${outcome.message}`);
                } else if (outcome.result === "locked") {
                    say(`fleet: ${stack}: skipped, locked by another update (left untouched; if that update is dead, \`repave recover --stack ${stack}\` clears it)`);
                } else if (outcome.result === "failed") {
                    waveFailed ??= outcome;
                    say(`fleet: ${stack}: FAILED (exit ${outcome.exitCode}): ${outcome.message}`);
                } else {
                    say(`fleet: ${stack}: ${outcome.result} in ${outcome.durationSeconds}s`);
                }
            }
        };
        await Promise.all(Array.from({ length: Math.min(options.concurrency, members.length) }, worker));
        if (waveFailed && options.command === "run") {
            stopped = { wave, reason: `${waveFailed.stack} failed${waveFailed.gate === "failed" ? " its gate" : ""} (exit ${waveFailed.exitCode})` };
        }
    }
    if (signal.aborted && !stopped) stopped = { wave: 0, reason: "cancelled" };

    const stacks = waves.flatMap((members, index) =>
        members.map((stack): StackOutcome =>
            outcomes.get(stack) ?? { stack, wave: options.command === "run" ? index + 1 : 0, result: "untouched", apis: [], gate: "n/a", durationSeconds: null, exitCode: exitCodes.ok, message: "not started: the fleet stopped first" },
        ),
    );
    const untouched = stacks.filter((s) => s.result === "untouched").map((s) => s.stack);
    if (stopped) say(`fleet: stopped${stopped.wave ? ` after wave ${stopped.wave}` : ""}: ${stopped.reason}; no further stack started. Left untouched: ${untouched.length ? untouched.join(", ") : "none"}`);
    return {
        fleetRunId,
        command: options.command,
        startedAt: new Date(started).toISOString(),
        durationSeconds: Math.round((now() - started) / 100) / 10,
        options: { canary: options.canary, waveSize: options.waveSize, concurrency: options.concurrency },
        waves,
        stopped,
        untouched,
        stacks,
        exitCode: fleetExitCode(options.command, stacks, signal.aborted),
    };
}
