// The local front door's admin channel and the I1 guard, on the real daemon and real sample-API processes (the
// changeover's own steps, without the engine): admin access never reaches a process that is not the front door,
// its token rotates with overlap, and a front door that runs but does not answer never lets a serving generation
// be retired ("gone" and "call failed" are different things).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { get } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
    createCa, frontDoorClient, retireGeneration, rotateAdminToken, startFrontDoor, stopFrontDoor,
    type FrontDoorOutputs, type GenerationOutputs,
} from "../../components/local/changeover.ts";
import { FrontDoorGoneError, readInfo } from "../../components/local/frontdoor/client.ts";
import { isOurs } from "../../components/local/processes.ts";
import { freePort, routeOf, startSampleGeneration } from "./harness.ts";

/** TCP ports a process listens on, from /proc (its socket inodes matched against /proc/net/tcp{,6} LISTEN rows). */
function listeningTcpPorts(pid: number): number[] {
    const inodes = new Set(
        readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
            const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
            return m ? [m[1]!] : [];
        }),
    );
    return ["tcp", "tcp6"].flatMap((f) =>
        readFileSync(`/proc/net/${f}`, "utf8").split("\n").slice(1).flatMap((row) => {
            const cols = row.trim().split(/\s+/);
            return cols[3] === "0A" && inodes.has(cols[9]!) ? [parseInt(cols[1]!.split(":")[1]!, 16)] : [];
        }),
    );
}

