// The fleet's order and brakes with a fake single-stack runner: waves in order, the concurrency limit, a failure
// that lets its wave's running stacks finish and starts nothing more, a locked stack skipped, plan and status
// covering every stack, the stack selection, and the summary in text, Markdown and JSON.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DriverError, exitCodes } from "../../cli/errors.ts";
import { isFleetInvocation } from "../../cli/fleet-cli.ts";
import { selectStacks } from "../../cli/fleet-stacks.ts";
import { renderFleet } from "../../cli/fleet-summary.ts";
import { planWaves, runFleet, StackFailure, type FleetCommand, type StackReport, type StackRunner } from "../../cli/fleet.ts";

const six = ["s1", "s2", "s3", "s4", "s5", "s6"];
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake runner: each stack takes `ms[stack]` (default 5 ms); `fail[stack]` is thrown instead of a report. */
function fake(options: { ms?: Record<string, number>; fail?: Record<string, Error>; result?: StackReport["result"] } = {}) {
    const log: string[] = [];
    let running = 0;
    let peak = 0;
    const runner: StackRunner = async (stack, { fleetRunId }) => {
        assert.match(fleetRunId, /^[0-9a-f-]{36}$/);
        running++;
        peak = Math.max(peak, running);
        log.push(`start ${stack}`);
        await tick(options.ms?.[stack] ?? 5);
        running--;
        log.push(`end ${stack}`);
        const err = options.fail?.[stack];
        if (err) throw err;
        return { result: options.result ?? "repaved", apis: [{ api: "hello", before: `g${stack}a`, after: `g${stack}b` }], gate: "passed", message: "updated" };
    };
    return { runner, log, peak: () => peak };
}

const fleet = (command: FleetCommand, runner: StackRunner, extra: Partial<Parameters<typeof runFleet>[0]> = {}) => {
    const lines: string[] = [];
    const summary = runFleet({ command, stacks: six, canary: 1, waveSize: 2, concurrency: 2, runner, onLine: (t) => lines.push(t), ...extra });
    return { summary, lines };
};

