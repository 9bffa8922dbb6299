// The shared invariant checks must be able to fail: each is run here on a timeline that breaks it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertCallersKeepWorking, type CredentialTimeline } from "./invariants.ts";

// g1 is live and accepts c1 (its own) and c0; g2 is the candidate and accepts c2 and c1; c0 is two generations old.
const accepts = (generation: string): readonly string[] => ({ g1: ["c1", "c0"], g2: ["c2", "c1"] })[generation] ?? [];
const good: CredentialTimeline = {
    before: { production: "g1", reference: "c1", monitors: { canary: "c1" } },
    events: [
        { index: 10, production: "g2" },
        { index: 12, reference: "c2" },
        { index: 13, monitor: { name: "canary", credential: "c2" } },
    ],
    candidate: "g2",
    accepts,
    refused: ["c0", "wrong"],
};

describe("invariant: callers keep working across the switch", () => {
    it("passes the model: switch, then promote, then the monitors follow", () => {
        assertCallersKeepWorking(good);
    });

    it("fails when a monitor moves to the new credential before the switch: the live generation never saw it", () => {
        const early = { ...good, events: [{ index: 9, monitor: { name: "canary", credential: "c2" } }, ...good.events] };
        assert.throws(() => assertCallersKeepWorking(early), /refuses monitor canary's credential: it alarms/);
    });

    it("fails when the reference is promoted before the switch", () => {
        const early = { ...good, events: [{ index: 9, reference: "c2" }, { index: 10, production: "g2" }, { index: 13, monitor: { name: "canary", credential: "c2" } }] };
        assert.throws(() => assertCallersKeepWorking(early), /refuses the credential the reference hands callers/);
    });

    it("fails when the candidate does not accept what callers hold (no grace)", () => {
        assert.throws(() => assertCallersKeepWorking({ ...good, accepts: (g) => (g === "g2" ? ["c2"] : accepts(g)) }), /refuses the credential callers hold before the deploy/);
    });

    it("fails when nothing rotates, or a monitor stays behind, or a refused credential is accepted", () => {
        assert.throws(() => assertCallersKeepWorking({ ...good, events: [{ index: 10, production: "g2" }] }), /not rotated/);
        assert.throws(() => assertCallersKeepWorking({ ...good, events: good.events.slice(0, 2) }), /monitor canary ends on the new credential/);
        assert.throws(() => assertCallersKeepWorking({ ...good, accepts: (g) => (g === "g2" ? ["c2", "c1", "c0"] : accepts(g)) }), /reference ends on the candidate's own|must refuse/);
    });
});
