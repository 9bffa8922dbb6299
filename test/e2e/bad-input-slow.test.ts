// Slow and idle clients, hung and dying backends: raw bytes on TLS sockets against the real front door daemon and
// real sample-API processes (started by the changeover's own steps, without the engine). The daemon's deadlines are
// shortened through its environment so each case takes seconds; what is tested is that every one is enforced.
// Throughout, a steady client must see no failure and the backends' processes must be the ones it started with
// (the supervisor would restart a crashed one: repair must not hide a crash).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import * as changeover from "../../components/local/changeover.ts";
import type { FrontDoorOutputs, GenerationOutputs } from "../../components/local/changeover.ts";
import { FrontDoorClient } from "../../components/local/frontdoor/client.ts";
import { isOurs } from "../../components/local/processes.ts";
import { freePort, routeOf, startLoad, startSampleGeneration } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deadlines = { HEADERS: 2000, REQUEST: 4000, UPSTREAM: 2500, CHECK_INTERVAL: 250 };

describe("slow, idle and broken connections (front door daemon)", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-slow-"));
    let frontDoor: FrontDoorOutputs;
    let client: FrontDoorClient;
    let ca: { certPem: string; keyPem: string };
    let generation: GenerationOutputs;
    let load: ReturnType<typeof startLoad> | undefined;
    let pidsAtStart: number[] = [];

    const marker = (g: GenerationOutputs) => `--repave-generation=hello/${g.generation}@${g.stateDir}`;
    /** The instances running now (the supervisor's record): a restart shows up as a new pid. */
    const instancePids = (g: GenerationOutputs) => {
        const file = join(g.stateDir, "generations", g.generation, "instances.json");
        return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { instances: Array<{ pid: number }> }).instances.map((i) => i.pid) : g.pids;
    };
    const open = (): Promise<tls.TLSSocket> =>
        new Promise((resolve, reject) => {
            const socket = tls.connect({ host: "127.0.0.1", port: frontDoor.port, servername: "localhost", ca: ca.certPem }, () => resolve(socket));
            socket.once("error", reject);
        });
    /** Resolves once the server closed `socket`, with what it sent and how long after `since` that was. */
    const closedBy = (socket: tls.TLSSocket, since: number) =>
        new Promise<{ text: string; afterMs: number }>((resolve) => {
            let text = "";
            socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
            socket.on("error", () => undefined);
            socket.on("close", () => resolve({ text, afterMs: Date.now() - since }));
        });
    const hello = (extra = "") => `GET /v1/hello${extra} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${generation.credential}\r\nConnection: close\r\n\r\n`;
    const status = async (bytes: string) => {
        const socket = await open();
        const done = closedBy(socket, Date.now());
        socket.write(bytes);
        const { text, afterMs } = await done;
        return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) || undefined, afterMs };
    };

    before(async () => {
        for (const [name, ms] of Object.entries(deadlines)) process.env[`REPAVE_FD_${name}${name.endsWith("INTERVAL") ? "" : "_TIMEOUT"}_MS`] = String(ms);
        frontDoor = await changeover.startFrontDoor({ api: "hello", port: await freePort(), testPort: await freePort(), stateDir: join(dir, "state"), adminTokenRotationSeconds: 86_400 });
        client = new FrontDoorClient(frontDoor.stateDir, frontDoor.adminToken);
        const authority = await changeover.createCa({ commonName: "slow-input test CA", rotationSeconds: 86_400 });
        ca = { certPem: authority.signingCertPem, keyPem: authority.keyPem };
        generation = await startSampleGeneration(dir, frontDoor, ca, "gslow01", 2, 2);
        await client.setRoute("production", routeOf(generation));
        pidsAtStart = instancePids(generation);
        load = startLoad(frontDoor.port, () => generation.credential, 120);
    });
    after(async () => {
        await load?.stop();
        if (frontDoor) await changeover.stopFrontDoor(frontDoor);
        rmSync(dir, { recursive: true, force: true });
    });

    it("slow headers (slowloris): every such connection is closed by the headers deadline, not by Node's 30 s sweep", async () => {
        const sockets = await Promise.all(Array.from({ length: 20 }, () => open()));
        const since = Date.now();
        const closed = sockets.map((s) => closedBy(s, since));
        const drip = setInterval(() => {
            for (const s of sockets) if (!s.destroyed) s.write(s.bytesWritten === 0 ? "GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nX-Slow: " : "a");
        }, 300);
        try {
            const results = await Promise.all(closed.map((c) => Promise.race([c, sleep(10_000).then(() => ({ text: "", afterMs: Infinity }))])));
            for (const r of results) {
                assert.ok(r.afterMs < deadlines.HEADERS + 1500, `a slow-header connection was held ${r.afterMs} ms (deadline ${deadlines.HEADERS} ms)`);
                assert.match(r.text, /^(HTTP\/1\.1 408 |$)/, "closed with 408 or nothing");
            }
        } finally {
            clearInterval(drip);
            for (const s of sockets) s.destroy();
        }
    });

    it("a slow body is cut by the request deadline; the backend is left unharmed", async () => {
        const socket = await open();
        const since = Date.now();
        const done = closedBy(socket, since);
        socket.write(`POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${generation.credential}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
        const drip = setInterval(() => !socket.destroyed && socket.write(" "), 300);
        const { afterMs } = await Promise.race([done, sleep(12_000).then(() => ({ text: "", afterMs: Infinity }))]);
        clearInterval(drip);
        socket.destroy();
        assert.ok(afterMs < deadlines.REQUEST + 1500, `a slow body was held ${afterMs} ms (deadline ${deadlines.REQUEST} ms)`);
        assert.equal((await status(hello())).status, 200);
    });

    it("a backend that does not answer gets 504 at the upstream deadline, and the in-flight count is released", async () => {
        const r = await status(hello("?delayMs=5000"));
        assert.equal(r.status, 504);
        assert.ok(r.afterMs >= deadlines.UPSTREAM - 100 && r.afterMs < deadlines.UPSTREAM + 1500, `answered after ${r.afterMs} ms`);
        const deadline = Date.now() + 1000;
        // The steady load holds at most one request per connection (8): the timed-out one is not among them.
        while (((await client.state()).inflight[generation.generation] ?? 0) > 8 && Date.now() < deadline) await sleep(50);
        assert.ok(((await client.state()).inflight[generation.generation] ?? 0) <= 8);
    });

    it("2000 idle TLS connections: the front door keeps serving, and closes them all by the headers deadline", async () => {
        const sockets: tls.TLSSocket[] = [];
        const closes: Array<Promise<{ text: string; afterMs: number }>> = [];
        const since = Date.now();
        try {
            for (let batch = 0; batch < 20; batch++) {
                const opened = await Promise.all(Array.from({ length: 100 }, () => open()));
                for (const s of opened) {
                    sockets.push(s);
                    closes.push(closedBy(s, since));
                }
            }
            const openedMs = Date.now() - since;
            const served = await status(hello());
            assert.equal(served.status, 200, "a new client is served while 2000 idle connections are open");
            assert.ok(served.afterMs < 1000, `answered in ${served.afterMs} ms`);
            const results = await Promise.race([Promise.all(closes), sleep(openedMs + deadlines.HEADERS + 5000).then(() => undefined)]);
            assert.ok(results, `not every idle connection was closed within ${openedMs + deadlines.HEADERS + 5000} ms`);
            assert.ok(results.every((r) => r.afterMs < openedMs + deadlines.HEADERS + 2000));
        } finally {
            for (const s of sockets) s.destroy();
        }
    });

    it("the steady client saw no failure, and no backend process died, through every case above", async () => {
        const report = await load!.stop();
        load = undefined;
        assert.ok(report.requests > 100, `load ran (${report.requests} requests)`);
        assert.equal(report.failed, 0, JSON.stringify(report));
        assert.deepEqual(instancePids(generation), pidsAtStart, "the same instance processes (none restarted)");
        assert.ok(pidsAtStart.every((pid) => isOurs(pid, marker(generation))));
    });

    // A backend dying under a request is answered two ways (the front door's replay rule): a request without a
    // body and an idempotent method, reset before any answer, is replayed once on another backend and succeeds; a
    // request with a body is never replayed - its client gets an error at once, not at a deadline.
    it("a backend killed before answering a GET: replayed once on the other backend, answered by it", async () => {
        const victim = await startSampleGeneration(dir, frontDoor, ca, "gslow02", 1, 10);
        assert.equal(victim.backends.length, 2, "two instances: one to kill, one to replay on");
        await client.setRoute("production", routeOf(victim));
        const pids = instancePids(victim);
        // Two requests at once: the round robin puts one on each instance, so the killed one holds one of them.
        const sockets = await Promise.all([open(), open()]);
        const since = Date.now();
        const done = sockets.map((s) => closedBy(s, since));
        for (const s of sockets) s.write(`GET /v1/hello?delayMs=800 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${victim.credential}\r\nConnection: close\r\n\r\n`);
        await sleep(300);
        process.kill(pids[0]!, "SIGKILL");
        // The one on the killed instance is replayed (300 ms lost + 800 ms on the other): both are 200, well
        // before the upstream deadline (2.5 s).
        for (const { text, afterMs } of await Promise.all(done)) {
            assert.match(text, /^HTTP\/1\.1 200/, `answered: ${text.slice(0, 80)}`);
            assert.ok(afterMs < deadlines.UPSTREAM, `the client waited ${afterMs} ms`);
        }
        const state = await client.state();
        assert.equal(state.failed[victim.generation] ?? 0, 0, "no request failed");
        await client.setRoute("production", routeOf(generation));
        await changeover.retireGeneration(victim, frontDoor.adminToken);
    });

    it("a backend killed while it reads a POST body: the client gets an error at once, never a replay, and the retirement's drain is not blocked", async () => {
        // One instance: the POST can only be on the one that is killed.
        const victim = await startSampleGeneration(dir, frontDoor, ca, "gslow03", 1, 10);
        await client.setRoute("production", routeOf(victim));
        const socket = await open();
        const since = Date.now();
        const done = closedBy(socket, since);
        // Half the announced body: the backend holds the request, waiting for the rest. More than one buffer
        // (16 kB) of it: the front door holds a smaller body until it is complete, so no backend would read it yet.
        socket.write(`POST /v1/echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${victim.credential}\r\nContent-Type: application/json\r\nContent-Length: 40000\r\nConnection: close\r\n\r\n{"half":"${"a".repeat(20_000)}`);
        await sleep(300);
        for (const pid of instancePids(victim)) process.kill(pid, "SIGKILL");
        const { text, afterMs } = await done;
        assert.doesNotMatch(text, /^HTTP\/1\.1 200/, "no success for a request whose backend died");
        assert.ok(afterMs < 1500, `the client waited ${afterMs} ms`);
        await client.setRoute("production", routeOf(generation));
        // Its drain waits on in-flight requests (up to drainSeconds = 10 s): none is left, so it is quick.
        const retiring = Date.now();
        await changeover.retireGeneration(victim, frontDoor.adminToken);
        assert.ok(Date.now() - retiring < 3000, `retirement took ${Date.now() - retiring} ms`);
    });
});
