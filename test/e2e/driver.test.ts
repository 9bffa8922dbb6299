// The repave driver on the real engine against the local target: plan, run (--if-older-than both ways), status
// exit codes, rollback under load, audit events, clear errors.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditEventSchema } from "../../cli/audit.ts";
import { LocalStack, repoRoot } from "./harness.ts";
import { exit, planOnFreshStack, rollbackUnderLoad, runThenPlan } from "./state-cases.ts";

describe("repave driver", () => {
    let stack: LocalStack;
    let auditFile: string;
    const secrets: string[] = [];
    // The sample build's content was first built three days ago: image age is measured from that build.
    const builtAt = new Date(Date.now() - 3 * 86_400_000);

    before(async () => {
        stack = await LocalStack.create("driver");
        auditFile = join(stack.dir, "audit.jsonl");
        stack.prebuild("1.1.0", builtAt);
    });
    after(async () => stack && (await stack.cleanup()));

    const repave = async (...args: string[]) => {
        const r = await stack.repave([...args, "--audit-file", auditFile]);
        return r;
    };
    it("plan on a fresh stack: everything is new, exit 2", () => planOnFreshStack(stack, repave));

    it("run deploys; plan after it keeps the front door and replaces the generation, with the right ages", async () => {
        await runThenPlan(stack, repave, builtAt);
        secrets.push(await stack.credential());
    });

    it("run --if-older-than: a no-op when fresh, a repave when old or when a newer image waits", async () => {
        const before = await stack.hello();
        const fresh = await repave("run", "--if-older-than", "1h");
        assert.equal(fresh.code, exit.ok, fresh.out);
        assert.match(fresh.out, /nothing to do/);
        assert.equal((await stack.hello()).generation, before.generation, "no new generation");

        await new Promise((r) => setTimeout(r, 2_000));
        const old = await repave("run", "--if-older-than", "1s");
        assert.equal(old.code, exit.ok, old.out);
        const second = await stack.hello();
        assert.notEqual(second.generation, before.generation, "older than 1s: repaved");
        secrets.push(await stack.credential());

        stack.addBuild("1.2.0");
        const patched = await repave("run", "--if-older-than", "1h");
        assert.equal(patched.code, exit.ok, patched.out);
        const third = await stack.hello();
        assert.equal(third.imageVersion, "1.2.0", "a newer patched image repaves even when everything is fresh");
        secrets.push(await stack.credential());
    });

    it("status exits 0 within policy and 3 past it", async () => {
        const ok = await repave("status", "--max-image-age", "3650d", "--min-cert-validity", "1d");
        assert.equal(ok.code, exit.ok, ok.out);
        assert.match(ok.out, /hello\s+g[0-9a-f]{6}/);
        const stale = await repave("status", "--max-image-age", "1s", "--format", "json");
        assert.equal(stale.code, exit.attention, stale.out);
        assert.match(stale.out, /publish a patched build/);
    });

    it("rollback redeploys the previous image as a new gated generation, with 0 failed requests", async () => {
        secrets.push(await rollbackUnderLoad(stack, repave));
    });

    it("audit lines parse against the schema and hold no secret", () => {
        const lines = readFileSync(auditFile, "utf8").trim().split("\n");
        assert.ok(lines.length >= 10, `only ${lines.length} audit lines`);
        const steps = new Set<string>();
        for (const line of lines) {
            const event = auditEventSchema.parse(JSON.parse(line));
            steps.add(`${event.step}:${event.outcome}`);
            for (const s of secrets) assert.ok(!line.includes(s), "a credential leaked into the audit log");
            assert.doesNotMatch(line, /PRIVATE KEY|ciphertext/);
        }
        for (const expected of ["plan:ok", "run.start:started", "run.skip:skipped", "run.changeover:succeeded", "status:attention", "rollback:succeeded"]) {
            assert.ok(steps.has(expected), `no ${expected} event (saw ${[...steps].join(", ")})`);
        }
    });

    it("refuses a bad flag, a bad duration and a missing stack with a clear message", async () => {
        const flag = await stack.repave(["run", "--if-older", "7d"]);
        assert.equal(flag.code, exit.usage);
        assert.match(flag.out, /Unknown option '--if-older'/);
        const dur = await stack.repave(["run", "--if-older-than", "a week"]);
        assert.equal(dur.code, exit.usage);
        assert.match(dur.out, /--if-older-than: "a week" is not a duration/);
        rmSync(auditFile, { force: true });
        const missing = await repave("status", "--stack", "nope");
        assert.equal(missing.code, exit.notFound, missing.out);
        assert.match(missing.out, /stack "nope" does not exist/);
        // A failed command is an audit event too, with its exit code.
        const failed = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => auditEventSchema.parse(JSON.parse(l)));
        assert.deepEqual(failed.map((e) => [e.command, e.step, e.outcome, e.exitCode]), [["status", "command", "failed", exit.notFound]]);
    });

    it("says which kind of failure with its own exit code: gate failed (6), policy violation (7), backend unreadable (1, never 'nothing deployed')", async () => {
        const live = (await stack.hello()).generation;
        // A candidate whose auth is broken: the gate refuses it, the driver says so with exit 6.
        stack.addBuild("9.0.0", (src) => src.replace('if (auth === "missing")', 'if (false && auth === "missing")'));
        try {
            const gate = await repave("run");
            assert.equal(gate.code, exit.gateFailed, gate.out);
            assert.match(gate.out, /failed its gate; traffic stays on the live generation/);
            assert.equal((await stack.hello()).generation, live);
        } finally {
            stack.removeBuild("9.0.0");
        }
        // A policy pack that refuses the plan: exit 7, nothing changed.
        stack.writeConfig(JSON.stringify([{ ...stack.api, certificate: { domains: ["localhost"], lifetimeDays: 200 } }]));
        try {
            const policy = await repave("plan", "--policy-pack", join(repoRoot, "policy"));
            assert.equal(policy.code, exit.policyViolation, policy.out);
            assert.match(policy.out, /refused by the policy pack \(repave-cert-lifetime\)/);
        } finally {
            stack.writeConfig();
        }
        // A backend that cannot be read is an error, never "nothing deployed" (which would make --if-older-than repave).
        const checkpoint = join(stack.dir, ".pulumi-state", ".pulumi", "stacks", "repave", `${stack.stack}.json`);
        const saved = readFileSync(checkpoint);
        writeFileSync(checkpoint, "{ this is not a checkpoint");
        const auditBefore = readFileSync(auditFile, "utf8").length;
        try {
            const unreadable = await stack.repave(["run", "--if-older-than", "1h", "--audit-file", auditFile]);
            assert.equal(unreadable.code, exit.failed, unreadable.out);
            assert.match(unreadable.out, /reading what e2e serves failed/, "the stack's facts were unreadable, and the driver says so");
            assert.doesNotMatch(readFileSync(auditFile, "utf8").slice(auditBefore), /"run\.start"/, "no update was started on unreadable facts");
        } finally {
            writeFileSync(checkpoint, saved);
        }
        assert.equal((await stack.hello()).generation, live);
    });
});
