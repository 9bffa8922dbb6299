// The local front door's cost per request, from one run: latency added at a fixed 1,000 req/s over the backends
// reached directly (goal: p99 added <= 2 ms), and CPU time per request from /proc (user + system) of the front door
// - its daemon and its HAProxy's processes - against the Node daemon that was the data path before HAProxy (the
// daemon.ts of a git ref, default 1034cd3), in the same run against the same backends, so both share the
// machine's noise. Engine-less: the front doors and two sample-API processes on loopback.
//   node bench/proxy-latency.ts [--baseline <git ref>] [--seconds N] [--rate R]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FrontDoorClient } from "../components/local/frontdoor/client.ts";
import { createCertificateAuthority, issueServerCertificate } from "../components/local/pki.ts";
import { freePort, repoRoot } from "../test/e2e/harness.ts";

/** The last commit whose front door daemon was also its data path (a Node proxy). */
const defaultBaseline = "1034cd3";
const { values } = parseArgs({
    options: { baseline: { type: "string", default: defaultBaseline }, seconds: { type: "string", default: "10" }, rate: { type: "string", default: "1000" } },
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
    // The marker: the front door's HAProxy stops itself once no process with it is left (its watchdog).
    const child = spawn(process.execPath, [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []), script, `--repave-frontdoor=${stateDir}`], {
        env: { PATH: process.env["PATH"] ?? "", REPAVE_FD_STATE_DIR: stateDir, REPAVE_FD_ADMIN_TOKEN: token, REPAVE_FD_PORT: String(port), REPAVE_FD_TEST_PORT: String(await freePort()) },
        stdio: "inherit",
    });
    children.push(child);
    await waitFile(join(stateDir, "frontdoor.json"));
    await new FrontDoorClient(stateDir, token).setRoute("production", {
        generation: "gbench1", backends, certPem: cert.certPem, keyPem: cert.keyPem, certSerial: cert.serial, domains: ["localhost"],
    });
    return { port, pids: processesOf(child.pid!, stateDir) };
}

/** user and system CPU of processes, in ms (from /proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pids: number[]): { user: number; system: number } {
    return pids.reduce(
        (sum, pid) => {
            const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
            return { user: sum.user + Number(fields[11]) * 10, system: sum.system + Number(fields[12]) * 10 };
        },
        { user: 0, system: 0 },
    );
}

/** A front door's processes: its daemon, and the HAProxy master and workers in the group it names (if any). */
function processesOf(daemon: number, stateDir: string): number[] {
    const proxy = (JSON.parse(readFileSync(join(stateDir, "frontdoor.json"), "utf8")) as { proxyPid?: number }).proxyPid;
    if (proxy === undefined) return [daemon];
    // HAProxy's master and worker; not its watchdog (a `tail` that sleeps), whatever else is in the group.
    const group = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
            const stat = readFileSync(`/proc/${p}/stat`, "utf8");
            return stat.includes("(haproxy)") && stat.split(") ")[1]!.split(" ")[2] === String(proxy);
        } catch {
            return false; // gone meanwhile
        }
    });
    return [daemon, ...group.map(Number)];
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
    const baseline = join(work, "baseline-daemon.ts");
    writeFileSync(baseline, execFileSync("git", ["-C", repoRoot, "show", `${values.baseline}:components/local/frontdoor/daemon.ts`]));
    const daemons = [
        { name: `node daemon (${values.baseline})`, script: baseline },
        { name: "current", script: join(repoRoot, "components", "local", "frontdoor", "daemon.ts") },
    ];
    const started = await Promise.all(daemons.map(async (d, i) => ({ ...d, ...(await startDaemon(`fd${i}`, d.script, backends, leaf)) })));

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
    const paths: Array<{ name: string; send: () => Promise<number>; pids?: number[]; samples: number[]; errors: number; requests: number; cpu: number; system: number }> = [
        { name: "direct", send: direct, samples: [], errors: 0, requests: 0, cpu: 0, system: 0 },
    ];
    const agents: https.Agent[] = [];
    for (const d of started) {
        const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: ca.certPem, servername: "localhost" });
        agents.push(agent);
        paths.push({ name: d.name, send: request(https, { host: "127.0.0.1", port: d.port, agent, servername: "localhost", ca: ca.certPem }), pids: d.pids, samples: [], errors: 0, requests: 0, cpu: 0, system: 0 });
    }
    for (const p of paths) await warm(p.send);
    const rounds = Math.max(1, Math.round(seconds / 4));
    for (let r = 0; r < rounds; r++) {
        for (const p of paths) {
            const before = p.pids ? cpuMs(p.pids) : undefined;
            const run = await fixedRate(p.send, seconds / rounds);
            if (p.pids && before) {
                const after = cpuMs(p.pids);
                p.cpu += after.user + after.system - before.user - before.system;
                p.system += after.system - before.system;
            }
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
            ...(p.pids ? { p99AddedMs: Number((s.p99 - direct99).toFixed(3)), cpuMsPerRequest: Number((p.cpu / p.requests).toFixed(4)),
                // The kernel's part (system time: loopback TCP, epoll) - what any proxy on this path pays.
                systemMsPerRequest: Number((p.system / p.requests).toFixed(4)) } : {}),
        };
        results[p.name] = row;
        console.log(`${p.name === "direct" ? "direct to the backends" : `through the front door, ${p.name}`}: ${JSON.stringify(row)}`);
    }
    for (const a of agents) a.destroy();
    directAgent.destroy();
    const names = started.map((d) => d.name);
    const cpuOf = (n: string) => (results[n] as { cpuMsPerRequest: number }).cpuMsPerRequest;
    // The ratios the issue asks for: p99 added over direct, and CPU per request against the Node daemon.
    results["p99AddedMs"] = (results["current"] as { p99AddedMs: number }).p99AddedMs;
    results["p99OverDirect"] = Number((stats(paths.find((p) => p.name === "current")!.samples).p99 / direct99).toFixed(2));
    results["cpuPerRequestOverNodeDaemon"] = Number((cpuOf("current") / cpuOf(names[0]!)).toFixed(2));
    console.log(`p99 added at ${rate} req/s: ${String(results["p99AddedMs"])} ms (${String(results["p99OverDirect"])}x direct); CPU per request, front door / node daemon: ${String(results["cpuPerRequestOverNodeDaemon"])}`);
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
