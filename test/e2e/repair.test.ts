// Repair on the local target, engine-less: the real front door daemon and real sample-API generations (started by
// the changeover's own steps). A dead instance is restarted in place by its generation's supervisor (a new pid on
// the same port) while callers keep getting 200s; a backend that fails active health checks leaves the rotation and
// comes back when it passes; a crash loop is given up on and reported, and the engine's repair brings it back; a
// generation whose every process was killed comes back on the ports the front door still routes to.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import * as changeover from "../../components/local/changeover.ts";
import type { FrontDoorOutputs, GenerationInputs, GenerationOutputs } from "../../components/local/changeover.ts";
import { FrontDoorClient } from "../../components/local/frontdoor/client.ts";
import { isOurs } from "../../components/local/processes.ts";
import { restartLimit, type InstancesFile } from "../../components/local/instances.ts";
import { buildImage } from "../../components/local/image.ts";
import { freePort, repoRoot, routeOf, startLoad, startSampleGeneration } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("repair: supervisor restarts, active health checks, a generation brought back", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-repair-"));
    let frontDoor: FrontDoorOutputs;
    let client: FrontDoorClient;
    let ca: { certPem: string; keyPem: string };
    let generation: GenerationOutputs;
    const healthCheck = { path: "/healthz", intervalSeconds: 0.2, timeoutSeconds: 0.5, healthyThreshold: 2 };

    /** The supervisor's record of the instances running now (without one: the pids the generation started with). */
    const instances = (g: GenerationOutputs): InstancesFile["instances"] => {
        const file = join(g.stateDir, "generations", g.generation, "instances.json");
        if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as InstancesFile).instances;
        return g.pids.map((pid, i) => ({ pid, port: Number(g.backends[i]!.split(":")[1]), restarts: 0, gaveUp: false, startedAt: g.createdAt }));
    };
    const marker = (g: GenerationOutputs) => `--repave-generation=hello/${g.generation}@${g.stateDir}`;
    const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, ms: number) => {
        const deadline = Date.now() + ms;
        while (!(await ok())) {
            assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
            await sleep(25);
        }
    };

    /** One request on its own TLS connection ("Connection: close"): its status, or undefined. */
    const call = (timeoutMs = 2000): Promise<number | undefined> =>
        new Promise((resolve) => {
            const socket = tls.connect({ host: "127.0.0.1", port: frontDoor.port, servername: "localhost", ca: ca.certPem }, () =>
                socket.write(`GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${generation.credential}\r\nConnection: close\r\n\r\n`),
            );
            let out = "";
            socket.setTimeout(timeoutMs, () => socket.destroy());
            socket.on("data", (d: Buffer) => (out += d.toString("latin1")));
            socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1]) || undefined));
            socket.on("error", () => undefined);
        });

    before(async () => {
        frontDoor = await changeover.startFrontDoor({ api: "hello", port: await freePort(), testPort: await freePort(), stateDir: join(dir, "state"), adminTokenRotationSeconds: 86_400 });
        client = new FrontDoorClient(frontDoor.stateDir, frontDoor.adminToken);
        const authority = await changeover.createCa({ commonName: "repair test CA", rotationSeconds: 86_400 });
        ca = { certPem: authority.signingCertPem, keyPem: authority.keyPem };
        generation = await startSampleGeneration(dir, frontDoor, ca, "grep001", 2, 2);
        await client.setRoute("production", { ...routeOf(generation), healthCheck });
    });
    after(async () => {
        if (frontDoor) await changeover.stopFrontDoor(frontDoor);
        rmSync(dir, { recursive: true, force: true });
    });

    it("a backend killed between requests: restarted in place (new pid, same port), every call 200 within 5 s, the steady client never fails", async () => {
        const load = startLoad(frontDoor.port, () => generation.credential, 60);
        try {
            await sleep(500);
            const before = instances(generation);
            const victim = before[0]!;
            process.kill(victim.pid, "SIGKILL");
            const killedAt = Date.now();
            let streak = 0;
            while (streak < 30) {
                assert.ok(Date.now() - killedAt < 5000, `no steady 200s within 5 s of the kill (streak ${streak})`);
                streak = (await call()) === 200 ? streak + 1 : 0;
            }
            await waitFor("the supervisor restarted the instance", () => instances(generation)[0]!.pid !== victim.pid && isOurs(instances(generation)[0]!.pid, marker(generation)), 5000);
            const now = instances(generation);
            assert.equal(now[0]!.port, victim.port, "restarted on its port: the route needs no change");
            assert.equal(now[0]!.restarts, 1);
            assert.equal(now[1]!.pid, before[1]!.pid, "the other instance untouched");
            assert.ok(changeover.generationAlive(generation), "a generation whose supervisor restarted an instance runs as it should");
            // The restarted instance takes requests again (health check passes twice, then it is in rotation).
            await waitFor("the restarted backend back in rotation", async () => (await client.state()).health[`127.0.0.1:${victim.port}`] === "up", 3000);
        } finally {
            const report = await load.stop();
            assert.ok(report.requests > 50, `load ran (${report.requests} requests)`);
            const log = readFileSync(join(frontDoor.stateDir, "frontdoor.log"), "utf8").split("\n").filter((l) => / for GET /.test(l)).slice(0, 5).join("\n");
            assert.equal(report.failed, 0, `the steady client: ${JSON.stringify(report)}\n${log}`);
        }
    });

    it("a backend failing active health checks leaves the rotation, and comes back when it passes", async () => {
        const [stuck, other] = generation.backends.map((b) => b);
        const stuckPid = instances(generation).find((i) => `127.0.0.1:${i.port}` === stuck)!.pid;
        // Stopped, not dead: it accepts connections (the kernel does) but never answers - only an HTTP check sees it.
        process.kill(stuckPid, "SIGSTOP");
        try {
            await waitFor("the stuck backend marked down", async () => (await client.state()).health[stuck!] === "down", 3000);
            assert.equal((await client.state()).health[other!], "up");
            const before = (await client.state()).served[generation.generation] ?? 0;
            const started = Date.now();
            const statuses = [];
            for (let i = 0; i < 20; i++) statuses.push(await call(1500));
            assert.deepEqual(statuses, Array(20).fill(200), "every call answered by the healthy backend");
            assert.ok(Date.now() - started < 5000, `20 calls took ${Date.now() - started} ms: none waited on the stuck backend`);
            assert.equal(((await client.state()).served[generation.generation] ?? 0) - before, 20);
        } finally {
            process.kill(stuckPid, "SIGCONT");
        }
        await waitFor("the backend back in rotation once it passes", async () => (await client.state()).health[stuck!] === "up", 3000);
        assert.ok(isOurs(stuckPid, marker(generation)), "a slow instance is not restarted: it never died");
    });

    it("a crash loop is given up on and reported; the engine's repair gives it a new budget", async () => {
        const g = await startSampleGeneration(dir, frontDoor, ca, "grep002", 1, 1);
        for (let kill = 0; kill <= restartLimit; kill++) {
            const pid = instances(g)[0]!.pid;
            await waitFor("the instance runs", () => isOurs(pid, marker(g)), 6000);
            process.kill(pid, "SIGKILL");
            await waitFor("the supervisor saw the death", () => instances(g)[0]!.pid !== pid || instances(g)[0]!.gaveUp, 7000);
        }
        assert.equal(instances(g)[0]!.gaveUp, true, `given up after ${restartLimit + 1} deaths within a minute`);
        assert.equal(changeover.generationAlive(g), false, "the engine's diff sees it: a repair is due");
        const repaired = await changeover.repairGeneration(g, inputsOf(g));
        assert.equal(repaired.supervisor, g.supervisor, "the same supervisor, told to try again");
        assert.ok(changeover.generationAlive(repaired));
        assert.deepEqual(repaired.backends, g.backends);
    });

    it("every process of a generation killed (a machine restart): repair restarts it on the same ports, same credential", async () => {
        const g = generation;
        const all = [g.supervisor!, ...instances(g).map((i) => i.pid)];
        for (const pid of all) process.kill(pid, "SIGKILL");
        await waitFor("everything dead", () => !changeover.generationAlive(g) && all.every((pid) => !isOurs(pid, marker(g))), 3000);
        const repaired = await changeover.repairGeneration(g, inputsOf(g));
        assert.notEqual(repaired.supervisor, g.supervisor);
        assert.deepEqual(repaired.backends, g.backends, "the ports the front door routes to");
        assert.ok(repaired.pids.every((pid) => !all.includes(pid)));
        assert.ok(changeover.generationAlive(repaired));
        generation = repaired;
        await waitFor("both backends up", async () => Object.values((await client.state()).health).every((h) => h === "up"), 3000);
        for (let i = 0; i < 10; i++) assert.equal(await call(), 200);
    });

    it("a port taken meanwhile: repair falls back to a free one (the gate and switch then move the route)", async () => {
        const g = generation;
        const all = [g.supervisor!, ...instances(g).map((i) => i.pid)];
        for (const pid of all) process.kill(pid, "SIGKILL");
        await waitFor("everything dead", () => !changeover.generationAlive(g) && all.every((pid) => !isOurs(pid, marker(g))), 3000);
        const { createServer } = await import("node:net");
        // The front door's health checks reach the squatter too; HAProxy ends a check connection with a reset.
        const squatter = createServer((socket) => socket.on("error", () => undefined));
        const taken = Number(g.backends[0]!.split(":")[1]);
        // The dead instance's port is free once the kernel has closed its socket: take it as soon as it is.
        await waitFor("the dead instance's port free to take", () => new Promise<boolean>((r) => {
            squatter.once("error", () => r(false));
            squatter.listen(taken, "127.0.0.1", () => r(true));
        }), 3000);
        try {
            const repaired = await changeover.repairGeneration(g, inputsOf(g));
            assert.notEqual(repaired.backends[0], g.backends[0]);
            assert.equal(repaired.backends[1], g.backends[1]);
            generation = repaired;
            await client.setRoute("production", { ...routeOf(repaired), healthCheck });
            for (let i = 0; i < 6; i++) assert.equal(await call(), 200);
        } finally {
            squatter.close();
        }
    });

    it("a request that kills its backend is replayed once at most: it takes down two instances, never three", async () => {
        // A build whose /v1/crash exits the process before answering: the poison request.
        const source = join(dir, "poison-src");
        cpSync(join(repoRoot, "images", "sample-api", "1.1.0"), source, { recursive: true });
        const server = join(source, "server.mjs");
        writeFileSync(server, readFileSync(server, "utf8").replace("function handle(req, res) {", "function handle(req, res) {\n  if (req.url === \"/v1/crash\") process.exit(1);"));
        const image = buildImage(source, join(dir, "builds"));
        const poison = await changeover.createGeneration({
            ...inputsOf(generation), generation: "gpoison", imageDir: image.dir, imageEntry: image.entry, imageHash: image.hash, capacity: 3,
        });
        try {
            await client.setRoute("test", routeOf(poison));
            const call = (path: string) =>
                new Promise<number | undefined>((resolve) => {
                    const socket = tls.connect({ host: "127.0.0.1", port: frontDoor.testPort, servername: "localhost", ca: ca.certPem }, () =>
                        socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${poison.credential}\r\nConnection: close\r\n\r\n`));
                    let out = "";
                    socket.setTimeout(3000, () => socket.destroy());
                    socket.on("data", (d: Buffer) => (out += d.toString("latin1")));
                    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1]) || undefined));
                    socket.on("error", () => undefined);
                });
            // Warm the front door's pool: every backend has an idle keep-alive connection, so the poison request
            // goes out on a reused one and its reset looks like the keep-alive race.
            for (let i = 0; i < 9; i++) assert.equal(await call("/v1/hello"), 200);
            const before = instances(poison).map((i) => i.pid);
            const status = await call("/v1/crash");
            assert.ok(status === 502, `the poison request answered ${status}`);
            await sleep(300);
            const died = instances(poison).filter((i, n) => i.restarts > 0 || i.pid !== before[n]).length;
            assert.ok(died >= 1 && died <= 2, `${died} instances died of one request`);
        } finally {
            await client.clearRoute("test");
            await changeover.retireGeneration(poison, frontDoor.adminToken);
        }
    });

    function inputsOf(g: GenerationOutputs): GenerationInputs {
        const image = buildImage(join(repoRoot, "images", "sample-api", "1.1.0"), join(dir, "builds"));
        return {
            api: g.api, generation: g.generation, imageDir: image.dir, imageEntry: image.entry, imageHash: image.hash,
            imageVersion: image.version, imageCreatedAt: image.createdAt, capacity: g.capacity, domains: g.domains,
            certLifetimeDays: 7, caCertPem: ca.certPem, caKeyPem: ca.keyPem, stateDir: g.stateDir,
            frontDoorToken: frontDoor.adminToken, drainSeconds: g.drainSeconds,
            healthCheck: { path: "/healthz", intervalSeconds: 0.1, timeoutSeconds: 1, healthyThreshold: 1, graceSeconds: 20 },
        };
    }
});
