// The local front door's cost per request, from one run: latency added at a fixed 1,000 req/s over the backends
// reached directly (goal: p99 added <= 2 ms), and the daemon's CPU time per request from /proc (user + system).
// A baseline daemon - the file as it was at a git ref - runs in the same run against the same backends, so
// "before/after" share the machine's noise. Engine-less: the daemon and two sample-API processes on loopback.
//   node bench/proxy-latency.ts [--baseline <git ref>] [--seconds N] [--rate R]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { connect, type Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FrontDoorClient } from "../components/local/frontdoor/client.ts";
import { createCertificateAuthority, issueServerCertificate } from "../components/local/pki.ts";
import { freePort, repoRoot } from "../test/e2e/harness.ts";

const { values } = parseArgs({
    options: { baseline: { type: "string" }, seconds: { type: "string", default: "10" }, rate: { type: "string", default: "1000" }, haproxy: { type: "boolean", default: false } },
});
const seconds = Math.max(2, Math.min(60, Number(values.seconds)));
const rate = Math.max(100, Math.min(5000, Number(values.rate)));
const work = mkdtempSync(join(tmpdir(), "repave-proxybench-"));
const children: ChildProcess[] = [];
const credential = "bench-credential";

const waitFile = async (file: string) => {
    const deadline = Date.now() + 15_000;
    while (!existsSync(file)) {
        if (Date.now() > deadline) throw new Error(`${file} never appeared`);
        await new Promise((r) => setTimeout(r, 20));
    }
    return readFileSync(file, "utf8");
};

async function startBackend(i: number): Promise<string> {
    const portFile = join(work, `port-${i}`);
    children.push(spawn(process.execPath, [join(repoRoot, "images", "sample-api", "1.1.0", "server.mjs")], {
        env: { REPAVE_CREDENTIAL: credential, REPAVE_PORT_FILE: portFile, REPAVE_GENERATION: "gbench1" },
        stdio: "ignore",
    }));
    return `127.0.0.1:${(await waitFile(portFile)).trim()}`;
}

/** Starts a daemon file (this checkout's, or a baseline's copy) on a free port, routed to `backends`. */
async function startDaemon(name: string, script: string, backends: string[], cert: { certPem: string; keyPem: string; serial: string }) {
    const stateDir = join(work, name);
    mkdirSync(stateDir, { mode: 0o700 });
    const port = await freePort();
    const token = "b".repeat(64);
    // REPAVE_BENCH_CPU_PROF=<dir>: each daemon writes a V8 CPU profile there when the bench ends.
    const profile = process.env["REPAVE_BENCH_CPU_PROF"];
    const child = spawn(process.execPath, [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []), script], {
        env: { PATH: process.env["PATH"] ?? "", REPAVE_FD_STATE_DIR: stateDir, REPAVE_FD_ADMIN_TOKEN: token, REPAVE_FD_PORT: String(port), REPAVE_FD_TEST_PORT: String(await freePort()) },
        stdio: "inherit",
    });
    children.push(child);
    await waitFile(join(stateDir, "frontdoor.json"));
    await new FrontDoorClient(stateDir, token).setRoute("production", {
        generation: "gbench1", backends, certPem: cert.certPem, keyPem: cert.keyPem, certSerial: cert.serial, domains: ["localhost"],
    });
    return { port, pid: child.pid! };
}

/**
 * --haproxy: HAProxy (the item-2 candidate, see bench/haproxy-spike.ts) in the same rounds, with the front door's
 * TLS settings and a plain config routed to the same backends - what a replacement would cost per request.
 */
async function startHaproxy(backends: string[], cert: { certPem: string; keyPem: string }) {
    const port = await freePort();
    const crt = join(work, "haproxy.pem");
    writeFileSync(crt, `${cert.certPem.trim()}\n${cert.keyPem.trim()}\n`, { mode: 0o600 });
    writeFileSync(join(work, "haproxy.cfg"), [
        "global", "    ssl-default-bind-options ssl-min-ver TLSv1.2", "    maxconn 4000",
        "defaults", "    mode http", "    timeout connect 5s", "    timeout client 30s", "    timeout server 60s", "    timeout http-request 15s",
        "frontend production", `    bind 127.0.0.1:${port} ssl crt ${crt}`, "    default_backend live",
        "backend live", "    balance roundrobin", ...backends.map((b, i) => `    server s${i} ${b}`), "",
    ].join("\n"));
    const child = spawn("haproxy", ["-f", join(work, "haproxy.cfg"), "-db"], { stdio: ["ignore", "ignore", "inherit"] });
    children.push(child);
    const deadline = Date.now() + 10_000;
    while (!(await new Promise<boolean>((r) => connect(port, "127.0.0.1").once("connect", function (this: Socket) { this.destroy(); r(true); }).once("error", () => r(false))))) {
        if (Date.now() > deadline) throw new Error("haproxy did not listen");
        await new Promise((r) => setTimeout(r, 50));
    }
    return { name: "haproxy", script: "haproxy", port, pid: child.pid! };
}

