// The front door's data path: an HAProxy the daemon starts (master-worker, in its own process group), restarts if
// it dies, stops with itself, and drives only through its runtime API. A generation's backends go into a free slot
// backend as dynamic servers with active health checks; a route is one entry of the routes map naming a slot. So a
// route move is one runtime call - `commit ssl cert` of the listener's new certificate and `set map` of its route,
// back to back - and keep-alive clients follow it on their next request without a reset (no reload ever).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCertificateAuthority } from "../pki.ts";
import { files, renderConfig, serversPerSlot, slotCount, slotName, type Deadlines } from "./haproxy-config.ts";
import { expectOk, parseStat, runtime } from "./runtime-api.ts";

export type RouteName = "production" | "test";

/**
 * The spec's health check of a route's backends. The front door checks its path (without one, the app contract's
 * /healthz); its timing is HAProxy's own (haproxy-config.ts) - the spec's timing gates the candidate (waitHealthy).
 */
export interface BackendCheck {
    path: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    healthyThreshold: number;
}

export interface RouteSpec {
    generation: string;
    backends: string[];
    certPem: string;
    keyPem: string;
    certSerial: string;
    domains: string[];
    healthCheck?: BackendCheck;
}

export interface Traffic {
    inflight: Record<string, number>;
    served: Record<string, number>;
    failed: Record<string, number>;
    health: Record<string, "up" | "down">;
}

interface Counters {
    served: number;
    failed: number;
}

interface Slot {
    /** Generation, backends and health-check path it holds: a route to the same is a route to this slot. */
    key?: string;
    spec?: RouteSpec;
    /** Counters when it took its generation (HAProxy's only grow until it restarts). */
    base: Counters;
    releasedAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slotKey = (s: RouteSpec) => JSON.stringify([s.generation, s.backends, s.healthCheck?.path ?? "/healthz"]);

export class HaproxyDataPath {
    private readonly f: ReturnType<typeof files>;
    private readonly slots: Slot[] = Array.from({ length: slotCount }, () => ({ base: { served: 0, failed: 0 }, releasedAt: 0 }));
    private readonly routes: Record<RouteName, number | null> = { production: null, test: null };
    private readonly certSerial: Record<RouteName, string | undefined> = { production: undefined, test: undefined };
    /** Map contents, mirrored on disk so a restarted HAProxy starts with them. */
    private readonly maps = new Map<string, Map<string, string>>();
    /** Counters of generations no longer in the slot they were counted in. */
    private readonly banked: Record<string, Counters> = {};
    private last: Array<Record<string, string>> = [];
    private child: ChildProcess | undefined;
    private stopping = false;
    private queue: Promise<unknown> = Promise.resolve();

    private readonly binary: string;
    private readonly stateDir: string;
    private readonly ports: Record<RouteName, number>;
    private readonly deadlines: Deadlines;
    /** Told the new master's pid after a restart (the info file names it). */
    private readonly onRestart: (pid: number) => void;

    constructor(binary: string, stateDir: string, ports: Record<RouteName, number>, deadlines: Deadlines, onRestart: (pid: number) => void) {
        this.binary = binary;
        this.stateDir = stateDir;
        this.ports = ports;
        this.deadlines = deadlines;
        this.onRestart = onRestart;
        this.f = files(stateDir);
        for (const m of [this.f.routes, this.f.hosts, this.f.generations, this.f.checks]) this.maps.set(m, new Map());
    }

    get pid(): number | undefined {
        return this.child?.pid;
    }

    /** One change at a time: the runtime calls of two admin requests never interleave. */
    private serial<T>(work: () => Promise<T>): Promise<T> {
        const next = this.queue.then(work, work);
        this.queue = next.catch(() => undefined);
        return next;
    }

    private cmd(command: string): Promise<string> {
        return expectOk(this.f.socket, command);
    }

