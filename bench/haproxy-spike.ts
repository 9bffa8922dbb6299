// Spike (issue #11 item 2), not wired into the target: can HAProxy, driven only through its runtime API on a Unix
// socket, do what the local front door does - move the route from one generation's backends to another's and swap
// the certificate - without resetting clients' keep-alive connections? And what does a request cost it in CPU?
// Needs the `haproxy` binary (Debian: apt-get install haproxy; it runs as this user, no root, no reload).
//   node bench/haproxy-spike.ts [--seconds N]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { parseArgs } from "node:util";
import { createCertificateAuthority, issueServerCertificate } from "../components/local/pki.ts";
import { freePort, repoRoot } from "../test/e2e/harness.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" } } });
const seconds = Math.max(2, Math.min(60, Number(values.seconds)));
const work = mkdtempSync(join(tmpdir(), "repave-haproxy-"));
const children: ChildProcess[] = [];
const credential = "spike-credential";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function backend(generation: string, i: number): Promise<number> {
    const portFile = join(work, `${generation}-${i}`);
    children.push(spawn(process.execPath, [join(repoRoot, "images", "sample-api", "1.1.0", "server.mjs")], {
        env: { REPAVE_CREDENTIAL: credential, REPAVE_PORT_FILE: portFile, REPAVE_GENERATION: generation },
        stdio: "ignore",
    }));
    while (!existsSync(portFile)) await sleep(20);
    return Number(readFileSync(portFile, "utf8"));
}

/** One runtime-API command on the admin socket (non-interactive: one command per connection). */
function admin(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = connect(join(work, "admin.sock"), () => socket.end(`${command}\n`));
        let out = "";
        socket.on("data", (d: Buffer) => (out += d.toString()));
        socket.on("end", () => resolve(out));
        socket.on("error", reject);
    });
}

/** user + system CPU of a process, in ms (/proc/<pid>/stat, 10 ms ticks). */
const cpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
};

