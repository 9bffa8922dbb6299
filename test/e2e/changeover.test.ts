// Red/green changeover on the real engine against the local target: real processes, TLS and traffic on loopback.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { verifiedCall as call, LocalStack, portOpen, processesWith, startLoad } from "./harness.ts";

const genMarker = (generation: string) => `--repave-generation=hello/${generation}@`;

describe("two consecutive deploys", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("twice");
    });
    after(async () => stack && (await stack.cleanup()));

    it("repave rotates generation, image, certificate and credential but keeps the front door", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const a = await stack.hello();
        const credA = await stack.credential();
        const ca = await stack.caPem();
        const frontDoorPid = processesWith(`--repave-frontdoor=${stack.stateDir}`);
        assert.equal(frontDoorPid.length, 1, "one front door process");
        assert.equal(processesWith(genMarker(a.generation)).length, 2, "capacity 2 processes for the first generation");

        stack.addBuild("1.2.0"); // a newer patched image appears between deploys
        const second = await stack.up();
        assert.equal(second.code, 0, second.out);
        const b = await stack.hello();
        const credB = await stack.credential();

        assert.notEqual(b.generation, a.generation, "generation id changes");
        assert.notEqual(b.imageHash, a.imageHash, "image hash changes");
        assert.equal(b.imageVersion, "1.2.0", "the newest patched build is picked");
        assert.notEqual(b.certSerial, a.certSerial, "certificate serial changes");
        assert.notEqual(credB, credA, "credential changes");
        assert.equal(b.frontDoorUrn, a.frontDoorUrn, "front door URN is stable (I4)");
        assert.equal(b.url, a.url, "front door address is stable (I4)");
        assert.equal(b.previousGeneration, a.generation);
        assert.deepEqual(processesWith(`--repave-frontdoor=${stack.stateDir}`), frontDoorPid, "front door process kept");
        assert.deepEqual(processesWith(genMarker(a.generation)), [], "old generation's processes are gone");
        assert.equal(processesWith(genMarker(b.generation)).length, 2);

        const served = await call(stack.port, ca, credB);
        assert.equal(served.status, 200);
        assert.equal(served.generation, b.generation, "production serves the new generation");
        assert.equal(served.serial, b.certSerial, "with the new generation's certificate");
        assert.equal((await call(stack.port, ca, credA)).status, 200, "the previous credential still works for one generation");

        // I8: keys and credentials exist in state only as secrets.
        const state = stack.stateText();
        assert.ok(state.length > 0);
        for (const secret of [credA, credB]) assert.ok(!state.includes(secret), "credential in plain text in state");
        assert.ok(!state.includes("PRIVATE KEY"), "private key in plain text in state");
        const adminToken = await stack.frontDoorAdminToken();
        assert.match(adminToken, /^[0-9a-f]{64}$/);
        assert.ok(!state.includes(adminToken), "the front door's admin token in plain text in state");
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

    it("5 consecutive repaves drop 0 requests", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        let credential = await stack.credential();
        const load = startLoad(stack.port, () => credential);
        const seen = new Set<string>([(await stack.hello()).generation]);
        try {
            for (let i = 0; i < 5; i++) {
                const r = await stack.up();
                assert.equal(r.code, 0, r.out);
                seen.add((await stack.hello()).generation);
                credential = await stack.credential();
            }
        } finally {
            const report = await load.stop();
            console.log(`load: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
            assert.ok(report.requests > 500, `too little load to mean anything: ${report.requests}`);
        }
        assert.equal(seen.size, 6, "every repave built a new generation");
    });
});

describe("a candidate that fails a negative probe", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("gate");
    });
    after(async () => stack && (await stack.cleanup()));

    it("never takes traffic, and a rerun with a good build converges with 0 failed requests (I2, I3)", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const live = await stack.hello();
        const credential = await stack.credential();
        const ca = await stack.caPem();
        const load = startLoad(stack.port, () => credential);
        try {
            // 1.2.0 serves unauthenticated callers: the negative probes must stop it.
            stack.addBuild("1.2.0", (src) => src.replace('if (auth === "missing")', 'if (false && auth === "missing")'));
            const bad = await stack.up();
            assert.notEqual(bad.code, 0, "the update fails at the gate");
            assert.match(bad.out, /hello-unauthenticated/);
            assert.match(bad.out, /traffic stays where it is/);
            const during = await call(stack.port, ca, credential);
            assert.equal(during.generation, live.generation, "production still on the last good generation");
            assert.equal(processesWith(genMarker(live.generation)).length, 2, "live generation untouched");
            const state = await stack.exportState();
            const pending = state.deployment.resources.filter((r) => r.type.endsWith("Generation") && r.delete);
            assert.equal(pending.length, 1, "the engine keeps the live generation as a pending delete");

            stack.removeBuild("1.2.0");
            stack.addBuild("1.3.0");
            const rerun = await stack.up();
            assert.equal(rerun.code, 0, rerun.out);
            const after = await stack.hello();
            assert.equal(after.imageVersion, "1.3.0");
            assert.notEqual(after.generation, live.generation);
            assert.deepEqual(processesWith(genMarker(live.generation)), [], "old live generation retired after the switch");
            const resources = (await stack.exportState()).deployment.resources.filter((r) => r.type.endsWith("Generation"));
            assert.equal(resources.length, 1, "exactly one generation remains");
            assert.equal((await call(stack.port, ca, await stack.credential())).generation, after.generation);
        } finally {
            const report = await load.stop();
            console.log(`load: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        }
    });

    it("a candidate image with a critical CVE is never promoted (image gate)", async () => {
        const live = await stack.hello();
        stack.addBuild("1.4.0", (src) => src, { knownFindings: { critical: 1, high: 0, findings: ["CVE-2026-4242 (critical, openssl)"] } });
        const gated = await stack.up();
        assert.notEqual(gated.code, 0, "the update fails at the image gate");
        assert.match(gated.out, /image gate: 1\.4\.0 has 1 critical \(max 0\) vulnerabilities: CVE-2026-4242/);
        const ca = await stack.caPem();
        const served = await call(stack.port, ca, await stack.credential());
        assert.equal(served.status, 200);
        assert.equal(served.generation, live.generation, "production stays on the last good generation");
    });
});