    async start(): Promise<void> {
        for (const route of ["production", "test"] as const) {
            // A listener needs a certificate before any route names one: a throwaway self-signed one nobody trusts.
            if (!existsSync(this.f.cert(route))) {
                const placeholder = await createCertificateAuthority("repave front door: no route yet", 1);
                writeFileSync(this.f.cert(route), `${placeholder.certPem.trim()}\n${placeholder.keyPem.trim()}\n`, { mode: 0o600 });
            }
        }
        this.writeMaps();
        // Stops HAProxy when this daemon is gone however it went (SIGKILL too): nothing else would.
        const watchdog = join(this.stateDir, "watchdog.sh");
        // (tail --pid waits without forking: no process is started every half second.) It stops the HAProxy that
        // started it only while that one is still its parent: once HAProxy has died, its pid may be any process's
        // (pids wrap at 32,768 on small machines) - a watchdog left over from a killed HAProxy must signal nobody.
        writeFileSync(watchdog, `tail --pid=${process.pid} --sleep-interval=0.5 -f /dev/null\n[ "$(cut -d' ' -f4 /proc/$$/stat)" = "$PPID" ] && kill -TERM $PPID\n`, { mode: 0o600 });
        writeFileSync(this.f.config, renderConfig(this.stateDir, this.ports, this.deadlines, `/bin/sh ${watchdog}`), { mode: 0o600 });
        await this.stopLeftover();
        await this.launch();
        // Counters are read every second, so an HAProxy that dies takes at most a second of counts with it.
        setInterval(() => void this.serial(() => this.read(false)).catch(() => undefined), 1000).unref();
    }

    /** An HAProxy of this state folder whose daemon died (its watchdog stops it within a second; do not wait). */
    private async stopLeftover(): Promise<void> {
        if (!existsSync(this.f.pid)) return;
        const pid = Number(readFileSync(this.f.pid, "utf8").trim());
        const ours = () => {
            try {
                return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(this.f.config);
            } catch {
                return false;
            }
        };
        if (!ours()) return;
        process.kill(pid, "SIGTERM");
        for (let i = 0; i < 100 && ours(); i++) await sleep(50);
    }

    private async launch(): Promise<void> {
        const child = spawn(this.binary, ["-W", "-db", "-f", this.f.config], { detached: true, stdio: ["ignore", "inherit", "inherit"] });
        this.child = child;
        let exited = false;
        let ready = false;
        child.once("exit", (code, signal) => {
            exited = true;
            // One that never got ready is launch()'s failure, retried by whoever called it.
            if (this.stopping || this.child !== child || !ready) return;
            console.error(`front door: HAProxy exited (${signal ?? code}); restarting it`);
            // A worker that outlived its master still holds the listeners: the group goes with the master.
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                // nothing left of it
            }
            this.bankAll();
            void this.serial(() => this.relaunch());
        });
        const deadline = Date.now() + 10_000;
        for (;;) {
            if (exited) throw new Error("HAProxy exited at start (its log is above)");
            if (existsSync(this.f.socket) && (await runtime(this.f.socket, "show info").catch(() => "")).includes("Pid:")) break;
            if (Date.now() > deadline) throw new Error("HAProxy did not answer on its runtime socket within 10 s");
            await sleep(50);
        }
        // After a restart: put every slot's servers back (maps and certificates came from the files).
        for (const [i, slot] of this.slots.entries()) if (slot.spec) await this.setServers(i, slot.spec);
        ready = true;
    }

    private async relaunch(): Promise<void> {
        for (let attempt = 0; !this.stopping; attempt++) {
            await sleep(Math.min(10_000, 250 * 2 ** attempt));
            try {
                await this.launch();
                this.onRestart(this.child!.pid!);
                return;
            } catch (err) {
                console.error(`front door: HAProxy restart failed: ${(err as Error).message}`);
            }
        }
    }

