// The fleet driver killed mid-wave on the real engine: four local stacks, `repave run --stacks 'kill-*'` SIGKILLed
// while wave 2's two stacks are updating (both locked), then one `repave recover --stacks 'kill-*'`, then the same
// run with --if-older-than again: the canary repaved before the kill is skipped as fresh, the rest are repaved
// (a wave-2 stack whose orphaned engine finished its update before it died counts as repaved already), and every
// stack serves with 0 failed requests under light load throughout. recover refuses a stack whose update is live.
// And SIGTERM, by contrast: the running stack's engine cancels at a safe point and unlocks, nothing to recover.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FleetSummary } from "../../cli/fleet.ts";
import { ownerAlive, type LockOwner } from "../../cli/recover.ts";
import { createFleetProject, type FleetMember, type FleetProject } from "./fleet-project.ts";
import { providerProcessesIn, repoRoot, startLoad, verifiedCall, type LoadReport } from "./harness.ts";

const exit = { ok: 0, locked: 4 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("repave fleet: the driver killed mid-wave, one recover, a rerun", () => {
    const names = ["kill-1", "kill-2", "kill-3", "kill-4"];
    const waveArgs = ["--stacks", "kill-*", "--canary", "1", "--wave-size", "2", "--concurrency", "2"];
    let project: FleetProject;
    let members: FleetMember[];
    let auditFile: string;
    const lockDir = (stack: string) => join(project.dir, ".pulumi-state", ".pulumi", "locks", "organization", "repave", stack);
    const locks = (stack: string): LockOwner[] =>
        existsSync(lockDir(stack)) ? readdirSync(lockDir(stack)).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(join(lockDir(stack), f), "utf8")) as LockOwner) : [];
    const fleetJson = async (args: string[]) => {
        const out = join(project.dir, `summary-${Date.now()}.json`);
        const r = await project.fleet([...args, "--format", "json", "--out", out, "--audit-file", auditFile]);
        assert.ok(existsSync(out), `no summary (exit ${r.code}):\n${r.out}`);
        return { r, summary: JSON.parse(readFileSync(out, "utf8")) as FleetSummary };
    };
    const credentials = new Map<string, string>();
    const refreshCredentials = async () => {
        for (const m of members) credentials.set(m.stack, await m.credential());
    };

    before(async () => {
        project = await createFleetProject("fleet-kill", names);
        members = project.members;
        auditFile = join(project.dir, "audit.jsonl");
    });
    after(async () => {
        if (!project) return;
        // A failed run leaves the killed engines' locks (and a stand-in's), and destroy refuses a locked stack: its
        // processes would outlive the folder. Every engine of this test is dead by now.
        rmSync(join(project.dir, ".pulumi-state", ".pulumi", "locks"), { recursive: true, force: true });
        await project.cleanup();
    });

    it("SIGKILL while wave 2 runs → recover --stacks → run --if-older-than repaves only what is still due, 0 failed requests", async () => {
        const first = await fleetJson(["run", "--stacks", "kill-*", "--canary", "0", "--wave-size", "4", "--concurrency", "2"]);
        assert.equal(first.r.code, exit.ok, first.r.out);
        await refreshCredentials();
        const initial = new Map<string, string>();
        for (const m of members) initial.set(m.stack, (await m.hello()).generation);
        // A newer patched image for every stack: each is due under --if-older-than 1h until it runs that image.
        for (const m of members) m.addBuild("1.2.0");

        const loads = members.map((m) => ({ stack: m.stack, load: startLoad(m.port, () => credentials.get(m.stack)!, 300, "127.0.0.1", 5) }));
        let standIn: ChildProcess | undefined;
        try {
            // The fleet driver as a CI job runs it, killed with SIGKILL once both wave-2 stacks hold their lock.
            const driver = spawn(process.execPath, [join(repoRoot, "cli", "repave.ts"), "run", ...waveArgs, "--if-older-than", "1h", "--audit-file", auditFile, "--cwd", project.dir], {
                env: project.env,
                stdio: ["ignore", "pipe", "pipe"],
            });
            let out = "";
            driver.stdout.on("data", (d: Buffer) => (out += d.toString()));
            driver.stderr.on("data", (d: Buffer) => (out += d.toString()));
            const closed = new Promise<NodeJS.Signals | null>((res) => driver.on("close", (_code, signal) => res(signal)));
            const deadline = Date.now() + 150_000;
            while (!(out.includes("fleet: wave 2/3") && locks("kill-2").length && locks("kill-3").length)) {
                assert.ok(Date.now() < deadline, `wave 2 never held both locks:\n${out}`);
                assert.equal(driver.exitCode, null, `the fleet ended before wave 2 was under way:\n${out}`);
                await sleep(100);
            }
            await sleep(1500); // mid-changeover, not at the lock's first instant
            const orphans = [...locks("kill-2"), ...locks("kill-3")];
            driver.kill("SIGKILL");
            assert.equal(await closed, "SIGKILL");
            assert.match(out, /fleet: kill-1: repaved in/);
            assert.doesNotMatch(out, /fleet: kill-[234]: /, "wave 2 had not finished; wave 3 had not started");
            const killedAt = Date.now();
            // The engines live on in their own sessions (setsid): each dies at its next write to the closed pipe or
            // finishes first. Measured here, as the fleet header in cli/fleet.ts documents it.
            while (orphans.some((o) => ownerAlive(o))) {
                assert.ok(Date.now() - killedAt < 120_000, `an orphaned engine still runs 2 minutes after the kill: ${JSON.stringify(orphans)}`);
                await sleep(200);
            }
            console.log(`orphaned engines (pids ${orphans.map((o) => o.pid).join(", ")}) gone ${Date.now() - killedAt} ms after the kill; locks left: kill-2 ${locks("kill-2").length}, kill-3 ${locks("kill-3").length}`);

            // A live update on kill-4 (a process of this machine whose command line names pulumi holds its lock):
            // the fleet's recover refuses that stack and recovers the others, as `repave recover --stack` does.
            standIn = spawn(process.execPath, ["-e", "setTimeout(() => {}, 120000)", "pulumi-stand-in"], { stdio: "ignore" });
            mkdirSync(lockDir("kill-4"), { recursive: true });
            writeFileSync(join(lockDir("kill-4"), "3c9e1b7a-0000-4000-8000-000000000004.json"), JSON.stringify({ pid: standIn.pid, username: "ci", hostname: hostname(), timestamp: new Date().toISOString() }));
            const refused = await fleetJson(["recover", "--stacks", "kill-*"]);
            assert.equal(refused.r.code, exit.locked, refused.r.out);
            assert.deepEqual(refused.summary.stacks.map((s) => [s.stack, s.result]), [["kill-1", "recovered"], ["kill-2", "recovered"], ["kill-3", "recovered"], ["kill-4", "locked"]]);
            assert.match(refused.r.out, /fleet: kill-4: refused, nothing changed: an update is running: ci@/);
            assert.equal(locks("kill-4").length, 1, "the live update's lock is left alone");
            for (const stack of ["kill-2", "kill-3"]) assert.deepEqual(locks(stack), [], `${stack}: the dead engine's lock is cleared`);
            standIn.kill("SIGKILL");
            await new Promise((r) => standIn!.once("exit", r));

            // The one recover of the story, now that no update is live.
            const recovered = await fleetJson(["recover", "--stacks", "kill-*"]);
            assert.equal(recovered.r.code, exit.ok, recovered.r.out);
            assert.ok(recovered.summary.stacks.every((s) => s.result === "recovered"), recovered.r.out);
            // The dead engines' provider plugins (cwd the shared project folder) were stopped by the recovers.
            assert.deepEqual(providerProcessesIn(project.dir), [], "provider plugins left after recover");
            await refreshCredentials();
            const afterKill = new Map<string, string>();
            for (const m of members) afterKill.set(m.stack, (await m.hello()).generation);
            assert.notEqual(afterKill.get("kill-1"), initial.get("kill-1"), "the canary was repaved before the kill");
            assert.equal(afterKill.get("kill-4"), initial.get("kill-4"), "wave 3 never started");

            const rerun = await fleetJson(["run", ...waveArgs, "--if-older-than", "1h"]);
            assert.equal(rerun.r.code, exit.ok, rerun.r.out);
            const result = new Map(rerun.summary.stacks.map((s) => [s.stack, s.result]));
            assert.equal(result.get("kill-1"), "fresh", "repaved before the kill: not repaved again");
            assert.equal(result.get("kill-4"), "repaved", "never started: repaved now");
            for (const stack of ["kill-2", "kill-3"]) {
                // Repaved now unless its orphaned engine completed the changeover before it died.
                const done = afterKill.get(stack) !== initial.get(stack);
                assert.equal(result.get(stack), done ? "fresh" : "repaved", `${stack}: ${done ? "finished by its orphaned engine" : "cancelled with the driver"}`);
            }
            console.log(`rerun: ${JSON.stringify(Object.fromEntries(result))}`);
            await refreshCredentials();
            for (const m of members) {
                const now = await m.hello();
                assert.notEqual(now.generation, initial.get(m.stack), `${m.stack}: on a generation newer than the first deploy`);
                const call = await verifiedCall(m.port, await m.caPem(), credentials.get(m.stack)!);
                assert.equal(call.status, 200, `${m.stack} serves`);
                assert.equal(call.generation, now.generation);
            }
        } finally {
            standIn?.kill("SIGKILL");
            const reports: Array<[string, LoadReport]> = [];
            for (const { stack, load } of loads) reports.push([stack, await load.stop()]);
            console.log(`load: ${JSON.stringify(Object.fromEntries(reports))}`);
            for (const [stack, report] of reports) {
                assert.equal(report.failed, 0, `${stack}: ${JSON.stringify(report)}`);
                assert.ok(report.ok2xx > 0, `${stack}: no request went through`);
            }
        }
    });

    it("SIGTERM (a CI runner's cancel) is a clean stop: the running stack's engine cancels and unlocks, nothing more starts, no recover needed", async () => {
        const live = new Map<string, string>();
        for (const m of members) live.set(m.stack, (await m.hello()).generation);
        for (const m of members) m.addBuild("1.3.0");
        const out = join(project.dir, "summary-sigterm.json");
        const driver = spawn(process.execPath, [join(repoRoot, "cli", "repave.ts"), "run", ...waveArgs, "--format", "json", "--out", out, "--audit-file", auditFile, "--cwd", project.dir], {
            env: project.env,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let text = "";
        driver.stdout.on("data", (d: Buffer) => (text += d.toString()));
        driver.stderr.on("data", (d: Buffer) => (text += d.toString()));
        const closed = new Promise<number | null>((res) => driver.on("close", (code) => res(code)));
        const deadline = Date.now() + 60_000;
        while (locks("kill-1").length === 0) {
            assert.ok(Date.now() < deadline && driver.exitCode === null, `the canary never took its lock:\n${text}`);
            await sleep(100);
        }
        await sleep(1500);
        driver.kill("SIGTERM");
        assert.equal(await closed, 130, text);
        const summary = JSON.parse(readFileSync(out, "utf8")) as FleetSummary;
        assert.deepEqual(summary.stacks.map((s) => [s.stack, s.result]), [["kill-1", "cancelled"], ["kill-2", "untouched"], ["kill-3", "untouched"], ["kill-4", "untouched"]]);
        for (const m of members) {
            assert.deepEqual(locks(m.stack), [], `${m.stack}: no lock left, so no recover is needed`);
            assert.equal((await m.hello()).generation, live.get(m.stack), `${m.stack}: still on its generation`);
            const call = await verifiedCall(m.port, await m.caPem(), credentials.get(m.stack)!);
            assert.equal(call.status, 200, `${m.stack} serves`);
        }
    });
});