describe("front door admin channel and the I1 guard", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-fdadmin-"));
    let frontDoor: FrontDoorOutputs;
    let ca: { certPem: string; keyPem: string };

    const startGeneration = (id: string): Promise<GenerationOutputs> => startSampleGeneration(dir, frontDoor, ca, id, 1, 1);
    const start = async () =>
        startFrontDoor({ api: "hello", port: await freePort(), testPort: await freePort(), stateDir: join(dir, `state-${Date.now()}`), adminTokenRotationSeconds: 86_400 });

    before(async () => {
        const authority = await createCa({ commonName: "admin test CA", rotationSeconds: 86_400 });
        ca = { certPem: authority.signingCertPem, keyPem: authority.keyPem };
        frontDoor = await start();
    });
    after(async () => {
        if (frontDoor) await stopFrontDoor(frontDoor);
        rmSync(dir, { recursive: true, force: true });
    });

    it("listens for admin calls only on a 0600 Unix socket in its 0700 state folder: no admin TCP port", () => {
        const info = readInfo(frontDoor.stateDir)!;
        assert.equal(statSync(frontDoor.stateDir).mode & 0o777, 0o700);
        assert.ok(statSync(info.adminSocket).isSocket());
        assert.equal(statSync(info.adminSocket).mode & 0o777, 0o600);
        // The daemon and its HAProxy (whose processes share the master's process group) together.
        const proxyPid = (info as unknown as { proxyPid: number }).proxyPid;
        const group = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
            try {
                return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[2] === String(proxyPid);
            } catch {
                return false;
            }
        });
        assert.ok(group.length >= 2, "HAProxy's master and worker");
        const ports = [...new Set([info.pid, ...group].flatMap((pid) => listeningTcpPorts(pid)))];
        assert.deepEqual(ports.sort(), [frontDoor.port, frontDoor.testPort].sort(), "only the two listeners");
    });

    it("rotates its admin token with overlap: the previous token works until the next rotation, older ones never", async () => {
        const t1 = frontDoor;
        const t2 = await rotateAdminToken(t1);
        assert.notEqual(t2.adminToken, t1.adminToken);
        await frontDoorClient(t1.stateDir, t1.adminToken).state(); // still accepted (overlap)
        await assert.rejects(frontDoorClient(t1.stateDir, t1.adminToken).rotateToken("a".repeat(64)), /403/, "only the current token rotates");
        const t3 = await rotateAdminToken(t2);
        await assert.rejects(frontDoorClient(t1.stateDir, t1.adminToken).state(), /401/, "two rotations old: refused");
        await frontDoorClient(t2.stateDir, t2.adminToken).state();
        frontDoor = t3;
    });

    it("a front door that runs but does not answer never lets the serving generation be retired", async () => {
        const live = await startGeneration("gadmin1");
        await frontDoorClient(frontDoor.stateDir, frontDoor.adminToken).setRoute("production", routeOf(live));
        // The daemon runs, but its admin socket is gone: every call fails. That is not "no front door".
        rmSync(readInfo(frontDoor.stateDir)!.adminSocket);
        await assert.rejects(retireGeneration(live, frontDoor.adminToken), /refusing to delete generation gadmin1 .*did not answer/);
        assert.ok(live.pids.every((pid) => isOurs(pid, `--repave-generation=hello/gadmin1@${live.stateDir}`)), "the serving generation still runs");
    });

    it("its HAProxy killed: the daemon starts another with the routes, certificate and counts it had", async () => {
        const fd = await start();
        try {
            const live = await startSampleGeneration(dir, fd, ca, "gadmin2", 1, 1);
            const client = frontDoorClient(fd.stateDir, fd.adminToken);
            await client.setRoute("production", routeOf(live));
            const call = () =>
                new Promise<number>((resolve) => {
                    get({ host: "127.0.0.1", port: fd.port, path: "/v1/hello", ca: ca.certPem, servername: "localhost", agent: false, headers: { host: "localhost", authorization: `Bearer ${live.credential}` } }, (res) => {
                        res.resume();
                        resolve(res.statusCode ?? 0);
                    }).on("error", () => resolve(-1));
                });
            assert.equal(await call(), 200);
            await new Promise((r) => setTimeout(r, 1200)); // the daemon reads HAProxy's counters every second
            const { proxyPid } = readInfo(fd.stateDir) as unknown as { proxyPid: number };
            process.kill(proxyPid, "SIGKILL");
            const killedAt = Date.now();
            const proxyNow = () => (readInfo(fd.stateDir) as unknown as { proxyPid: number }).proxyPid;
            let status = -1;
            // (The old worker may answer for a moment after its master died: only a new HAProxy's 200 counts.)
            while (status !== 200 || proxyNow() === proxyPid) {
                assert.ok(Date.now() - killedAt < 5000, `no new HAProxy answering 200 within 5 s of the old one's death (last ${status})`);
                await new Promise((r) => setTimeout(r, 100));
                status = await call(); // verified against the CA: the generation's certificate is back too
            }
            const state = await client.state();
            assert.equal(state.routes.production?.generation, "gadmin2");
            assert.ok((state.served["gadmin2"] ?? 0) >= 2, `served before the restart still counted: ${JSON.stringify(state.served)}`);
        } finally {
            await stopFrontDoor(fd);
        }
    });

    it("after the front door dies, its token reaches no other process on its old address", async () => {
        const victim = await start();
        const info = readInfo(victim.stateDir)!;
        process.kill(info.pid, "SIGKILL");
        while (isOurs(info.pid, `--repave-frontdoor=${victim.stateDir}`)) await new Promise((r) => setTimeout(r, 20));
        // Whatever now listens where the front door's admin endpoint was receives nothing.
        let received = "";
        const impostor = createServer((s) => s.on("data", (d: Buffer) => (received += d.toString())));
        const legacyPort = (info as unknown as { adminPort?: number }).adminPort;
        if (existsSync(info.adminSocket ?? "")) rmSync(info.adminSocket);
        await new Promise<void>((r) => (legacyPort ? impostor.listen(legacyPort, "127.0.0.1", r) : impostor.listen(info.adminSocket, r)));
        try {
            await assert.rejects(frontDoorClient(victim.stateDir, victim.adminToken).state(), FrontDoorGoneError);
            await new Promise((r) => setTimeout(r, 200));
            assert.ok(!received.includes(victim.adminToken), "the admin token went to another process");
        } finally {
            impostor.close();
            rmSync(victim.stateDir, { recursive: true, force: true });
        }
    });
});
