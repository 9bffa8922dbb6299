// A generation's supervisor: one detached process per generation that runs its instances and restarts one that
// dies, in place (same port, so the front door's route stays right), with backoff and a limit. An instance that
// keeps dying is given up on and the supervisor says so in its instances file: the engine's diff reads that and
// repairs the generation (SIGHUP: try the given-up instances again). SIGTERM drains: every instance gets SIGTERM
// and the supervisor exits once they are gone.
//
// Instances carry the generation's marker (`--repave-generation=...`), the supervisor its own, so a pid is only
// ever signalled while /proc says it is still ours, and counting a generation's processes counts its instances.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { restartLimit, restartWindowMs, type InstanceRecord, type InstancesFile } from "./instances.ts";

/** Backoff between restarts: doubles from the first delay up to the cap; reset by a run longer than the window. */
const firstDelayMs = 100;
const maxDelayMs = 5_000;

function env(name: string): string {
    const v = process.env[name];
    if (!v) {
        console.error(`supervisor: ${name} is required`);
        process.exit(2);
    }
    return v;
}

function main(): void {
    const entry = env("REPAVE_SUP_ENTRY");
    const cwd = env("REPAVE_SUP_CWD");
    const dir = env("REPAVE_SUP_DIR");
    const marker = env("REPAVE_SUP_MARKER");
    const count = Number(env("REPAVE_SUP_COUNT"));
    // Ports the instances had before (a repair after every process was killed): tried first, so the route the
    // front door kept still points at them. One that cannot be had falls back to a free port.
    const preferred = (process.env["REPAVE_SUP_PORTS"] ?? "").split(",").filter(Boolean).map(Number);
    // What the instances get: the supervisor's own settings stay with it.
    const childEnv: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("REPAVE_SUP_")) childEnv[k] = v;

    const file = join(dir, "instances.json");
    const records: InstanceRecord[] = [];
    const children: Array<ChildProcess | undefined> = [];
    const history: number[][] = Array.from({ length: count }, () => []);
    const ready: boolean[] = Array.from({ length: count }, () => false);
    let stopping = false;

    const persist = () => {
        const body: InstancesFile = { supervisor: process.pid, marker, instances: records };
        writeFileSync(`${file}.tmp`, JSON.stringify(body), { mode: 0o600 });
        renameSync(`${file}.tmp`, file);
    };

    const portFile = (i: number) => join(dir, `port-${i}`);

    /** `mayFallBack`: a port held before (repair) that cannot be had is swapped once for a free one. */
    const start = (i: number, port: number | null, mayFallBack = false) => {
        rmSync(portFile(i), { force: true });
        const log = openSync(join(dir, `app-${i}.log`), "a", 0o600);
        let child: ChildProcess;
        try {
            child = spawn(process.execPath, [entry, marker], {
                cwd,
                env: {
                    ...childEnv,
                    REPAVE_PORT_FILE: portFile(i),
                    REPAVE_PORT: port ? String(port) : "",
                    // On loopback only, and no idle-connection grace on a drain: the front door is its only client.
                    REPAVE_HOST: "127.0.0.1",
                    REPAVE_IDLE_CLOSE_MS: "0",
                },
                stdio: ["ignore", log, log],
            });
        } finally {
            closeSync(log);
        }
        if (child.pid === undefined) throw new Error(`could not start ${entry}`);
        children[i] = child;
        records[i] = { pid: child.pid, port, restarts: records[i]?.restarts ?? 0, gaveUp: false, startedAt: new Date().toISOString() };
        persist();
        const startedAt = Date.now();
        // The port file says the instance listens (it writes it atomically once it does).
        const poll = setInterval(() => {
            if (!existsSync(portFile(i))) return;
            const said = Number(readFileSync(portFile(i), "utf8").trim());
            clearInterval(poll);
            if (children[i] !== child) return;
            ready[i] = true;
            if (records[i]!.port !== said) {
                records[i]!.port = said;
                persist();
            }
        }, 25);
        child.on("exit", (code, signal) => {
            clearInterval(poll);
            if (children[i] === child) children[i] = undefined;
            if (stopping) {
                if (children.every((c) => c === undefined)) process.exit(0);
                return;
            }
            console.error(`supervisor: instance ${i} (pid ${child.pid}) exited (${signal ?? code})`);
            if (!ready[i]) {
                // It never listened. With a port it had before (repair), that port may be taken now: try a free
                // one once. Otherwise a first start that fails is the deploy's failure, not something to retry:
                // stop and let the engine report it with this instance's log.
                if (mayFallBack) {
                    records[i]!.port = null;
                    start(i, null);
                    return;
                }
                shutdown(1);
                return;
            }
            const now = Date.now();
            // A run longer than the window starts the backoff afresh.
            if (now - startedAt > restartWindowMs) history[i] = [];
            history[i] = history[i]!.filter((t) => now - t < restartWindowMs);
            if (history[i].length >= restartLimit) {
                records[i]!.gaveUp = true;
                persist();
                console.error(`supervisor: instance ${i} died ${restartLimit + 1} times within ${restartWindowMs / 1000}s; given up until repaired`);
                return;
            }
            const delay = Math.min(firstDelayMs * 2 ** history[i].length, maxDelayMs);
            history[i].push(now);
            records[i]!.restarts += 1;
            setTimeout(() => {
                if (!stopping) start(i, records[i]!.port);
            }, delay);
        });
    };

    const shutdown = (code: number) => {
        if (stopping) return;
        stopping = true;
        const running = children.filter((c): c is ChildProcess => c !== undefined);
        if (running.length === 0) process.exit(code);
        for (const c of running) c.kill("SIGTERM");
        // Instances drain themselves; one that does not is killed before the caller's own SIGKILL would orphan it.
        setTimeout(() => {
            for (const c of children) c?.kill("SIGKILL");
            process.exit(code);
        }, Number(process.env["REPAVE_SUP_STOP_MS"] ?? 30_000)).unref();
    };

    process.on("SIGTERM", () => shutdown(0));
    // Repair: the given-up instances get a fresh budget of restarts.
    process.on("SIGHUP", () => {
        for (let i = 0; i < count; i++) {
            if (records[i]?.gaveUp && children[i] === undefined && !stopping) {
                history[i] = [];
                start(i, records[i]!.port);
            }
        }
    });
    for (let i = 0; i < count; i++) start(i, preferred[i] ?? null, preferred[i] !== undefined);
}

main();
