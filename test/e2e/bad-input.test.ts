// Bad input on the wire never takes the local target down. The real front door daemon and real sample-API
// processes (started by the changeover's own steps, without the engine), driven with raw bytes on TLS sockets:
// client libraries clean inputs up, attackers do not. During every case the backend pids must stay the same
// (repair must not hide a crash) and a steady client must see no failure.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import {
    createCa, startFrontDoor, stopFrontDoor,
    type FrontDoorOutputs, type GenerationOutputs,
} from "../../components/local/changeover.ts";
import { FrontDoorClient } from "../../components/local/frontdoor/client.ts";
import { isOurs } from "../../components/local/processes.ts";
import { freePort, routeOf, startLoad, startSampleGeneration } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("bad input on the wire (front door and sample API)", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-badinput-"));
    let frontDoor: FrontDoorOutputs;
    let client: FrontDoorClient;
    let ca: { certPem: string; keyPem: string };
    let generation: GenerationOutputs;
    let load: ReturnType<typeof startLoad> | undefined;

    const startGeneration = async (id: string, capacity: number) => {
        const g = await startSampleGeneration(dir, frontDoor, ca, id, capacity, 2);
        await client.setRoute("production", routeOf(g));
        return g;
    };
    const marker = (g: GenerationOutputs) => `--repave-generation=hello/${g.generation}@${g.stateDir}`;
    const alive = (g: GenerationOutputs) => g.pids.filter((pid) => isOurs(pid, marker(g)));

    /** Writes raw bytes on a fresh TLS connection; resolves with all bytes read until the server closes or `idleMs` pass. */
    const raw = (bytes: string | Buffer, opts: { port?: number; idleMs?: number; tlsOff?: boolean } = {}): Promise<string> =>
        new Promise((resolve, reject) => {
            const socket = tls.connect({ host: "127.0.0.1", port: opts.port ?? frontDoor.port, servername: "localhost", ca: ca.certPem }, () => socket.write(bytes));
            let out = "";
            let timer = setTimeout(() => socket.destroy(), opts.idleMs ?? 1500);
            socket.on("data", (d: Buffer) => {
                out += d.toString("latin1");
                clearTimeout(timer);
                timer = setTimeout(() => socket.destroy(), opts.idleMs ?? 1500);
            });
            socket.on("close", () => {
                clearTimeout(timer);
                resolve(out);
            });
            socket.on("error", (err: Error) => (out ? resolve(out) : reject(err)));
        });
    const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const credential = () => generation.credential;
    const auth = () => `Authorization: Bearer ${credential()}\r\n`;
    const hello = () => `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`;

    before(async () => {
        const port = await freePort();
        frontDoor = await startFrontDoor({ api: "hello", port, testPort: await freePort(), stateDir: join(dir, "state"), adminTokenRotationSeconds: 86_400 });
        client = new FrontDoorClient(frontDoor.stateDir, frontDoor.adminToken);
        const authority = await createCa({ commonName: "bad-input test CA", rotationSeconds: 86_400 });
        ca = { certPem: authority.signingCertPem, keyPem: authority.keyPem };
        generation = await startGeneration("gbad001", 2);
        load = startLoad(frontDoor.port, credential, 120);
    });
    after(async () => {
        await load?.stop();
        if (frontDoor) await stopFrontDoor(frontDoor);
        rmSync(dir, { recursive: true, force: true });
    });

    it("answers malformed request targets with 4xx and no backend dies (the crash of one request)", async () => {
        const pids = alive(generation);
        assert.equal(pids.length, 2);
        const cases: Array<[string, string]> = [
            ["scheme-relative target (crashed the API)", `GET //:99999 HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["scheme-relative target, host form", `GET //evil.example/v1/hello HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["absolute-form target", `GET http://evil.example/v1/hello HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["absolute-form with a bad port", `GET http://[::1:99999/ HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["authority-form (CONNECT)", `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n`],
            ["asterisk-form", `OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n`],
            ["bad percent-encoding", `GET /v1/hello%zz%ff%%/x HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["control character in the target", `GET /v1/he\x01llo HTTP/1.1\r\nHost: localhost\r\n\r\n`],
            ["not a number where one is expected", `GET /v1/hello?delayMs=NaN%00 HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["garbage request line", `\x16\x03\x01 nonsense\r\n\r\n`],
            ["unknown HTTP version", `GET /v1/hello HTTP/9.9\r\nHost: localhost\r\n${auth()}\r\n`],
            ["no version at all", `GET /v1/hello\r\nHost: localhost\r\n\r\n`],
            ["space inside the target", `GET /v1/he llo HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`],
            ["header line without a colon", `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n${auth()}\r\n`],
            ["obsolete line folding", `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n${auth()}\r\n`],
            ["NUL in a header value", `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nX-Nul: a\x00b\r\n${auth()}\r\n`],
            ["two Host headers", `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n${auth()}\r\n`],
            ["a method of control characters", `G\x01T /v1/hello HTTP/1.1\r\nHost: localhost\r\n\r\n`],
        ];
        for (const [what, bytes] of cases) {
            // Each one several times: one request used to kill one process, and the retry killed the next.
            for (let i = 0; i < 3; i++) {
                const status = statuses(await raw(bytes, { idleMs: 300 }))[0];
                assert.ok(status !== undefined && status < 500, `${what}: answered ${status ?? "nothing"}`);
            }
            assert.deepEqual(alive(generation), pids, `${what}: a backend process died`);
        }
        // The same targets sent to a backend directly (no front door in front of it): the API refuses them itself.
        const [backendHost, backendPort] = generation.backends[0]!.split(":");
        for (const target of ["//:99999", "//evil.example/x", "http://[::1:99999/"]) {
            const status = await plainStatus(backendHost!, Number(backendPort), `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
            assert.ok(status !== undefined && status >= 400 && status < 500, `backend, target ${target}: answered ${status}`);
        }
        assert.deepEqual(alive(generation), pids);
        assert.deepEqual(statuses(await raw(hello())), [200]);
        // Ambiguous authority: refused, never resolved to one of the two.
        const twoHosts = `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n${auth()}\r\n`;
        assert.deepEqual(statuses(await raw(twoHosts, { idleMs: 300 })), [400]);
    });

    it("forwards a GET/HEAD body with its Content-Length: the next request on the pooled connection is intact", async () => {
        const pids = alive(generation);
        for (const method of ["GET", "HEAD"]) {
            const withBody = `${method} /v1/hello HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Length: 16\r\n\r\nGET /v1/x HTTP/1`;
            const text = await raw(withBody + hello() + hello());
            // The API serves GET /v1/hello only (HEAD answers 404): what matters is that both GETs after it are intact.
            assert.deepEqual(statuses(text), [method === "GET" ? 200 : 404, 200, 200], `${method} with a body, then two GETs on one connection:\n${text.slice(0, 400)}`);
        }
        // Requests from other connections reuse the front door's upstream connections: all of them answer 200.
        const results = await Promise.all(Array.from({ length: 20 }, () => raw(hello())));
        assert.deepEqual(results.map((t) => statuses(t)[0]), Array(20).fill(200));
        assert.deepEqual(alive(generation), pids);
    });

    it("refuses request smuggling shapes and oversized input without harm", async () => {
        const pids = alive(generation);
        const conflicting = `POST /v1/echo HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`;
        assert.equal(statuses(await raw(conflicting))[0], 400, "Content-Length with Transfer-Encoding");
        const doubled = `POST /v1/echo HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Length: 4\r\nContent-Length: 5\r\n\r\n{}{}`;
        assert.equal(statuses(await raw(doubled))[0], 400, "two different Content-Lengths");
        const bigHeaders = `GET /v1/hello HTTP/1.1\r\nHost: localhost\r\n${auth()}X-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`;
        // HAProxy answers a request whose headers overflow its buffer with 400 (it has no 431): refused either way.
        assert.ok([400, 431].includes(statuses(await raw(bigHeaders))[0]!), "oversized headers");
        const body = `{"a":"${"b".repeat(200 * 1024)}"}`;
        const bigBody = `POST /v1/echo HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
        assert.equal(statuses(await raw(bigBody))[0], 413, "oversized body");
        assert.deepEqual(alive(generation), pids);
    });

    it("a client that aborts mid-response releases its upstream request and the in-flight count", async () => {
        const socket = tls.connect({ host: "127.0.0.1", port: frontDoor.port, servername: "localhost", ca: ca.certPem });
        await new Promise((r) => socket.once("secureConnect", r));
        socket.write(`GET /v1/hello?delayMs=4000 HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`);
        await sleep(300);
        assert.ok(((await client.state()).inflight[generation.generation] ?? 0) >= 1, "the slow request is in flight");
        socket.destroy();
        const deadline = Date.now() + 1000; // well before the backend would have answered
        while (((await client.state()).inflight[generation.generation] ?? 0) > 0 && Date.now() < deadline) await sleep(50);
        // The steady load may hold a request of its own at any instant: the aborted one must be gone, at most
        // the load's 8 connections remain.
        assert.ok(((await client.state()).inflight[generation.generation] ?? 0) <= 8);
    });

    it("the steady client saw no failure through every bad input above", async () => {
        const report = await load!.stop();
        load = undefined;
        assert.ok(report.requests > 100, `load ran (${report.requests} requests)`);
        assert.equal(report.failed, 0, JSON.stringify(report));
    });

    it("a backend killed mid-response fails that request at once and does not block the drain", async () => {
        const victim = await startGeneration("gbad002", 1);
        const socket = tls.connect({ host: "127.0.0.1", port: frontDoor.port, servername: "localhost", ca: ca.certPem });
        await new Promise((r) => socket.once("secureConnect", r));
        socket.write(`GET /v1/hello?delayMs=4000 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${victim.credential}\r\n\r\n`);
        const answered = new Promise<string>((resolve) => {
            socket.once("data", (d: Buffer) => resolve(d.toString("latin1")));
            socket.once("close", () => resolve(""));
        });
        await sleep(400);
        const started = Date.now();
        for (const pid of victim.pids) process.kill(pid, "SIGKILL");
        const text = await answered;
        socket.destroy();
        assert.ok(Date.now() - started < 2000, `the client waited ${Date.now() - started} ms`);
        assert.ok(!/^HTTP\/1\.1 200/m.test(text), "no success for a request whose backend died");
        const deadline = Date.now() + 1000;
        while (((await client.state()).inflight[victim.generation] ?? 0) > 0 && Date.now() < deadline) await sleep(50);
        assert.equal((await client.state()).inflight[victim.generation] ?? 0, 0, "in-flight count released");
        generation = await startGeneration("gbad003", 2);
    });

    it("a backend killed between requests: every call answers 200 again within 5 s", async () => {
        process.kill(generation.pids[0]!, "SIGKILL");
        const killedAt = Date.now();
        let streak = 0;
        let last: number | undefined;
        while (streak < 30) {
            assert.ok(Date.now() - killedAt < 5000, `no steady 200s within 5 s of the kill (streak ${streak}, last ${last})`);
            // One request per connection ("Connection: close"), so each answer is read at once.
            last = statuses(await raw(hello().replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), { idleMs: 1000 }))[0];
            streak = last === 200 ? streak + 1 : 0;
        }
    });

});

/** One request on plain TCP (a backend listens on loopback without TLS); resolves with the status. */
async function plainStatus(host: string, port: number, bytes: string): Promise<number | undefined> {
    const { connect } = await import("node:net");
    return new Promise((resolve) => {
        const socket = connect({ host, port }, () => socket.write(bytes));
        let out = "";
        socket.on("data", (d: Buffer) => {
            out += d.toString("latin1");
            if (out.includes("\r\n\r\n")) socket.destroy();
        });
        socket.setTimeout(2000, () => socket.destroy());
        socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1]) || undefined));
        socket.on("error", () => undefined);
    });
}