describe("fleet waves", () => {
    it("a canary alone, then wave-size stacks at a time, in the order given", () => {
        assert.deepEqual(planWaves(six, { canary: 1, waveSize: 2, concurrency: 2 }), [["s1"], ["s2", "s3"], ["s4", "s5"], ["s6"]]);
        assert.deepEqual(planWaves(six, { canary: 0, waveSize: 4, concurrency: 1 }), [["s1", "s2", "s3", "s4"], ["s5", "s6"]]);
        assert.deepEqual(planWaves(six, { canary: 2, waveSize: 10, concurrency: 1 }), [["s1", "s2"], ["s3", "s4", "s5", "s6"]]);
        assert.throws(() => planWaves(six, { canary: 1, waveSize: 0, concurrency: 1 }), /--wave-size: 0 is not a whole number ≥ 1/);
        assert.throws(() => planWaves(six, { canary: 1, waveSize: 2, concurrency: 0 }), /--concurrency: 0/);
    });

    it("runs wave after wave: nothing of a wave starts before the previous wave has finished, at most `concurrency` at once", async () => {
        const f = fake({ ms: { s2: 30, s3: 5, s4: 5, s5: 20 } });
        const { summary } = fleet("run", f.runner, { waveSize: 3 });
        const s = await summary;
        assert.deepEqual(s.waves, [["s1"], ["s2", "s3", "s4"], ["s5", "s6"]]);
        const at = (e: string) => f.log.indexOf(e);
        assert.ok(at("end s1") < at("start s2"), f.log.join(", "));
        for (const later of ["s5", "s6"]) for (const earlier of ["s2", "s3", "s4"]) assert.ok(at(`end ${earlier}`) < at(`start ${later}`), f.log.join(", "));
        assert.equal(f.peak(), 2, "the limit is used, never exceeded");
        // concurrency 2 in a wave of 3: s4 starts when the first of s2, s3 is done (s3, the faster).
        assert.ok(at("end s3") < at("start s4") && at("start s4") < at("end s2"), f.log.join(", "));
        assert.equal(s.exitCode, exitCodes.ok);
        assert.deepEqual(s.stacks.map((x) => [x.stack, x.wave, x.result]), [["s1", 1, "repaved"], ["s2", 2, "repaved"], ["s3", 2, "repaved"], ["s4", 2, "repaved"], ["s5", 3, "repaved"], ["s6", 3, "repaved"]]);
        assert.equal(s.stopped, null);
        assert.deepEqual(s.untouched, []);
    });

    it("a failed gate in wave 2: the wave's running stack finishes, no further wave starts, the untouched stacks are named", async () => {
        const gate = new StackFailure(new DriverError("repave run: the candidate failed its gate; traffic stays on the live generation.", exitCodes.gateFailed), [{ api: "hello", before: "gs3a", after: "gs3a" }]);
        const f = fake({ ms: { s2: 40, s3: 5 }, fail: { s3: gate } });
        const { summary, lines } = fleet("run", f.runner);
        const s = await summary;
        assert.ok(f.log.includes("end s2"), "s2, running beside the failure, finished");
        assert.ok(!f.log.some((e) => /start s[456]/.test(e)), `nothing after wave 2 started: ${f.log.join(", ")}`);
        assert.deepEqual(s.stacks.map((x) => [x.stack, x.result, x.gate]), [["s1", "repaved", "passed"], ["s2", "repaved", "passed"], ["s3", "failed", "failed"], ["s4", "untouched", "n/a"], ["s5", "untouched", "n/a"], ["s6", "untouched", "n/a"]]);
        assert.deepEqual(s.stacks[2]!.apis, [{ api: "hello", before: "gs3a", after: "gs3a" }], "what s3 serves after its failure");
        assert.equal(s.exitCode, exitCodes.gateFailed);
        assert.deepEqual(s.stopped, { wave: 2, reason: "s3 failed its gate (exit 6)" });
        assert.deepEqual(s.untouched, ["s4", "s5", "s6"]);
        assert.ok(lines.includes("fleet: stopped after wave 2: s3 failed its gate (exit 6); no further stack started. Left untouched: s4, s5, s6"), lines.join("\n"));
    });

    it("a failure with stacks of its wave still queued: those are not started either", async () => {
        const f = fake({ fail: { s2: new DriverError("repave run: boom", exitCodes.failed) } });
        const s = await fleet("run", f.runner, { waveSize: 4, concurrency: 1 }).summary;
        assert.deepEqual(s.stacks.map((x) => x.result), ["repaved", "failed", "untouched", "untouched", "untouched", "untouched"]);
        assert.equal(s.stacks[1]!.gate, "not reached");
        assert.equal(s.exitCode, exitCodes.failed);
        assert.equal(f.log.filter((e) => e.startsWith("start")).length, 2);
    });

    it("a failed canary stops everything after it", async () => {
        const f = fake({ fail: { s1: new DriverError("gate", exitCodes.gateFailed) } });
        const s = await fleet("run", f.runner).summary;
        assert.deepEqual(s.untouched, ["s2", "s3", "s4", "s5", "s6"]);
        assert.deepEqual(s.stopped, { wave: 1, reason: "s1 failed its gate (exit 6)" });
    });

    it("a stack locked by another update is skipped with a clear line; the fleet goes on; exit 4", async () => {
        const f = fake({ fail: { s3: new DriverError("repave run: the stack is locked by another update (or a killed one)", exitCodes.locked) } });
        const { summary, lines } = fleet("run", f.runner);
        const s = await summary;
        assert.deepEqual(s.stacks.map((x) => x.result), ["repaved", "repaved", "locked", "repaved", "repaved", "repaved"]);
        assert.equal(s.stopped, null);
        assert.equal(s.exitCode, exitCodes.locked, "something was not done: not 0");
        assert.ok(lines.includes("fleet: s3: skipped, locked by another update (left untouched; if that update is dead, `repave recover --stack s3` clears it)"), lines.join("\n"));
        assert.match(renderFleet(s, "text"), /s3\s+locked\s+—\s+\d+\.\ds\s+n\/a\s+repave run: the stack is locked/);
    });

    it("a failure outranks a lock in the exit code", async () => {
        const f = fake({ fail: { s2: new DriverError("locked", exitCodes.locked), s3: new DriverError("gate", exitCodes.gateFailed) } });
        assert.equal((await fleet("run", f.runner).summary).exitCode, exitCodes.gateFailed);
    });

    it("a cancel: running stacks finish, nothing more starts, the rest is untouched, exit 130", async () => {
        const controller = new AbortController();
        const f = fake({ ms: { s2: 30, s3: 30 } });
        const pending = fleet("run", f.runner, { signal: controller.signal }).summary;
        await tick(15);
        controller.abort();
        const s = await pending;
        assert.deepEqual(s.stacks.map((x) => x.result), ["repaved", "repaved", "repaved", "untouched", "untouched", "untouched"]);
        assert.equal(s.exitCode, exitCodes.cancelled);
    });

    it("plan and status are one pass over every stack: a failure does not hide the others", async () => {
        const f = fake({ result: "repave-pending", fail: { s2: new DriverError("preview failed", exitCodes.failed) } });
        const plan = await fleet("plan", f.runner).summary;
        assert.deepEqual(plan.waves, [six]);
        assert.equal(f.log.filter((e) => e.startsWith("start")).length, 6);
        assert.equal(plan.exitCode, exitCodes.failed);
        const pending = await fleet("plan", fake({ result: "repave-pending" }).runner).summary;
        assert.equal(pending.exitCode, exitCodes.repavePending);
        const status = await fleet("status", fake({ result: "attention" }).runner).summary;
        assert.equal(status.exitCode, exitCodes.attention);
        assert.ok(status.stacks.every((x) => x.wave === 0));
    });

    it("recover is one pass: a stack whose update is live is refused with its own line, every other stack is recovered; exit 4", async () => {
        const live = new DriverError("an update is running: ci@runner (pid 4242, since now). Recovering now would break it.", exitCodes.locked);
        const f = fake({ result: "recovered", ms: { s1: 20 }, fail: { s4: live } });
        const { summary, lines } = fleet("recover", f.runner);
        const s = await summary;
        assert.deepEqual(s.waves, [six], "no waves: one stack's recover does not depend on another's");
        assert.deepEqual(s.stacks.map((x) => x.result), ["recovered", "recovered", "recovered", "locked", "recovered", "recovered"]);
        assert.equal(s.stopped, null);
        assert.equal(s.exitCode, exitCodes.locked, "a stack still locked: not 0");
        assert.ok(lines.includes(`fleet: s4: refused, nothing changed: ${live.message}`), lines.join("\n"));
        assert.match(renderFleet(s, "text"), /^fleet recover [0-9a-f-]{36}: 6 stack\(s\) \(concurrency 2\), [\d.]+s: 5 recovered, 1 locked$/m);
        const clean = await fleet("recover", fake({ result: "recovered" }).runner).summary;
        assert.equal(clean.exitCode, exitCodes.ok);
        const left = await fleet("recover", fake({ result: "attention" }).runner).summary;
        assert.equal(left.exitCode, exitCodes.attention, "a pending create that may exist outside the state needs a person");
    });

    it("refuses an empty or doubled selection", async () => {
        await assert.rejects(runFleet({ command: "run", stacks: [], canary: 1, waveSize: 1, concurrency: 1, runner: fake().runner }), /no stack selected/);
        await assert.rejects(runFleet({ command: "run", stacks: ["a", "a"], canary: 1, waveSize: 1, concurrency: 1, runner: fake().runner }), /selected twice/);
    });
});

