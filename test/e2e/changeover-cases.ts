// The changeover's end-to-end cases, written once and run on every real target (issue #15 item 5): the local
// target (test/e2e/changeover.test.ts) and Kubernetes on a real cluster (test/e2e/kubernetes/changeover.test.ts).
// A target supplies what differs - how a new image appears, how production is reached, what of a generation
// exists on the platform - and the cases assert the same things through it. Target-only checks stay in the
// target's file, after the shared case, on what it returns.
import assert from "node:assert/strict";
import { keepAliveClient, type ClientReport } from "./clients.ts";
import { startLoad, type ApiOutputs, type LocalStack, type LoadReport, type RunResult } from "./harness.ts";

export type Served = { status: number; generation: string; serial: string };

export interface ChangeoverTarget {
    stack: LocalStack;
    /** Where production answers on loopback: the front door's port, or the production Service's NodePort. */
    port(): number;
    /** One verified HTTPS request to production. */
    call(port: number, caPem: string, credential: string): Promise<Served>;
    /** Makes the image source offer a newer patched build, one that fails the gate's negative probes, or a good one. */
    image(kind: "newer" | "broken-auth" | "good"): Promise<void>;
    /** What of one generation exists on the platform (processes; Deployments, Secrets, pods), by name. */
    residue(generation: string): string[];
    /** The front door's identity on the platform: what a repave must never change (I4). */
    frontDoor(): Promise<string>;
    /** The generations that exist for the API: Generation resources in state, or Deployments in the cluster. */
    generations(): Promise<string[]>;
    /** The steady load's pace (requests a second), when the platform wants one bounded. */
    loadRate?: number;
}

/** Waits until `check` holds: a platform may delete what the engine deleted asynchronously (pods). */
export async function eventually(what: string, check: () => boolean, seconds = 90): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!check()) {
        if (Date.now() > deadline) assert.fail(`not within ${seconds}s: ${what}`);
        await new Promise((r) => setTimeout(r, 1000));
    }
}

async function firstDeploy(t: ChangeoverTarget): Promise<{ live: ApiOutputs; credential: string; ca: string }> {
    const first = await t.stack.up();
    assert.equal(first.code, 0, first.out);
    return { live: await t.stack.hello(), credential: await t.stack.credential(), ca: await t.stack.caPem() };
}

/**
 * Two deploys with a newer image between them: generation, image, certificate and credential rotate; the front door
 * is kept; the previous credential works for one generation; nothing of the old generation remains; keys and
 * credentials are in state only as secrets (I8).
 */
export async function rotationCase(t: ChangeoverTarget) {
    const { live: a, credential: credA, ca } = await firstDeploy(t);
    const frontDoor = await t.frontDoor();
    const servedA = await t.call(t.port(), ca, credA);
    assert.equal(servedA.status, 200);
    assert.equal(servedA.generation, a.generation);
    const firstResidue = t.residue(a.generation);
    assert.ok(firstResidue.length > 0, "the first generation exists on the platform");

    await t.image("newer");
    const second = await t.stack.up();
    assert.equal(second.code, 0, second.out);
    const b = await t.stack.hello();
    const credB = await t.stack.credential();

    assert.notEqual(b.generation, a.generation, "generation id changes");
    assert.notEqual(b.imageHash, a.imageHash, "image changes");
    assert.notEqual(b.certSerial, a.certSerial, "certificate changes");
    assert.notEqual(credB, credA, "credential changes");
    assert.equal(b.url, a.url, "front door address is stable (I4)");
    assert.equal(await t.frontDoor(), frontDoor, "the front door is kept (I4)");

    const served = await t.call(t.port(), ca, credB);
    assert.equal(served.status, 200);
    assert.equal(served.generation, b.generation, "production serves the new generation");
    assert.notEqual(served.serial, servedA.serial, "with the new generation's certificate");
    assert.equal((await t.call(t.port(), ca, credA)).status, 200, "the previous credential still works for one generation");
    await eventually("nothing of the old generation remains", () => t.residue(a.generation).length === 0);
    assert.ok(t.residue(b.generation).length > 0, "the new generation exists on the platform");
    assert.deepEqual(await t.generations(), [b.generation], "only the new generation exists");

    const state = t.stack.stateText();
    assert.ok(state.length > 0);
    for (const secret of [credA, credB]) assert.ok(!state.includes(secret), "credential in plain text in state");
    assert.ok(!state.includes("PRIVATE KEY"), "private key in plain text in state");
    return { a, b, credA, credB, ca, second, served, servedA, firstResidue };
}

