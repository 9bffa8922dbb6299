// The driver's state-sensitive cases - plan, a second update while one holds the lock, recover after a SIGKILL,
// rollback - written once and run against each state backend: the file backend (driver, cancel and interrupt
// tests) and an S3 bucket (driver-s3.test.ts). What differs between backends is only where state and locks live,
// which LocalStack hides (locks(), stateRoot).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Plan } from "../../cli/plan.ts";
import { collect, processesWith, providerProcessesIn, startLoad, upKilledWhen, type LocalStack, type RunResult } from "./harness.ts";

export const exit = { ok: 0, failed: 1, repavePending: 2, attention: 3, locked: 4, notFound: 5, gateFailed: 6, policyViolation: 7, usage: 64 };

/** The driver against the stack (a test adds its own flags, e.g. --audit-file). */
export type Repave = (...args: string[]) => Promise<RunResult>;

export async function planJson(stack: LocalStack, repave: Repave): Promise<{ code: number | null; plan: Plan }> {
    const out = join(stack.dir, "plan.json");
    const r = await repave("plan", "--format", "json", "--out", out);
    assert.ok(r.code === exit.ok || r.code === exit.repavePending, r.out);
    return { code: r.code, plan: JSON.parse(readFileSync(out, "utf8")) as Plan };
}

/** plan on a stack never deployed: everything is new, exit 2. */
export async function planOnFreshStack(stack: LocalStack, repave: Repave): Promise<void> {
    const { code, plan } = await planJson(stack, repave);
    assert.equal(code, exit.repavePending);
    const api = plan.apis.find((a) => a.api === "hello")!;
    assert.equal(api.liveGeneration, null);
    assert.match(api.candidateGeneration ?? "", /^g[0-9a-f]{6}$/);
    assert.ok(api.created.some((c) => c.name === "hello-front-door"), "front door is created on the first deploy");
}

/** run deploys; plan after it keeps the front door and replaces the generation (image first built at `builtAt`). */
export async function runThenPlan(stack: LocalStack, repave: Repave, builtAt: Date): Promise<void> {
    const r = await repave("run");
    assert.equal(r.code, exit.ok, r.out);
    const live = await stack.hello();
    const { code, plan } = await planJson(stack, repave);
    assert.equal(code, exit.repavePending, "every-deploy: the next deploy repaves");
    const api = plan.apis.find((a) => a.api === "hello")!;
    assert.equal(api.liveGeneration, live.generation);
    assert.notEqual(api.candidateGeneration, live.generation);
    assert.ok(api.frontDoorKept, "front door kept");
    assert.ok(api.kept.some((k) => k.name === "hello-front-door"));
    assert.deepEqual(api.replaced.map((x) => x.name), ["hello-generation"]);
    assert.ok(api.certificate.rotated && api.credentialRotated);
    assert.equal(api.image.changed, false);
    // Its age is measured from when its content was first built, not from the deploy.
    const expectedDays = (Date.now() - builtAt.getTime()) / 86_400_000;
    assert.ok(Math.abs(Number.parseFloat(api.image.fromAge!) - expectedDays) < 0.2, `image age ${api.image.fromAge} vs ${expectedDays.toFixed(1)}d`);

    const md = await repave("plan", "--format", "md");
    assert.match(md.out, /\| front door \| kept \|/);
    assert.match(md.out, new RegExp(`${live.generation} → g[0-9a-f]{6}`));
}

/**
 * While a `repave run` holds the lock, a second run and a recover are both refused (exit 4), and the live update
 * completes. The bake is made long enough that the update is certainly still live when they ask: on a loaded
 * machine each driver takes seconds to start, and a 3 s bake had ended by then (recover: "lock was free").
 */
