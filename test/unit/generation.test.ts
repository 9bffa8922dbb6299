import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createHash } from "node:crypto";
import { fitName, generationIdentity, generationName, generationShape, stackScope } from "../../components/generation.ts";
import { parseApiSpecs } from "../../components/spec.ts";

const base = { name: "orders", image: { source: "local-builds", path: "images" } };
const spec = (extra: object = {}) => parseApiSpecs([{ ...base, ...extra }])[0]!;
const at = (iso: string, deployId = "d1", imageId = "sha256:aa") => ({ imageId, deployId, now: new Date(iso) });

describe("generation identity", () => {
    it("every-deploy: a new id per deploy id, stable for the same deploy", () => {
        const s = spec();
        const a = generationIdentity(s, at("2026-11-01T00:00:00Z", "d1"));
        assert.equal(generationIdentity(s, at("2026-11-01T05:00:00Z", "d1")).id, a.id);
        assert.notEqual(generationIdentity(s, at("2026-11-01T00:00:00Z", "d2")).id, a.id);
        assert.match(a.id, /^g[0-9a-f]{6}$/);
    });

    it("max-age: the same id inside the age bucket, a new one after it or for a new image", () => {
        const s = spec({ repave: { policy: "max-age", maxAge: "7d" } });
        const a = generationIdentity(s, at("2026-11-02T00:00:00Z", "d1"));
        assert.equal(generationIdentity(s, at("2026-11-03T00:00:00Z", "d2")).id, a.id, "fresh enough: no repave");
        assert.notEqual(generationIdentity(s, at("2026-11-20T00:00:00Z", "d3")).id, a.id, "too old: repave");
        assert.notEqual(generationIdentity(s, at("2026-11-03T00:00:00Z", "d2", "sha256:bb")).id, a.id, "new image: repave");
    });

    it("pinned: only a new image or a changed spec makes a new generation", () => {
        const s = spec({ repave: { policy: "pinned" } });
        const a = generationIdentity(s, at("2026-01-01T00:00:00Z", "d1"));
        assert.equal(generationIdentity(s, at("2027-01-01T00:00:00Z", "d9")).id, a.id);
        assert.notEqual(generationIdentity(spec({ repave: { policy: "pinned" }, capacity: 3 }), at("2027-01-01T00:00:00Z")).id, a.id);
    });

    it("names fit the tightest cloud limit (32 characters) for the longest API name", () => {
        const longest = "a".repeat(24);
        const id = generationIdentity(spec({ name: longest }), at("2026-11-01T00:00:00Z")).id;
        assert.ok(generationName(longest, id).length <= 32);
    });
});

describe("physical names that carry the stack", () => {
    it("the same spec, image and deploy in two stacks: two generation ids (pinned and max-age too)", () => {
        for (const repave of [{ policy: "pinned" }, { policy: "max-age", maxAge: "7d" }, { policy: "every-deploy" }]) {
            const s = spec({ repave });
            const staging = generationIdentity(s, { ...at("2026-11-02T00:00:00Z"), scope: stackScope("repave", "staging", "orders") });
            const production = generationIdentity(s, { ...at("2026-11-02T00:00:00Z"), scope: stackScope("repave", "production", "orders") });
            assert.notEqual(staging.id, production.id, `${repave.policy}: two stacks, one generation id`);
        }
    });

    it("leaves the id of a target without a scope as it was (no needless repave of the local target)", () => {
        const s = spec();
        const id = generationIdentity(s, at("2026-11-01T00:00:00Z")).id;
        // The digest of earlier releases: name, image, shape and epoch, nothing else.
        const legacy = `g${createHash("sha256").update([s.name, "sha256:aa", generationShape(s), "deploy:d1"].join("\n")).digest("hex").slice(0, 6)}`;
        assert.equal(id, legacy);
    });

    it("stackScope: 6 hex, different per project, stack and API", () => {
        const scopes = [stackScope("p", "s", "a"), stackScope("p", "t", "a"), stackScope("q", "s", "a"), stackScope("p", "s", "b")];
        assert.ok(scopes.every((s) => /^[0-9a-f]{6}$/.test(s)));
        assert.equal(new Set(scopes).size, 4);
    });

    it("fitName cuts the API part only, never to a trailing hyphen, and refuses what cannot fit", () => {
        assert.equal(fitName("orders", "abc123-g123456", 32), "orders-abc123-g123456");
        const cut = fitName("a-twenty-four-char-api-x", "abc123-g123456", 32);
        assert.equal(cut, "a-twenty-four-cha-abc123-g123456");
        assert.ok(cut.length <= 32);
        assert.equal(fitName("ab-def", "abc123-g123456", 18), "ab-abc123-g123456", "the hyphen left at the cut is dropped");
        assert.throws(() => fitName("orders", "a".repeat(40), 32), /no room/);
    });
});