/**
 * `repaves` consecutive repaves under steady HTTPS load (autocannon, 8 keep-alive connections, the newest
 * credential) and a sticky client (one keep-alive connection, sequential requests, keeping the credential it held
 * when each repave started across that repave's switch): 0 failed requests on both; every repave a new generation.
 */
export async function repavesUnderLoadCase(t: ChangeoverTarget, repaves = 5): Promise<{ load: LoadReport; sticky: ClientReport }> {
    const { live, credential: initial, ca } = await firstDeploy(t);
    let credential = initial;
    const load = startLoad(t.port(), () => credential, 600, "127.0.0.1", t.loadRate);
    const sticky = keepAliveClient(t.port(), ca, credential);
    const seen = new Set<string>([live.generation]);
    let report: LoadReport | undefined;
    let stickyReport: ClientReport | undefined;
    const started = Date.now();
    try {
        for (let i = 0; i < repaves; i++) {
            const at = Date.now();
            const r = await t.stack.up();
            assert.equal(r.code, 0, r.out);
            const generation = (await t.stack.hello()).generation;
            seen.add(generation);
            credential = await t.stack.credential();
            console.log(`repave ${i + 1}: ${generation} in ${((Date.now() - at) / 1000).toFixed(1)} s`);
            sticky.setCredential(credential);
        }
    } finally {
        report = await load.stop();
        stickyReport = await sticky.stop();
        console.log(`load (autocannon, 8 keep-alive connections): ${JSON.stringify(report)}`);
        console.log(`sticky keep-alive client: ${JSON.stringify(stickyReport)}; ${((Date.now() - started) / 1000).toFixed(0)} s of load`);
    }
    assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
    assert.ok(report.requests > 500, `too little load to mean anything: ${report.requests}`);
    assert.equal(stickyReport.failed, 0, `sticky client failures: ${JSON.stringify(stickyReport)}`);
    assert.ok(stickyReport.generations.length >= repaves + 1, `the sticky client saw every generation: ${stickyReport.generations.join(", ")}`);
    assert.equal(seen.size, repaves + 1, "every repave built a new generation");
    return { load: report, sticky: stickyReport };
}

/**
 * A build that serves unauthenticated callers fails the gate's negative probes and never takes traffic (I2); the
 * live generation is untouched; a rerun with a good build converges (I3) - all under load with 0 failed requests.
 * `whileFailed` runs the target's own checks on the failed update while it is the latest.
 */
export async function failedGateCase(t: ChangeoverTarget, whileFailed: (bad: RunResult, live: ApiOutputs) => Promise<void>) {
    const { live, credential, ca } = await firstDeploy(t);
    const load = startLoad(t.port(), () => credential, 600, "127.0.0.1", t.loadRate);
    try {
        await t.image("broken-auth");
        const bad = await t.stack.up();
        assert.notEqual(bad.code, 0, "the update fails at the gate");
        assert.match(bad.out, /hello-unauthenticated/, "the failed update names the probe case");
        const during = await t.call(t.port(), ca, credential);
        assert.equal(during.status, 200);
        assert.equal(during.generation, live.generation, "production still on the last good generation");
        assert.ok(t.residue(live.generation).length > 0, "the live generation is untouched");
        await whileFailed(bad, live);

        await t.image("good");
        const rerun = await t.stack.up();
        assert.equal(rerun.code, 0, rerun.out);
        const after = await t.stack.hello();
        assert.notEqual(after.generation, live.generation);
        assert.deepEqual(await t.generations(), [after.generation], "exactly one generation remains");
        await eventually("nothing of the old live generation remains", () => t.residue(live.generation).length === 0);
        assert.equal((await t.call(t.port(), ca, await t.stack.credential())).generation, after.generation);
        return { live, after };
    } finally {
        const report = await load.stop();
        console.log(`load: ${JSON.stringify(report)}`);
        assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
    }
}
