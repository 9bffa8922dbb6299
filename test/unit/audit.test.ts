// Audit events: a versioned schema (and its committed JSON Schema), ids that tie a run together, and a tripwire
// for every secret repave mints that runs before anything is written - without turning a success into a failure.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AuditLog, auditEventSchema, secretsIn } from "../../cli/audit.ts";

const dir = mkdtempSync(join(tmpdir(), "repave-audit-"));
const repoRoot = join(import.meta.dirname, "..", "..");

describe("audit events", () => {
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("the committed JSON Schema is the one generated from the zod schema", () => {
        execFileSync(process.execPath, [join(repoRoot, "scripts", "audit-schema.ts"), "--check"], { stdio: "pipe" });
    });

    it("every event of a run carries its run id, the CD run's correlation id, the commit and the tool version", () => {
        const file = join(dir, "ids.jsonl");
        const log = new AuditLog("prod", "run", file, { GITHUB_RUN_ID: "4242", GITHUB_RUN_ATTEMPT: "2", GITHUB_SHA: "0123abc", GITHUB_ACTOR: "ci-bot" });
        log.write("run.start", "started", { details: { reasons: ["every run repaves"] } });
        log.write("run.update", "succeeded", { durationSeconds: 12.3456, updateVersion: 7 });
        const events = readFileSync(file, "utf8").trim().split("\n").map((l) => auditEventSchema.parse(JSON.parse(l)));
        assert.equal(new Set(events.map((e) => e.runId)).size, 1);
        assert.deepEqual([events[0]!.correlationId, events[0]!.commit, events[0]!.actor, events[0]!.command], ["github:4242/2", "0123abc", "ci-bot", "run"]);
        assert.match(events[0]!.tool.version, /^\d+\.\d+\.\d+$/);
        assert.deepEqual([events[1]!.durationSeconds, events[1]!.updateVersion], [12.346, 7]);
    });

    it("recognises every secret repave mints, and not the digests it records", () => {
        assert.deepEqual(secretsIn(`"token":"${randomBytes(32).toString("hex")}"`), ["an admin token"]);
        assert.deepEqual(secretsIn(`"c":"${randomBytes(32).toString("base64url")}"`), ["a credential"]);
        assert.deepEqual(secretsIn('"jwt":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."'), ["a JWT"]);
        assert.ok(secretsIn("-----BEGIN PRIVATE KEY-----\nMIG").includes("a private key"));
        assert.ok(secretsIn(`Authorization: Bearer ${"x".repeat(20)}`).includes("a bearer token"));
        assert.deepEqual(secretsIn(`"image":"sha256:${randomBytes(32).toString("hex")}","serial":"${randomBytes(16).toString("hex")}"`), [], "digests and serials are facts");
    });

    it("a tripped event is still written, its details withheld, with the step's own outcome", () => {
        const file = join(dir, "trip.jsonl");
        const log = new AuditLog("prod", "run", file, {});
        const adminToken = randomBytes(32).toString("hex");
        log.write("run.update", "succeeded", { details: { oops: adminToken } });
        const text = readFileSync(file, "utf8");
        assert.ok(!text.includes(adminToken), "the secret was written");
        const event = auditEventSchema.parse(JSON.parse(text));
        assert.equal(event.outcome, "succeeded", "a reporting bug does not turn a deploy into a failure");
        assert.deepEqual(event.details, { withheld: "looked like an admin token" });
    });
});