export async function secondRunAndRecoverRefused(stack: LocalStack): Promise<void> {
    const api = stack.api;
    stack.api = { ...api, keepWarmSeconds: 30 };
    stack.writeConfig();
    try {
        const child = stack.spawnRepave(["run"], true);
        let seen = "";
        const running = new Promise<void>((resolve) =>
            child.stderr!.on("data", (d: Buffer) => {
                seen += d.toString();
                if (/hello: candidate: starting/.test(seen)) resolve();
            }),
        );
        const finished = collect(child);
        await running;
        const [second, recovered] = await Promise.all([stack.repave(["run"]), stack.repave(["recover"])]);
        assert.equal(second.code, exit.locked, `a second run while one is live: exit 4 (locked)\n${second.out}`);
        assert.equal(recovered.code, exit.locked, `recover must refuse (exit 4):\n${recovered.out}`);
        assert.match(recovered.out, /an update is running: .*pid \d+/);
        const result = await finished;
        assert.equal(result.code, exit.ok, `the live update was broken by recover:\n${seen}${result.out}`);
    } finally {
        stack.api = api;
        stack.writeConfig();
    }
}

/**
 * `pulumi up` SIGKILLed (its whole process group) once its output matches `when`, on a deployed stack, towards a
 * new build 1.2.0: the engine refuses to run over the dead run's lock; `repave recover` (no --force) clears it,
 * stops the killed engine's provider plugins and says so; a rerun converges on 1.2.0 with only its processes left.
 */
export async function killedUpRecoverRerun(stack: LocalStack, when: RegExp): Promise<void> {
    const live = await stack.hello();
    stack.addBuild("1.2.0");
    await upKilledWhen(stack, when);
    await new Promise((r) => setTimeout(r, 500));

    // Refused: the dead run's lock, or - when the kill landed while the blob library wrote a metadata
    // sidecar of the file backend - a checkpoint that cannot be loaded. recover repairs both.
    const blocked = await stack.up();
    assert.notEqual(blocked.code, 0, "the engine refuses to run over the dead run's lock");
    assert.match(blocked.out, /locked|failed to load checkpoint/);

    // The kill left the dead run's lock (unless it landed on a sidecar write before the lock): recover must remove
    // it and say so - read back from the backend, not taken from a cancel's exit code.
    const lockedBefore = stack.locks();
    if (/locked/.test(blocked.out)) assert.ok(lockedBefore.length > 0, `the engine said locked, but no lock: ${blocked.out}`);
    // The killed engine's provider plugins live on (reparented to pid 1, cwd the project folder).
    const leftByKill = providerProcessesIn(stack.dir);
    const recovered = await stack.repave(["recover"]);
    assert.equal(recovered.code, exit.ok, recovered.out);
    assert.deepEqual(providerProcessesIn(stack.dir), [], `provider plugins left after recover (${leftByKill.length} before it)`);
    assert.match(recovered.out, new RegExp(`${leftByKill.length} orphaned plugin process\\(es\\) stopped`));
    assert.match(recovered.out, /lock cleared|damaged metadata file\(s\) removed/);
    assert.deepEqual(stack.locks(), [], "no lock is left");
    if (lockedBefore.length > 0) assert.match(recovered.out, /lock cleared/);
    else assert.match(recovered.out, /lock was free/);
    console.log(recovered.out.trim());

    const rerun = await stack.up();
    assert.equal(rerun.code, 0, rerun.out);
    const now = await stack.hello();
    assert.equal(now.imageVersion, "1.2.0");
    assert.notEqual(now.generation, live.generation);
    // Only the new generation runs: the old live one retired, and no orphan of the killed run survived.
    const running = processesWith(`@${stack.stateDir}`);
    assert.equal(running.length, 2, `processes left: ${running.join(", ")}`);
    assert.equal(processesWith(`--repave-generation=hello/${now.generation}@`).length, 2);
}

/** rollback from 1.2.0 redeploys 1.1.0 as a new gated generation, with 0 failed requests; returns its credential. */
export async function rollbackUnderLoad(stack: LocalStack, repave: Repave): Promise<string> {
    const current = await stack.hello();
    assert.equal(current.imageVersion, "1.2.0");
    let credential = await stack.credential();
    const load = startLoad(stack.port, () => credential);
    try {
        const r = await repave("rollback");
        assert.equal(r.code, exit.ok, r.out);
        const rolled = await stack.hello();
        assert.equal(rolled.imageVersion, "1.1.0");
        assert.notEqual(rolled.generation, current.generation);
        credential = await stack.credential();
        return credential;
    } finally {
        const report = await load.stop();
        console.log(`load: ${JSON.stringify(report)}`);
        assert.equal(report.failed, 0, JSON.stringify(report));
    }
}
