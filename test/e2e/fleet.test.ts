// A fleet on the real engine: six local stacks (own ports, own image folders) in one project and backend, repaved by
// `repave run --stacks 'fleet-*'` in waves under light load on every stack (0 failed requests), a stack locked by
// someone else skipped, a failed gate in wave 2 that stops wave 3 and leaves every stack serving, and `repave
// report`: every figure equals `repave status --format json` at the same instant, one timeline mark per changeover
// audit event, rendered by headless Chromium with no console error.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditEventSchema, type AuditEvent } from "../../cli/audit.ts";
import type { FleetSummary } from "../../cli/fleet.ts";
import { renderFleet } from "../../cli/fleet-summary.ts";
import type { ApiStatus } from "../../cli/status.ts";
import { chromiumPath, renderInChromium } from "./fleet-chromium.ts";
import { createFleetProject, type FleetMember, type FleetProject } from "./fleet-project.ts";
import { startLoad, verifiedCall, type LoadReport, type RunResult } from "./harness.ts";

const exit = { ok: 0, attention: 3, locked: 4, gateFailed: 6 };

describe("repave fleet on the real engine", () => {
    const names = ["fleet-1", "fleet-2", "fleet-3", "fleet-4", "fleet-5", "fleet-6"];
    let project: FleetProject;
    let dir: string;
    let members: FleetMember[];
    let auditFile: string;
    const fleet = (args: string[]) => project.fleet(args);
    /** Runs a fleet command whose JSON summary goes to a file (stdout also carries it; stderr the progress). */
    const fleetJson = async (args: string[]): Promise<{ r: RunResult; summary: FleetSummary }> => {
        const out = join(dir, `summary-${Date.now()}.json`);
        const r = await fleet([...args, "--format", "json", "--out", out, "--audit-file", auditFile]);
        let summary: FleetSummary;
        try {
            summary = JSON.parse(readFileSync(out, "utf8")) as FleetSummary;
        } catch {
            throw new Error(`no summary (exit ${r.code}):\n${r.out}`);
        }
        return { r, summary };
    };
    const audit = (): AuditEvent[] => readFileSync(auditFile, "utf8").trim().split("\n").map((l) => auditEventSchema.parse(JSON.parse(l)));
    const credentials = new Map<string, string>();
    const refreshCredentials = async () => {
        for (const m of members) credentials.set(m.stack, await m.credential());
    };
    /** Light load on every stack: 5 requests a second each, while the fleet runs. */
    const loadAll = () => members.map((m) => ({ stack: m.stack, load: startLoad(m.port, () => credentials.get(m.stack)!, 300, "127.0.0.1", 5) }));
    const stopAll = async (loads: ReturnType<typeof loadAll>) => {
        const reports: Array<[string, LoadReport]> = [];
        for (const { stack, load } of loads) reports.push([stack, await load.stop()]);
        console.log(`load: ${JSON.stringify(Object.fromEntries(reports))}`);
        return reports;
    };

    before(async () => {
        project = await createFleetProject("fleet", names);
        ({ dir, members } = project);
        auditFile = join(dir, "audit.jsonl");
        // A stack of another project's naming that no pattern below selects: selection must leave it alone.
        assert.equal((await members[0]!.pulumi(["stack", "init", "other"])).code, 0);
    });

    after(async () => project && (await project.cleanup()));

    it("refuses a pattern matching no stack, naming the stacks there are", async () => {
        const r = await fleet(["run", "--stacks", "prod-*"]);
        assert.equal(r.code, 5, r.out);
        assert.match(r.out, /--stacks: no stack matches "prod-\*" \(this backend holds: fleet-1, fleet-2, fleet-3, fleet-4, fleet-5, fleet-6, other\)/);
    });

    it("the first deploy of the fleet: every stack from nothing to a generation, the canary first", async () => {
        const { r, summary } = await fleetJson(["run", "--stacks", "fleet-*", "--canary", "1", "--wave-size", "5", "--concurrency", "2"]);
        assert.equal(r.code, exit.ok, r.out);
        assert.deepEqual(summary.waves, [["fleet-1"], ["fleet-2", "fleet-3", "fleet-4", "fleet-5", "fleet-6"]]);
        for (const s of summary.stacks) {
            assert.equal(s.result, "repaved", `${s.stack}: ${s.message}`);
            assert.equal(s.apis[0]!.before, null);
            assert.match(s.apis[0]!.after ?? "", /^g[0-9a-f]{6}$/);
        }
        assert.ok(!summary.stacks.some((s) => s.stack === "other"));
        await refreshCredentials();
    });

    it("repaves in waves under light load on every stack, 0 failed requests; a stack locked by someone else is skipped", async () => {
        const live = new Map<string, string>();
        for (const m of members) live.set(m.stack, (await m.hello()).generation);
        // fleet-5's lock, as another machine's `pulumi up` leaves it in a file backend (pkg/backend/diy/lock.go).
        const lockDir = join(dir, ".pulumi-state", ".pulumi", "locks", "organization", "repave", "fleet-5");
        mkdirSync(lockDir, { recursive: true });
        const lock = join(lockDir, "7d0d6c9e-0000-4000-8000-000000000001.json");
        writeFileSync(lock, JSON.stringify({ pid: 4242, username: "someone", hostname: "another-machine", timestamp: new Date().toISOString() }));
        const loads = loadAll();
        let result;
        try {
            result = await fleetJson(["run", "--stack", "fleet-1", "--stacks", "fleet-*", "--canary", "1", "--wave-size", "2", "--concurrency", "2"]);
        } finally {
            rmSync(lock);
            for (const [stack, report] of await stopAll(loads)) {
                assert.equal(report.failed, 0, `${stack}: ${JSON.stringify(report)}`);
                assert.ok(report.ok2xx > 0, `${stack}: no request went through`);
            }
        }
        const { r, summary } = result;
        assert.equal(r.code, exit.locked, `nothing failed, but a stack was not done:\n${r.out}`);
        assert.match(r.out, /fleet: fleet-5: skipped, locked by another update \(left untouched; if that update is dead, `repave recover --stack fleet-5` clears it\)/);
        assert.deepEqual(summary.waves, [["fleet-1"], ["fleet-2", "fleet-3"], ["fleet-4", "fleet-5"], ["fleet-6"]]);
        assert.deepEqual(summary.stacks.map((s) => [s.stack, s.result]), [["fleet-1", "repaved"], ["fleet-2", "repaved"], ["fleet-3", "repaved"], ["fleet-4", "repaved"], ["fleet-5", "locked"], ["fleet-6", "repaved"]]);
        for (const s of summary.stacks.filter((x) => x.result === "repaved")) {
            assert.equal(s.apis[0]!.before, live.get(s.stack));
            assert.notEqual(s.apis[0]!.after, live.get(s.stack));
            assert.equal(s.apis[0]!.after, (await members.find((m) => m.stack === s.stack)!.hello()).generation, "the summary's after is what serves");
            assert.equal(s.gate, "passed");
            assert.ok(s.durationSeconds! > 0);
        }
        assert.equal((await members[4]!.hello()).generation, live.get("fleet-5"), "the locked stack was left untouched");

        // The waves in time, from the audit trail: no stack of a wave started before the previous wave ended.
        const events = audit().filter((e) => e.fleetRunId === summary.fleetRunId);
        assert.equal(new Set(events.map((e) => e.stack)).size, 6, "every stack's events carry the fleet run id");
        assert.equal(new Set(events.map((e) => e.runId)).size, 6, "each stack its own run id");
        const startOf = (stack: string) => Date.parse(events.find((e) => e.stack === stack && e.step === "run.start")!.time);
        const endOf = (stack: string) => Date.parse(events.find((e) => e.stack === stack && e.step === "run.update" && e.outcome === "succeeded")!.time);
        for (const [earlier, later] of [[["fleet-1"], ["fleet-2", "fleet-3"]], [["fleet-2", "fleet-3"], ["fleet-4"]], [["fleet-4"], ["fleet-6"]]] as const) {
            for (const e of earlier) for (const l of later) assert.ok(endOf(e) <= startOf(l), `${e} ended before ${l} started`);
        }
        await refreshCredentials();
    });

    it("a failed gate in wave 2 stops wave 3; the stacks left untouched are named; every stack still serves", async () => {
        const live = new Map<string, string>();
        for (const m of members) live.set(m.stack, (await m.hello()).generation);
        // fleet-3 (wave 2) gets a build whose auth is broken: its gate must refuse it.
        members[2]!.addBuild("9.0.0", (src) => src.replace('if (auth === "missing")', 'if (false && auth === "missing")'));
        const loads = loadAll();
        let result;
        try {
            result = await fleetJson(["run", "--stacks", "fleet-*", "--canary", "1", "--wave-size", "2", "--concurrency", "2"]);
        } finally {
            members[2]!.removeBuild("9.0.0");
            for (const [stack, report] of await stopAll(loads)) assert.equal(report.failed, 0, `${stack}: ${JSON.stringify(report)}`);
        }
        const { r, summary } = result;
        console.log(renderFleet(summary, "text")); // as a person reads it in a CI log
        assert.equal(r.code, exit.gateFailed, r.out);
        assert.deepEqual(summary.stacks.map((s) => [s.stack, s.result, s.gate]), [
            ["fleet-1", "repaved", "passed"], ["fleet-2", "repaved", "passed"], ["fleet-3", "failed", "failed"],
            ["fleet-4", "untouched", "n/a"], ["fleet-5", "untouched", "n/a"], ["fleet-6", "untouched", "n/a"],
        ]);
        assert.deepEqual(summary.stopped, { wave: 2, reason: "fleet-3 failed its gate (exit 6)" });
        assert.deepEqual(summary.untouched, ["fleet-4", "fleet-5", "fleet-6"]);
        assert.match(r.out, /fleet: stopped after wave 2: fleet-3 failed its gate \(exit 6\); no further stack started\. Left untouched: fleet-4, fleet-5, fleet-6/);
        assert.deepEqual(summary.stacks[2]!.apis, [{ api: "hello", before: live.get("fleet-3"), after: live.get("fleet-3") }], "fleet-3 still on its generation");
        await refreshCredentials();
        for (const m of members) {
            const now = await m.hello();
            if (["fleet-3", "fleet-4", "fleet-5", "fleet-6"].includes(m.stack)) assert.equal(now.generation, live.get(m.stack), `${m.stack} untouched`);
            const call = await verifiedCall(m.port, await m.caPem(), credentials.get(m.stack)!);
            assert.equal(call.status, 200, `${m.stack} serves`);
            assert.equal(call.generation, now.generation);
        }
        // The text summary of the same run, as a person reads it in a CI log.
        const text = await fleet(["status", "--stacks", "fleet-*", "--max-image-age", "3650d", "--min-cert-validity", "1d", "--audit-file", auditFile]);
        assert.equal(text.code, exit.ok, text.out);
        assert.match(text.out, /^fleet status [0-9a-f-]{36}: 6 stack\(s\) \(concurrency 2\), [\d.]+s: 6 ok$/m);
    });

    it("report: every figure equals repave status --format json at the same instant, one mark per changeover event, no console error in Chromium", async () => {
        const at = new Date(Date.now() + 3 * 86_400_000).toISOString(); // three days on: some figures turn amber
        const html = join(dir, "report.html");
        // A policy of 4 days: three-day-old generations are amber, the 7-day certificates red, the images green.
        const policy = ["--max-age", "4d", "--max-image-age", "30d", "--min-cert-validity", "7d"];
        const report = await fleet(["report", "--stacks", "fleet-*", "--audit-file", auditFile, "--at", at, "--out", html, ...policy]);
        assert.equal(report.code, exit.ok, report.out);
        const { r: status, summary } = await fleetJson(["status", "--stacks", "fleet-*", "--at", at, ...policy]);
        assert.ok(status.code === exit.ok || status.code === exit.attention, status.out);
        const page = readFileSync(html, "utf8");
        const fields = ["generation", "imageVersion", "certSerial", "generationAge", "imageAge", "credentialAge", "certExpiresIn"] as const;
        const secondsOf = { generationAge: "generationAge", imageAge: "imageAge", credentialAge: "credentialAge", certExpiresIn: "certRemaining" } as const;
        let compared = 0;
        for (const s of summary.stacks) {
            const rows = s.data as ApiStatus[];
            assert.ok(rows.length > 0, s.stack);
            for (const row of rows) {
                const tr = new RegExp(`<tr class="api" data-stack="${s.stack}" data-api="${row.api}" data-state="([a-z]+)">(.*?)</tr>`).exec(page);
                assert.ok(tr, `${s.stack}/${row.api} on the page`);
                assert.equal(tr[1], row.problems.length ? "attention" : "ok");
                for (const f of fields) {
                    const td = new RegExp(`<td data-field="${f}"(?: data-seconds="([^"]*)" data-level="([a-z]+)")?>(.*?)</td>`).exec(tr[2]!);
                    assert.ok(td, `${s.stack}/${row.api}: ${f} on the page`);
                    assert.equal(td[3]!.replace(/<[^>]+>/g, ""), row[f], `${s.stack}/${row.api}: ${f}`);
                    const expectedLevel = { generationAge: "amber", credentialAge: "amber", imageAge: "green", certExpiresIn: "red" }[f as string];
                    if (expectedLevel) assert.equal(td[2], expectedLevel, `${s.stack}/${row.api}: ${f} level`);
                    if (f in secondsOf) assert.equal(td[1], String(row.seconds[secondsOf[f as keyof typeof secondsOf]] ?? ""), `${s.stack}/${row.api}: ${f} seconds`);
                    compared++;
                }
            }
            // The same figures as the single-stack command, for what does not move with the clock.
            const singleOut = join(dir, `status-${s.stack}.json`);
            const single = await fleet(["status", "--stack", s.stack, "--format", "json", "--out", singleOut, "--audit-file", auditFile]);
            assert.ok(single.code === exit.ok || single.code === exit.attention, single.out);
            const one = JSON.parse(readFileSync(singleOut, "utf8")) as ApiStatus[];
            assert.deepEqual(one.map((x) => [x.api, x.generation, x.imageVersion, x.certSerial, x.url]), rows.map((x) => [x.api, x.generation, x.imageVersion, x.certSerial, x.url]));
            // One timeline mark per changeover audit event of the stack; a failed gate is a mark of its own.
            const events = audit().filter((e) => e.stack === s.stack);
            const changeovers = events.filter((e) => e.step === "run.changeover" && e.outcome === "succeeded");
            const section = page.slice(page.indexOf(`<section class="stack" data-stack="${s.stack}">`));
            const own = section.slice(0, section.indexOf("</section>"));
            const marks = [...own.matchAll(/data-kind="changeover" data-stack="[^"]+" data-api="([^"]+)" data-time="([^"]+)"/g)];
            assert.equal(marks.length, changeovers.length, `${s.stack}: marks`);
            assert.deepEqual(marks.map((m) => m[2]).sort(), changeovers.map((e) => e.time).sort());
            const gateFailures = events.filter((e) => e.step === "run.update" && e.outcome === "failed" && e.exitCode === exit.gateFailed).length;
            assert.equal(own.match(/data-kind="failed"/g)?.length ?? 0, gateFailures, `${s.stack}: failed marks`);
        }
        assert.equal(compared, 6 * fields.length);
        assert.equal(page.match(/data-kind="changeover"/g)?.length, audit().filter((e) => e.step === "run.changeover").length);

        if (!chromiumPath) {
            console.log("chromium: NOT RUN - /usr/bin/chromium is missing (scripts/debian-packages.sh installs it as root)");
            return;
        }
        const rendered = await renderInChromium(`file://${html}`, [
            "document.querySelectorAll('g.mark.changeover').length",
            "document.querySelectorAll('tr.api').length",
            "[...document.querySelectorAll('.level.red, .level.amber, .level.green')].every((e) => e.getBoundingClientRect().width > 0)",
        ]);
        assert.deepEqual(rendered.errors, [], "no console error, exception or blocked load");
        assert.deepEqual(rendered.values, [audit().filter((e) => e.step === "run.changeover").length, 6, true]);
        assert.ok(rendered.screenshot.length > 10_000, "a screenshot with something on it");
        const shot = process.env["REPAVE_REPORT_SCREENSHOT"];
        if (shot) {
            mkdirSync(dirname(shot), { recursive: true });
            writeFileSync(shot, rendered.screenshot);
            writeFileSync(shot.replace(/\.png$/, ".html"), page);
        }
    });
});
