// `repave report` without an engine: the green/amber/red rule against policy, the timeline read from audit events
// (one mark per changeover event, failed updates apart, lock refusals not drawn), and a page that is
// self-contained (no external reference, no script) and carries every figure of the status rows it was given.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuditLog, type AuditEvent } from "../../cli/audit.ts";
import { auditEventsOf } from "../../cli/report-command.ts";
import { ageLevel, remainingLevel, renderReport, timelineOf } from "../../cli/report.ts";
import { statusOf } from "../../cli/status.ts";
import type { ApiFacts } from "../../cli/facts.ts";

const day = 86_400;
const policy = { maxGenerationAge: 7 * day, maxImageAge: 30 * day, minCertValidity: 7 * day };
const now = new Date("2026-11-26T12:00:00Z");

describe("report levels", () => {
    it("ages: green under 75% of the maximum, amber up to it, red past it or unknown", () => {
        assert.equal(ageLevel(5 * day, 7 * day), "green");
        assert.equal(ageLevel(5.25 * day, 7 * day), "amber");
        assert.equal(ageLevel(7 * day, 7 * day), "amber", "at the maximum: not yet past policy (status agrees)");
        assert.equal(ageLevel(7 * day + 1, 7 * day), "red");
        assert.equal(ageLevel(null, 7 * day), "red");
    });
    it("certificate: red under the minimum validity, amber under twice it, unknown red", () => {
        assert.equal(remainingLevel(15 * day, 7 * day), "green");
        assert.equal(remainingLevel(13 * day, 7 * day), "amber");
        assert.equal(remainingLevel(6 * day, 7 * day), "red");
        assert.equal(remainingLevel(null, 7 * day), "red");
    });
});

/** Audit events as the driver writes them: a deploy, a repave, a failed gate, a lock refusal; another stack's too. */
function trail(): AuditEvent[] {
    const lines: AuditEvent[] = [];
    const log = (stack: string) => new AuditLog(stack, "run", "/dev/null", {}, "0b0e6c2a-1111-4222-8333-944455556666");
    const deploy = log("prod-a");
    deploy.write("run.start", "started");
    deploy.write("run.update", "succeeded", { durationSeconds: 21.5, updateVersion: 1 });
    deploy.write("run.changeover", "succeeded", { api: "hello", generation: "g111111", details: { from: null, to: "g111111", image: { to: "1.1.0" } } });
    const repave = log("prod-a");
    repave.write("run.update", "succeeded", { durationSeconds: 16.25, updateVersion: 2 });
    repave.write("run.changeover", "succeeded", { api: "hello", generation: "g222222", details: { from: "g111111", to: "g222222", image: { to: "1.2.0" } } });
    repave.write("run.changeover", "succeeded", { api: "orders", generation: "g333333", details: { from: "g000000", to: "g333333", image: { to: "2.0.0" } } });
    const gate = log("prod-a");
    gate.write("run.update", "failed", { durationSeconds: 9, exitCode: 6 });
    const locked = log("prod-a");
    locked.write("run.update", "failed", { durationSeconds: 0.4, exitCode: 4 });
    const other = log("prod-b");
    other.write("run.changeover", "succeeded", { api: "hello", generation: "g999999", details: { from: null, to: "g999999" } });
    for (const l of [deploy, repave, gate, locked, other]) lines.push(...l.events);
    return lines;
}

describe("report timeline", () => {
    it("one mark per changeover event with the update's duration; a failed gate is a mark of its own; a lock refusal is none", () => {
        const marks = timelineOf(trail(), "prod-a");
        assert.deepEqual(
            marks.map((m) => [m.kind, m.api, m.from, m.to, m.durationSeconds, m.gate]),
            [
                ["changeover", "hello", null, "g111111", 21.5, "passed"],
                ["changeover", "hello", "g111111", "g222222", 16.25, "passed"],
                ["changeover", "orders", "g000000", "g333333", 16.25, "passed"],
                ["failed", null, null, null, 9, "failed"],
            ],
        );
        assert.equal(timelineOf(trail(), "prod-b").length, 1);
    });

    it("a fleet run's events carry its fleetRunId; a single-stack run's have none", () => {
        assert.ok(trail().every((e) => e.fleetRunId === "0b0e6c2a-1111-4222-8333-944455556666"));
        const single = new AuditLog("prod-a", "run", "/dev/null", {});
        single.write("run.start", "started");
        assert.ok(!("fleetRunId" in single.events[0]!));
    });

    it("reads a JSONL trail, leaving out lines that are not repave events", () => {
        const text = [...trail().map((e) => JSON.stringify(e)), "not json", JSON.stringify({ schema: "other" }), ""].join("\n");
        assert.equal(auditEventsOf(text).length, trail().length);
    });
});