async function main(): Promise<Record<string, unknown>> {
    const version = execFileSync("haproxy", ["-v"], { encoding: "utf8" }).split("\n")[0]!;
    const ca = await createCertificateAuthority("haproxy spike CA", 2);
    const certA = await issueServerCertificate({ certPem: ca.certPem, keyPem: ca.keyPem }, ["localhost"], 1);
    const certB = await issueServerCertificate({ certPem: ca.certPem, keyPem: ca.keyPem }, ["localhost"], 1);
    const crt = join(work, "production.pem");
    writeFileSync(crt, `${certA.certPem.trim()}\n${certA.keyPem.trim()}\n`, { mode: 0o600 });
    const a = [await backend("gA", 0), await backend("gA", 1)];
    const b = [await backend("gB", 0), await backend("gB", 1)];
    const port = await freePort();
    // The front door's rules in HAProxy terms: TLS >= 1.2 with AEAD-only ciphers, 421 for a foreign Host, only
    // origin-form targets, deadlines for slow clients and upstreams, active health checks; four server slots whose
    // address the runtime API sets (a generation is a set of slots, not a config reload).
    writeFileSync(join(work, "haproxy.cfg"), `
global
    stats socket ${join(work, "admin.sock")} mode 600 level admin
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 60s
    timeout http-request 15s
    timeout http-keep-alive 30s
frontend production
    bind 127.0.0.1:${port} ssl crt ${crt}
    http-request deny deny_status 400 unless { path_beg / }
    http-request return status 421 content-type text/plain string "misdirected request" unless { req.hdr(host),field(1,:) -m str localhost 127.0.0.1 }
    default_backend live
backend live
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header x-repave-served-by %s
    server-template s 1-4 127.0.0.1:1 disabled check inter 200 fall 2 rise 2
`);
    const proxy = spawn("haproxy", ["-f", join(work, "haproxy.cfg"), "-db"], { stdio: ["ignore", "ignore", "inherit"] });
    children.push(proxy);
    while (!existsSync(join(work, "admin.sock"))) await sleep(20);
    const route = async (slots: number[], ports: number[]) => {
        for (const [i, slot] of slots.entries()) {
            await admin(`set server live/s${slot} addr 127.0.0.1 port ${ports[i]}`);
            await admin(`set server live/s${slot} state ready`);
        }
    };
    const up = async (slots: number[]) => {
        for (;;) {
            const state = await admin("show servers state live");
            // Columns: ... srv_name(4) srv_addr(5) srv_op_state(6): 2 = running.
            const running = state.split("\n").filter((l) => /^\d/.test(l)).map((l) => l.split(" ")).filter((c) => slots.map((s) => `s${s}`).includes(c[3]!) && c[5] === "2");
            if (running.length === slots.length) return;
            await sleep(50);
        }
    };
    await route([1, 2], a);
    await up([1, 2]);

    // Keep-alive clients: 8 connections, as many requests as they can; every new TLS connection is counted.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: ca.certPem, servername: "localhost" });
    let connections = 0;
    const seen = new WeakSet<object>();
    const served: Record<string, number> = {};
    const failures: Record<string, number> = {};
    const serials = new Set<string>();
    let stop = false;
    const client = async () => {
        while (!stop) {
            await new Promise<void>((resolve) => {
                const req = https.request({ host: "127.0.0.1", port, path: "/v1/hello", agent, headers: { host: "localhost", authorization: `Bearer ${credential}` } }, (res) => {
                    const socket = res.socket as TLSSocket;
                    if (!seen.has(socket)) {
                        seen.add(socket);
                        connections++;
                        serials.add(socket.getPeerCertificate().serialNumber.toLowerCase());
                    }
                    let body = "";
                    res.on("data", (c: Buffer) => (body += c.toString()));
                    res.on("end", () => {
                        if (res.statusCode === 200) {
                            const gen = (JSON.parse(body) as { generation: string }).generation;
                            served[gen] = (served[gen] ?? 0) + 1;
                        } else failures[`status ${res.statusCode}`] = (failures[`status ${res.statusCode}`] ?? 0) + 1;
                        resolve();
                    });
                });
                req.on("error", (err: NodeJS.ErrnoException) => {
                    failures[err.code ?? err.message] = (failures[err.code ?? err.message] ?? 0) + 1;
                    resolve();
                });
                req.end();
            });
        }
    };
    const clients = Array.from({ length: 8 }, () => client());
    await sleep(1000);
    const connectionsBefore = connections;

    // The changeover through the runtime API: the candidate's slots join, the live ones drain (no new requests,
    // in-flight ones finish) and go to maintenance once they hold no connection; the certificate is replaced in
    // memory (set + commit), without a reload.
    const cpuBefore = cpuMs(proxy.pid!);
    const requestsBefore = Object.values(served).reduce((x, y) => x + y, 0);
    const switchStarted = performance.now();
    await route([3, 4], b);
    await up([3, 4]);
    await admin("set server live/s1 state drain");
    await admin("set server live/s2 state drain");
    await admin(`set ssl cert ${crt} <<\n${certB.certPem.trim()}\n${certB.keyPem.trim()}\n`);
    const committed = await admin(`commit ssl cert ${crt}`);
    // Per-server in-flight sessions (the drain's count): `show stat` CSV, column scur.
    const inflight = async (names: string[]) => {
        const rows = (await admin("show stat")).split("\n").map((l) => l.split(","));
        const header = rows[0]!.map((h) => h.replace(/^# /, ""));
        const col = (n: string) => header.indexOf(n);
        return rows.filter((r) => r[col("pxname")] === "live" && names.includes(r[col("svname")]!)).reduce((n, r) => n + Number(r[col("scur")]), 0);
    };
    while ((await inflight(["s1", "s2"])) > 0) await sleep(50);
    await admin("set server live/s1 state maint");
    await admin("set server live/s2 state maint");
    const switchMs = performance.now() - switchStarted;
    await sleep(seconds * 1000);
    stop = true;
    await Promise.all(clients);
    const requests = Object.values(served).reduce((x, y) => x + y, 0) - requestsBefore;
    const cpu = cpuMs(proxy.pid!) - cpuBefore;
    // A fresh connection after the swap: it must present the new certificate.
    const fresh = await new Promise<string>((resolve, reject) => {
        https.get({ host: "127.0.0.1", port, path: "/healthz", agent: false, ca: ca.certPem, servername: "localhost", headers: { host: "localhost" } }, (res) => {
            resolve((res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase());
            res.resume();
        }).on("error", reject);
    });
    agent.destroy();
    const foreign = await new Promise<number>((resolve, reject) => {
        https.get({ host: "127.0.0.1", port, path: "/v1/hello", agent: false, ca: ca.certPem, servername: "localhost", headers: { host: "evil.example" } }, (res) => {
            resolve(res.statusCode ?? 0);
            res.resume();
        }).on("error", reject);
    });
    return {
        date: new Date().toISOString(),
        haproxy: version,
        keepAliveConnections: { before: connectionsBefore, after: connections, newDuringSwitch: connections - connectionsBefore },
        served,
        failures,
        certificateCommit: committed.trim().split("\n").pop(),
        freshConnectionSerial: fresh === certB.serial.toLowerCase() ? "new certificate" : `unexpected ${fresh}`,
        foreignHost: foreign,
        switchMs: Math.round(switchMs),
        closedLoop: { requests, cpuMsPerRequest: Number((cpu / requests).toFixed(4)) },
    };
}

try {
    const result = await main();
    console.log(JSON.stringify(result, null, 2));
    writeFileSync(join(repoRoot, "bench", "results", "haproxy-spike.json"), JSON.stringify(result, null, 2));
} finally {
    for (const c of children) c.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
}
