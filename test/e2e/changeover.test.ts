// Red/green changeover on the real engine against the local target: real processes, TLS and traffic on loopback.
// The cases are the shared ones (changeover-cases.ts, run on Kubernetes too); this file maps them to the local
// target - builds in a folder, processes on loopback, the front door's daemon - and adds what only it has.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { failedGateCase, repavesUnderLoadCase, rotationCase, type ChangeoverTarget } from "./changeover-cases.ts";
import { verifiedCall, LocalStack, portOpen, processesWith } from "./harness.ts";

const genMarker = (generation: string) => `--repave-generation=hello/${generation}@`;

/** The local target: a newer build in the stack's build folder; a generation's processes; the front door's daemon. */
function localTarget(stack: LocalStack): ChangeoverTarget {
    return {
        stack,
        port: () => stack.port,
        call: verifiedCall,
        image: (kind) => {
            // 1.2.0 serves unauthenticated callers; the good build after it is 1.3.0.
            if (kind === "newer") stack.addBuild("1.2.0");
            else if (kind === "broken-auth") stack.addBuild("1.2.0", (src) => src.replace('if (auth === "missing")', 'if (false && auth === "missing")'));
            else {
                stack.removeBuild("1.2.0");
                stack.addBuild("1.3.0");
            }
            return Promise.resolve();
        },
        residue: (generation) => processesWith(genMarker(generation)).map(String),
        frontDoor: async () => `${(await stack.hello()).frontDoorUrn} pid ${processesWith(`--repave-frontdoor=${stack.stateDir}`).join(",")}`,
        generations: async () =>
            (await stack.exportState()).deployment.resources.filter((r) => r.type.endsWith("Generation") && !r.delete).map((r) => String(r.outputs?.["generation"])),
    };
}

describe("two consecutive deploys", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("twice");
    });
    after(async () => stack && (await stack.cleanup()));

    it("repave rotates generation, image, certificate and credential but keeps the front door", async () => {
        const { a, b, served, firstResidue } = await rotationCase(localTarget(stack));
        // Local only: the newest patched build is picked, capacity 2 processes, one front-door daemon, the served
        // certificate is the one the state records, the admin token.
        assert.equal(firstResidue.length, 2, "capacity 2 processes for the first generation");
        assert.equal(served.serial, b.certSerial, "with the new generation's certificate");
        assert.equal(b.imageVersion, "1.2.0", "the newest patched build is picked");
        assert.equal(b.previousGeneration, a.generation);
        assert.equal(processesWith(genMarker(b.generation)).length, 2, "capacity 2 processes");
        assert.equal(processesWith(`--repave-frontdoor=${stack.stateDir}`).length, 1, "one front door process");
        const adminToken = await stack.frontDoorAdminToken();
        assert.match(adminToken, /^[0-9a-f]{64}$/);
        assert.ok(!stack.stateText().includes(adminToken), "the front door's admin token in plain text in state");
    });

    it("destroy leaves no process and no bound port", async () => {
        const result = await stack.pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack.stack]);
        assert.equal(result.code, 0, result.out);
        assert.deepEqual(processesWith(stack.stateDir), []);
        assert.equal(await portOpen(stack.port), false, "production port released");
        assert.equal(await portOpen(stack.testPort), false, "test port released");
    });
});

describe("repaves under steady HTTPS load", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("load");
    });
    after(async () => stack && (await stack.cleanup()));

    it("5 consecutive repaves drop 0 requests (keep-alive clients; a client keeps the credential it started the repave with)", async () => {
        await repavesUnderLoadCase(localTarget(stack));
    });
});

describe("a candidate that fails a negative probe", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("gate");
    });
    after(async () => stack && (await stack.cleanup()));

    it("never takes traffic, and a rerun with a good build converges with 0 failed requests (I2, I3)", async () => {
        const { after } = await failedGateCase(localTarget(stack), async (bad, live) => {
            assert.match(bad.out, /traffic stays where it is/);
            assert.equal(processesWith(genMarker(live.generation)).length, 2, "live generation untouched");
            const state = await stack.exportState();
            const pending = state.deployment.resources.filter((r) => r.type.endsWith("Generation") && r.delete);
            assert.equal(pending.length, 1, "the engine keeps the live generation as a pending delete");
        });
        assert.equal(after.imageVersion, "1.3.0");
    });

    it("a candidate image with a critical CVE is never promoted (image gate)", async () => {
        const live = await stack.hello();
        stack.addBuild("1.4.0", (src) => src, { knownFindings: { critical: 1, high: 0, findings: ["CVE-2026-4242 (critical, openssl)"] } });
        const gated = await stack.up();
        assert.notEqual(gated.code, 0, "the update fails at the image gate");
        assert.match(gated.out, /image gate: 1\.4\.0 has 1 critical \(max 0\) vulnerabilities: CVE-2026-4242/);
        const ca = await stack.caPem();
        const served = await verifiedCall(stack.port, ca, await stack.credential());
        assert.equal(served.status, 200);
        assert.equal(served.generation, live.generation, "production stays on the last good generation");
    });
});