describe("report page", () => {
    const facts: ApiFacts = {
        api: "hello", url: "https://hello.example.test", generation: "g222222", previousGeneration: "g111111", previousImageVersion: "1.1.0",
        imageVersion: "1.2.0", imageHash: "sha256:aa", imageCreatedAt: "2026-10-01T12:00:00Z", certSerial: "0a1b", certNotAfter: "2026-12-06T12:00:00Z",
        credentialCreatedAt: "2026-11-20T12:00:00Z", generationCreatedAt: "2026-11-20T12:00:00Z",
    };
    const rows = statusOf([facts, { ...facts, api: "orders<x>", certNotAfter: null as unknown as string }], policy, now);
    const html = renderReport({ generatedAt: now, policy, stacks: [{ stack: "prod-a", rows, error: null, marks: timelineOf(trail(), "prod-a") }, { stack: "prod-c", rows: null, error: "reading what prod-c serves failed", marks: [] }] });

    const field = (api: string, name: string) => {
        const row = new RegExp(`<tr class="api" data-stack="prod-a" data-api="${api}"[^>]*>(.*?)</tr>`).exec(html)?.[1] ?? "";
        const m = new RegExp(`<td data-field="${name}"(?: data-seconds="([^"]*)" data-level="([^"]*)")?>(.*?)</td>`).exec(row);
        return { seconds: m?.[1], level: m?.[2], text: m?.[3]?.replace(/<[^>]+>/g, "") };
    };

    it("carries every figure of the status rows, with its seconds and level", () => {
        const [hello] = rows;
        assert.equal(field("hello", "generation").text, hello!.generation);
        assert.equal(field("hello", "imageVersion").text, "1.2.0");
        assert.equal(field("hello", "certSerial").text, "0a1b");
        assert.deepEqual(field("hello", "generationAge"), { seconds: String(6 * day), level: "amber", text: "6.0d" });
        assert.deepEqual(field("hello", "imageAge"), { seconds: String(56 * day), level: "red", text: "56.0d" });
        assert.deepEqual(field("hello", "credentialAge"), { seconds: String(6 * day), level: "amber", text: "6.0d" });
        assert.deepEqual(field("hello", "certExpiresIn"), { seconds: String(10 * day), level: "amber", text: "10.0d" });
        assert.match(html, /<li data-field="problem">image 1\.2\.0 is 56\.0d old/);
    });

    it("escapes what the stacks report, and says unknown (red) for a missing expiry", () => {
        assert.match(html, /data-api="orders&lt;x&gt;"/);
        assert.doesNotMatch(html, /orders<x>/);
        assert.deepEqual(field("orders&lt;x&gt;", "certExpiresIn"), { seconds: "", level: "red", text: "unknown" });
    });

    it("one timeline mark per changeover event and per failed update; an unreadable stack says why", () => {
        assert.equal(html.match(/data-kind="changeover"/g)?.length, 3);
        assert.equal(html.match(/data-kind="failed"/g)?.length, 1);
        assert.match(html, /<g class="mark changeover" data-kind="changeover" data-stack="prod-a" data-api="hello" data-time="[^"]+" data-from="g111111" data-to="g222222" data-duration="16.25" data-gate="passed">/);
        assert.match(html, /<section class="stack" data-stack="prod-c">\n<h2>prod-c<\/h2>\n<p class="error" data-field="error">reading what prod-c serves failed<\/p>/);
    });

    it("is self-contained: no script, no external reference, a policy that forbids loading anything", () => {
        assert.doesNotMatch(html, /<script|<link|@import|url\(|src=|https?:\/\/(?!hello\.example\.test)/i);
        assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    });
});
