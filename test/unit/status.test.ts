// `repave status` on facts as the targets report them: what is unknown reads "unknown" and needs attention - it is
// never the epoch (a cert-manager stack exports no expiry; reading null as 1970 made every status exit 3).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ApiFacts } from "../../cli/facts.ts";
import { staleness } from "../../cli/run.ts";
import { statusOf } from "../../cli/status.ts";

const now = new Date("2026-11-26T12:00:00Z");
const facts: ApiFacts = {
    api: "orders", url: "https://orders.example.com", generation: "gaaaaaa", previousGeneration: null, previousImageVersion: null,
    imageVersion: "1.1.0", imageHash: "sha256:aa", imageCreatedAt: "2026-11-20T12:00:00Z", certSerial: "01",
    certNotAfter: "2026-12-26T12:00:00Z", credentialCreatedAt: "2026-11-25T12:00:00Z", generationCreatedAt: "2026-11-25T12:00:00Z",
};
const policy = { maxGenerationAge: 7 * 86_400, maxImageAge: 30 * 86_400, minCertValidity: 7 * 86_400 };

describe("repave status", () => {
    it("reports ages in seconds for machines and in words for people", () => {
        const [row] = statusOf([facts], policy, now);
        assert.deepEqual(row!.problems, []);
        assert.deepEqual(row!.seconds, { generationAge: 86_400, imageAge: 6 * 86_400, credentialAge: 86_400, certRemaining: 30 * 86_400 });
        assert.equal(row!.certExpiresIn, "30.0d");
    });

    it("an expiry the stack does not report is 'unknown' and needs attention, not the epoch", () => {
        const [row] = statusOf([{ ...facts, certNotAfter: null as unknown as string }], policy, now);
        assert.equal(row!.certExpiresIn, "unknown");
        assert.equal(row!.seconds.certRemaining, null);
        assert.deepEqual(row!.problems, ["certificate expiry unknown: the stack does not report it"]);
        assert.doesNotMatch(row!.problems.join(" "), /expires in -/, "not read as long expired");
        assert.equal(staleness({ ...facts, certNotAfter: null as unknown as string }, 7 * 86_400, now), undefined, "an unknown expiry alone does not force a repave");
    });

    it("--refresh: drift found by a preview-only refresh is past policy for every API; none is no problem", () => {
        const [drifted] = statusOf([facts], policy, now, { update: 1, delete: 2 });
        assert.deepEqual(drifted!.problems, ["the stack drifted since its last deploy (refresh: 1 update, 2 delete): see repave plan --refresh"]);
        assert.deepEqual(statusOf([facts], policy, now, {})[0]!.problems, []);
    });
});