describe("fleet stack selection", () => {
    const available = ["prod-b", "prod-a", "dev-a", "organization/repave/prod-c", "prod10"];
    it("named stacks in the order given, then each pattern's matches by name, no doubles", () => {
        assert.deepEqual(selectStacks(available, ["prod-c"], ["prod-*"]), ["prod-c", "prod-a", "prod-b"]);
        assert.deepEqual(selectStacks(available, [], ["dev-?,prod1*"]), ["dev-a", "prod10"]);
        assert.deepEqual(selectStacks(available, ["dev-a", "prod-a"], []), ["dev-a", "prod-a"]);
        assert.throws(() => selectStacks(available, [], ["prod.*"]), /no stack matches "prod\.\*"/, "a dot is a dot, not any character");
    });
    it("refuses an unknown stack and a pattern matching nothing, naming what the backend holds", () => {
        assert.throws(() => selectStacks(available, ["prod-x"], []), (e: DriverError) => e.exitCode === exitCodes.notFound && /stack "prod-x" does not exist in this backend \(it holds: dev-a, prod-a/.test(e.message));
        assert.throws(() => selectStacks(available, [], ["stage-*"]), /--stacks: no stack matches "stage-\*"/);
        assert.throws(() => selectStacks(available, [], []), /no stack selected/);
    });
});

describe("fleet invocation", () => {
    it("a pattern, several --stack, a wave flag or report is a fleet; one --stack is the single-stack path", () => {
        assert.ok(isFleetInvocation(["run", "--stacks", "prod-*"]));
        assert.ok(isFleetInvocation(["run", "--stack", "a", "--stack", "b"]));
        assert.ok(isFleetInvocation(["status", "--stack", "a", "--at", "2026-12-01T00:00:00Z"]));
        assert.ok(isFleetInvocation(["report", "--stack", "a"]));
        assert.ok(!isFleetInvocation(["run", "--stack", "a", "--if-older-than", "7d"]));
        assert.ok(isFleetInvocation(["recover", "--stacks", "a*"]), "recover after a killed fleet run");
        assert.ok(!isFleetInvocation(["recover", "--stack", "a", "--force"]));
        assert.ok(!isFleetInvocation(["rollback", "--stacks", "a*"]), "rollback stays one stack at a time");
        assert.ok(!isFleetInvocation(["status"]));
    });
});

describe("fleet summary", () => {
    const summary = async () => {
        const f = fake({ ms: { s2: 20, s3: 1 }, fail: { s3: new StackFailure(new DriverError("repave run: the candidate failed its gate | probe", exitCodes.gateFailed), [{ api: "hello", before: "gs3a", after: "gs3a" }]) } });
        let t = 0;
        return fleet("run", f.runner, { now: () => (t += 1000), fleetRunId: "4f9d3c2e-1111-4222-8333-944455556666" }).summary;
    };

    it("text: a headline, one row per stack with generation before → after, duration and gate, and the stop", async () => {
        const text = renderFleet(await summary(), "text");
        const lines = text.split("\n");
        assert.match(lines[0]!, /^fleet run 4f9d3c2e-1111-4222-8333-944455556666: 6 stack\(s\), 4 wave\(s\) \(canary 1, wave size 2, concurrency 2\), \d+\.\ds: 2 repaved, 1 failed, 3 untouched$/);
        assert.match(lines[1]!, /^wave\s+stack\s+result\s+generation \(before → after\)\s+duration\s+gate\s+note$/);
        assert.match(text, /\n1\s+s1\s+repaved\s+hello gs1a → gs1b\s+\d+\.\ds\s+passed\n/);
        assert.match(text, /\n2\s+s3\s+failed\s+hello gs3a\s+\d+\.\ds\s+failed\s+repave run: the candidate failed its gate \| probe\n/);
        assert.match(text, /\n3\s+s4\s+untouched\s+—\s+—\s+n\/a\n/);
        assert.equal(lines.at(-1), "stopped after wave 2: s3 failed its gate (exit 6); no further stack started. Left untouched: s4, s5, s6");
    });

    it("Markdown: a table a PR comment renders, pipes escaped, the stop in bold", async () => {
        const md = renderFleet(await summary(), "md");
        const lines = md.split("\n");
        assert.match(lines[0]!, /^### fleet run /);
        assert.equal(lines[2], "| wave | stack | result | generation (before → after) | duration | gate | note |");
        assert.equal(lines[3], "|---|---|---|---|---|---|---|");
        const s3 = lines.find((l) => l.includes("`s3`"))!;
        assert.equal(s3.split(/(?<!\\)\|/).length - 2, 7, `seven cells: ${s3}`);
        assert.match(s3, /failed its gate \\\| probe/);
        assert.equal(lines.at(-1), "**stopped after wave 2: s3 failed its gate (exit 6); no further stack started. Left untouched: s4, s5, s6**");
    });

    it("JSON: the whole summary, machine-readable", async () => {
        const s = await summary();
        const parsed = JSON.parse(renderFleet(s, "json")) as typeof s;
        assert.deepEqual(parsed, JSON.parse(JSON.stringify(s)));
        assert.equal(parsed.fleetRunId, "4f9d3c2e-1111-4222-8333-944455556666");
        assert.deepEqual(parsed.untouched, ["s4", "s5", "s6"]);
        assert.deepEqual(parsed.stacks.map((x) => x.durationSeconds === null), [false, false, false, true, true, true]);
        assert.equal(parsed.exitCode, exitCodes.gateFailed);
    });
});