/** user + system CPU of a process, in ms (from /proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Run { requests: number; errors: number; latencies: number[] }

function stats(latencies: number[]): { p50: number; p99: number; mean: number } {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    const round = (x: number) => Number(x.toFixed(3));
    return { p50: round(at(0.5)), p99: round(at(0.99)), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}

/** Open-loop load: `rate` requests a second, in 1 ms-spaced slots batched per 10 ms tick; each latency timed. */
async function fixedRate(send: () => Promise<number>, durationS: number): Promise<Run> {
    const latencies: number[] = [];
    let errors = 0;
    const pending: Array<Promise<void>> = [];
    const failure = (why: string) => {
        errors++;
        failures[why] = (failures[why] ?? 0) + 1;
    };
    const started = performance.now();
    let sent = 0;
    while (performance.now() - started < durationS * 1000) {
        const due = Math.floor(((performance.now() - started) / 1000) * rate);
        for (; sent < due; sent++) {
            const t = performance.now();
            pending.push(send().then(
                (status) => (status === 200 ? void latencies.push(performance.now() - t) : void failure(`status ${status}`)),
                (err: NodeJS.ErrnoException) => failure(err.code ?? err.message),
            ));
        }
        await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(pending);
    return { requests: sent, errors, latencies };
}

/** Why requests failed, over the whole run (printed at the end: a failure is never silent). */
const failures: Record<string, number> = {};

const headers = { host: "localhost", authorization: `Bearer ${credential}` };
const request = (mod: typeof http | typeof https, options: https.RequestOptions) => (): Promise<number> =>
    new Promise((resolve, reject) => {
        const req = mod.request({ ...options, path: "/v1/hello", headers }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end();
    });

async function main(): Promise<void> {
    const ca = await createCertificateAuthority("proxy bench CA", 2);
    const leaf = await issueServerCertificate({ certPem: ca.certPem, keyPem: ca.keyPem }, ["localhost"], 1);
    const backends = [await startBackend(0), await startBackend(1)];
    const daemons: Array<{ name: string; script: string }> = [{ name: "current", script: join(repoRoot, "components", "local", "frontdoor", "daemon.ts") }];
    if (values.baseline) {
        const file = join(work, "baseline-daemon.ts");
        writeFileSync(file, execFileSync("git", ["-C", repoRoot, "show", `${values.baseline}:components/local/frontdoor/daemon.ts`]));
        daemons.unshift({ name: `baseline (${values.baseline})`, script: file });
    }
    const started = await Promise.all(daemons.map(async (d, i) => ({ ...d, ...(await startDaemon(`fd${i}`, d.script, backends, leaf)) })));
    if (values.haproxy) started.push(await startHaproxy(backends, leaf));

    // Keep-alive on every path, as a real client pool: 64 connections at most.
    const directAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    let next = 0;
    const direct = () => {
        const [host, port] = backends[next++ % backends.length]!.split(":");
        return request(http, { host, port: Number(port), agent: directAgent })();
    };
    const warm = async (send: () => Promise<number>) => void (await fixedRate(send, 1));

    // Interleaved rounds (direct, then each daemon, `rounds` times): the machine's noise - other processes on these
    // cores - lands on every path alike. Latencies are pooled per path; CPU is summed per daemon.
    const paths: Array<{ name: string; send: () => Promise<number>; pid?: number; samples: number[]; errors: number; requests: number; cpu: number }> = [
        { name: "direct", send: direct, samples: [], errors: 0, requests: 0, cpu: 0 },
    ];
    const agents: https.Agent[] = [];
    for (const d of started) {
        const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: ca.certPem, servername: "localhost" });
        agents.push(agent);
        paths.push({ name: d.name, send: request(https, { host: "127.0.0.1", port: d.port, agent, servername: "localhost", ca: ca.certPem }), pid: d.pid, samples: [], errors: 0, requests: 0, cpu: 0 });
    }
    for (const p of paths) await warm(p.send);
    const rounds = Math.max(1, Math.round(seconds / 4));
    for (let r = 0; r < rounds; r++) {
        for (const p of paths) {
            const before = p.pid ? cpuMs(p.pid) : 0;
            const run = await fixedRate(p.send, seconds / rounds);
            if (p.pid) p.cpu += cpuMs(p.pid) - before;
            p.samples.push(...run.latencies);
            p.errors += run.errors;
            p.requests += run.requests;
        }
    }
    const results: Record<string, unknown> = {};
    const direct99 = stats(paths[0]!.samples).p99;
    for (const p of paths) {
        const s = stats(p.samples);
        const row = {
            requests: p.requests, errors: p.errors, ...s,
            ...(p.pid ? { p99AddedMs: Number((s.p99 - direct99).toFixed(3)), cpuMsPerRequest: Number((p.cpu / p.requests).toFixed(4)) } : {}),
        };
        results[p.name] = row;
        console.log(`${p.name === "direct" ? "direct to the backends" : `through the front door, ${p.name}`}: ${JSON.stringify(row)}`);
    }
    for (const a of agents) a.destroy();
    directAgent.destroy();
    const names = started.map((d) => d.name);
    const cpuOf = (n: string) => (results[n] as { cpuMsPerRequest: number }).cpuMsPerRequest;
    if (values.baseline) {
        results["cpuPerRequestAfterOverBefore"] = Number((cpuOf("current") / cpuOf(names[0]!)).toFixed(2));
        console.log(`CPU per request, after / before: ${String(results["cpuPerRequestAfterOverBefore"])}`);
    }
    if (values.haproxy) {
        results["cpuPerRequestHaproxyOverCurrent"] = Number((cpuOf("haproxy") / cpuOf("current")).toFixed(2));
        console.log(`CPU per request, haproxy / current daemon: ${String(results["cpuPerRequestHaproxyOverCurrent"])}`);
    }
    if (Object.keys(failures).length > 0) console.log(`failures: ${JSON.stringify(failures)}`);
    // Latency on a shared machine is the scheduler's as much as the proxy's: the load average goes with the figures.
    const out = { date: new Date().toISOString(), rate, seconds, failures, loadAverage: loadavg().map((x) => Number(x.toFixed(2))), cpus: cpus().length, ...results };
    mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
    writeFileSync(join(repoRoot, "bench", "results", "proxy-latency.json"), JSON.stringify(out, null, 2));
}

try {
    await main();
} finally {
    // SIGTERM: a daemon exits on its own (and writes its profile, if asked); the backends are killed.
    for (const c of children) c.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) c.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
}