    /**
     * Soft stop of the master, which passes it to its workers (in-flight requests finish, hard-stop-after bounds
     * it) - not to the group: the watchdog would die of it and the master then kill everything at once. After
     * graceMs, the whole process group.
     */
    async stop(graceMs = 12_000): Promise<void> {
        this.stopping = true;
        const pid = this.child?.pid;
        if (pid === undefined || this.child!.exitCode !== null || this.child!.signalCode !== null) return;
        const gone = new Promise((r) => this.child!.once("exit", r));
        process.kill(pid, "SIGUSR1");
        if ((await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)])) === false) {
            process.kill(-pid, "SIGKILL");
            await gone;
        }
    }

    setRoute(route: RouteName, spec: RouteSpec | null): Promise<void> {
        return this.serial(async () => {
            if (!spec) {
                await this.mapDel(this.f.routes, route);
                await this.release(route);
                return;
            }
            const i = this.slots.findIndex((s) => s.key === slotKey(spec));
            const slot = i >= 0 ? i : await this.fill(spec);
            if (i >= 0 && !Object.values(this.routes).includes(i)) await this.checks(i, "enable");
            await this.setDomains(slot, spec.domains);
            this.slots[slot]!.spec = spec;
            // The move itself: the listener's certificate (staged, then committed) and its route, in one call.
            const move = [this.mapCommand(this.f.routes, route, slotName(slot))];
            if (this.certSerial[route] !== spec.certSerial) {
                await this.cmd(`set ssl cert ${this.f.cert(route)} <<\n${spec.certPem.trim()}\n${spec.keyPem.trim()}\n`);
                move.unshift(`commit ssl cert ${this.f.cert(route)}`);
            }
            await this.cmd(move.join(";"));
            if (this.certSerial[route] !== spec.certSerial) {
                this.writeAtomic(this.f.cert(route), `${spec.certPem.trim()}\n${spec.keyPem.trim()}\n`);
                this.certSerial[route] = spec.certSerial;
            }
            this.writeMaps();
            if (this.routes[route] !== slot) await this.release(route);
            this.routes[route] = slot;
        });
    }

    /** A slot no route names any more is not checked: its generation is retiring (as unrouted backends were never). */
    private async release(route: RouteName): Promise<void> {
        const was = this.routes[route];
        this.routes[route] = null;
        if (was === null || Object.values(this.routes).includes(was)) return;
        this.slots[was]!.releasedAt = Date.now();
        await this.checks(was, "disable");
    }

    private async checks(i: number, op: "enable" | "disable"): Promise<void> {
        const spec = this.slots[i]!.spec;
        if (spec) await this.cmd(spec.backends.map((_, n) => `${op} health ${slotName(i)}/p${n + 1}`).join(";"));
    }

    /** A slot no route names and no request is in: the longest free, so a retiring generation keeps its count. */
    private async fill(spec: RouteSpec): Promise<number> {
        const stats = await this.read();
        const routed = new Set(Object.values(this.routes));
        const free = this.slots
            .map((s, i) => ({ s, i, busy: this.inflightOf(stats, i) }))
            .filter(({ i, busy }) => !routed.has(i) && busy === 0)
            .sort((a, b) => a.s.releasedAt - b.s.releasedAt);
        if (free.length === 0) throw new Error(`no free slot: ${slotCount} generations hold routes or requests`);
        const { i, s } = free[0]!;
        this.bank(i, stats);
        s.base = this.countersOf(stats, i);
        s.key = slotKey(spec);
        s.spec = spec;
        await this.mapSet(this.f.generations, slotName(i), spec.generation);
        await this.mapSet(this.f.checks, slotName(i), spec.healthCheck?.path ?? "/healthz");
        await this.setServers(i, spec);
        return i;
    }

    /**
     * The generation's backends into the slot's first server slots, each twice: checked (p<n>), and an unchecked
     * backup twin (b<n>) that takes requests only when every checked one is down - failing open. The rest: maint.
     */
    private async setServers(i: number, spec: RouteSpec): Promise<void> {
        const commands: string[] = [];
        for (let n = 1; n <= serversPerSlot; n++) {
            const backend = spec.backends[n - 1];
            for (const kind of ["p", "b"]) {
                const server = `${slotName(i)}/${kind}${n}`;
                if (!backend) {
                    commands.push(`set server ${server} state maint`);
                    continue;
                }
                const [host, p] = backend.split(":");
                commands.push(`set server ${server} addr ${host} port ${p}`, `set server ${server} state ready`);
                if (kind === "p") commands.push(`enable health ${server}`);
            }
        }
        // Batches: one runtime call per few servers, not one per command.
        for (let n = 0; n < commands.length; n += 16) await this.cmd(commands.slice(n, n + 16).join(";"));
    }

    private async setDomains(i: number, domains: string[]): Promise<void> {
        const hosts = this.maps.get(this.f.hosts)!;
        const prefix = `${slotName(i)}/`;
        for (const key of [...hosts.keys()]) if (key.startsWith(prefix) && !domains.includes(key.slice(prefix.length))) await this.mapDel(this.f.hosts, key);
        for (const d of domains) if (!hosts.has(`${prefix}${d.toLowerCase()}`)) await this.mapSet(this.f.hosts, `${prefix}${d.toLowerCase()}`, "1");
    }

    private mapCommand(file: string, key: string, value: string): string {
        const had = this.maps.get(file)!.has(key);
        this.maps.get(file)!.set(key, value);
        return `${had ? "set" : "add"} map ${file} ${key} ${value}`;
    }

    private async mapSet(file: string, key: string, value: string): Promise<void> {
        await this.cmd(this.mapCommand(file, key, value));
    }

    private async mapDel(file: string, key: string): Promise<void> {
        if (!this.maps.get(file)!.delete(key)) return;
        await this.cmd(`del map ${file} ${key}`);
    }

    private writeMaps(): void {
        for (const [file, entries] of this.maps) this.writeAtomic(file, [...entries].map(([k, v]) => `${k} ${v}\n`).join(""));
    }

    private writeAtomic(file: string, text: string): void {
        writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
        renameSync(`${file}.tmp`, file);
    }

    /** `show stat` of the backends (type 2), and with `servers` of their servers too (type 4): never the frontends. */
    private async read(servers = true): Promise<Array<Record<string, string>>> {
        this.last = parseStat(await runtime(this.f.socket, `show stat -1 ${servers ? 6 : 2} -1`));
        return this.last;
    }

    private row(stats: Array<Record<string, string>>, i: number) {
        return stats.find((r) => r["pxname"] === slotName(i) && r["svname"] === "BACKEND");
    }

    private inflightOf(stats: Array<Record<string, string>>, i: number): number {
        const r = this.row(stats, i);
        return r ? Number(r["scur"]) + Number(r["qcur"] || 0) : 0;
    }

    /** Served: answered below 500; failed: 5xx (the backend's or HAProxy's own 502/503/504) or cut by the backend. */
    private countersOf(stats: Array<Record<string, string>>, i: number): Counters {
        const r = this.row(stats, i);
        const n = (k: string) => Number(r?.[k] || 0);
        return { served: n("hrsp_1xx") + n("hrsp_2xx") + n("hrsp_3xx") + n("hrsp_4xx"), failed: n("hrsp_5xx") + n("srv_abrt") };
    }

    private bank(i: number, stats: Array<Record<string, string>>): void {
        const s = this.slots[i]!;
        if (!s.spec || !this.row(stats, i)) return;
        const now = this.countersOf(stats, i);
        const b = (this.banked[s.spec.generation] ??= { served: 0, failed: 0 });
        b.served += now.served - s.base.served;
        b.failed += now.failed - s.base.failed;
        s.base = now;
    }

    /** HAProxy died: what it counted (as last read) is kept, and its successor counts from zero. */
    private bankAll(): void {
        for (const [i, s] of this.slots.entries()) {
            this.bank(i, this.last);
            s.base = { served: 0, failed: 0 };
        }
        this.last = [];
    }

    traffic(): Promise<Traffic> {
        return this.serial(async () => {
            const stats = await this.read();
            const t: Traffic = { inflight: {}, served: {}, failed: {}, health: {} };
            for (const [gen, c] of Object.entries(this.banked)) {
                t.served[gen] = c.served;
                t.failed[gen] = c.failed;
            }
            const routed = new Set(Object.values(this.routes));
            for (const [i, s] of this.slots.entries()) {
                if (!s.spec) continue;
                const gen = s.spec.generation;
                const now = this.countersOf(stats, i);
                t.served[gen] = (t.served[gen] ?? 0) + now.served - s.base.served;
                t.failed[gen] = (t.failed[gen] ?? 0) + now.failed - s.base.failed;
                const busy = this.inflightOf(stats, i);
                if (busy > 0) t.inflight[gen] = (t.inflight[gen] ?? 0) + busy;
                if (!routed.has(i)) continue;
                for (const [n, b] of s.spec.backends.entries()) {
                    const status = stats.find((r) => r["pxname"] === slotName(i) && r["svname"] === `p${n + 1}`)?.["status"] ?? "";
                    t.health[b] = /^(UP|no check)/.test(status) ? "up" : "down";
                }
            }
            return t;
        });
    }
}
