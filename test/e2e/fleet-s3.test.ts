// The fleet with its state in a real S3-compatible object store (versitygw on loopback, built from the Go module
// proxy): the driver lists the stacks from the bucket, repaves them in waves, skips one whose lock object another
// machine left in the bucket, and reports - where platform teams keep their state, not only in a file backend.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditEventSchema } from "../../cli/audit.ts";
import type { FleetSummary } from "../../cli/fleet.ts";
import { createFleetProject, type FleetProject } from "./fleet-project.ts";
import { gatewayBinary, gatewayVersion, startGateway, type Gateway } from "./fleet-s3-gateway.ts";

describe("repave fleet with state in an S3-compatible bucket (versitygw)", () => {
    const names = ["s3-1", "s3-2", "s3-3"];
    const root = mkdtempSync(join(tmpdir(), "repave-s3-root-"));
    let gateway: Gateway;
    let project: FleetProject;
    let auditFile: string;
    const summaryOf = async (args: string[]) => {
        const out = join(project.dir, `summary-${Date.now()}.json`);
        const r = await project.fleet([...args, "--format", "json", "--out", out, "--audit-file", auditFile]);
        assert.ok(existsSync(out), `no summary (exit ${r.code}):\n${r.out}`);
        return { r, summary: JSON.parse(readFileSync(out, "utf8")) as FleetSummary };
    };

    before(async () => {
        const { bin, buildSeconds } = await gatewayBinary();
        console.log(`versitygw ${gatewayVersion}: ${buildSeconds ? `built in ${buildSeconds.toFixed(1)} s` : "cached"}`);
        gateway = await startGateway(bin, root, ["state"]);
        project = await createFleetProject("fleet-s3", names, gateway.stateBackend("state").env);
        auditFile = join(project.dir, "audit.jsonl");
    });

    after(async () => {
        if (project) await project.cleanup();
        if (gateway) await gateway.stop();
        rmSync(root, { recursive: true, force: true });
    });

    it("the stacks live in the bucket, not in a file backend", () => {
        for (const name of names) assert.ok(existsSync(join(root, "state", ".pulumi", "stacks", "repave", `${name}.json`)), `${name}, initialised, is in the bucket`);
        assert.ok(!existsSync(join(project.dir, ".pulumi-state", ".pulumi")), "nothing in the project's file backend");
    });

    it("deploys the fleet in waves from the bucket's stack list", async () => {
        const { r, summary } = await summaryOf(["run", "--stacks", "s3-*", "--canary", "1", "--wave-size", "2", "--concurrency", "2"]);
        assert.equal(r.code, 0, r.out);
        assert.deepEqual(summary.waves, [["s3-1"], ["s3-2", "s3-3"]]);
        assert.deepEqual(summary.stacks.map((s) => s.result), ["repaved", "repaved", "repaved"]);
        for (const name of names) assert.ok(existsSync(join(root, "state", ".pulumi", "stacks", "repave", `${name}.json`)), `${name}'s checkpoint in the bucket`);
    });

    it("skips a stack whose lock object another machine left in the bucket, and repaves the rest", async () => {
        const before = (await project.members[1]!.hello()).generation;
        const lockDir = join(root, "state", ".pulumi", "locks", "organization", "repave", "s3-2");
        mkdirSync(lockDir, { recursive: true });
        writeFileSync(join(lockDir, "5a1c0f3e-0000-4000-8000-000000000002.json"), JSON.stringify({ pid: 4242, username: "someone", hostname: "another-machine", timestamp: new Date().toISOString() }));
        let result;
        try {
            result = await summaryOf(["run", "--stacks", "s3-*", "--canary", "1", "--wave-size", "2", "--concurrency", "2"]);
        } finally {
            rmSync(lockDir, { recursive: true, force: true });
        }
        const { r, summary } = result;
        assert.equal(r.code, 4, r.out);
        assert.match(r.out, /fleet: s3-2: skipped, locked by another update/);
        assert.deepEqual(summary.stacks.map((s) => s.result), ["repaved", "locked", "repaved"]);
        assert.equal((await project.members[1]!.hello()).generation, before, "the locked stack untouched");
    });

    it("plan (with a refresh), status and report read the fleet from the bucket", async () => {
        const plan = await summaryOf(["plan", "--stacks", "s3-*", "--refresh"]);
        assert.equal(plan.r.code, 2, plan.r.out); // every-deploy policy: the next deploy repaves
        assert.deepEqual(plan.summary.stacks.map((s) => s.result), ["repave-pending", "repave-pending", "repave-pending"]);
        const status = await summaryOf(["status", "--stacks", "s3-*", "--min-cert-validity", "1d"]);
        assert.equal(status.r.code, 0, status.r.out);
        const html = join(project.dir, "report.html");
        const report = await project.fleet(["report", "--stacks", "s3-*", "--audit-file", auditFile, "--out", html]);
        assert.equal(report.code, 0, report.out);
        const changeovers = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => auditEventSchema.parse(JSON.parse(l))).filter((e) => e.step === "run.changeover");
        assert.equal(readFileSync(html, "utf8").match(/data-kind="changeover"/g)?.length, changeovers.length);
        assert.equal(changeovers.length, 5, "3 first deploys, 2 repaves (s3-2 was locked)");
    });
});
