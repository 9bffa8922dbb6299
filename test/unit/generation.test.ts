import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generationIdentity, generationName } from "../../components/generation.ts";
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
