// A throwaway local stack driven by the real Pulumi CLI (.engine/bin/pulumi): its own project folder, file
// backend, PULUMI_HOME, free loopback ports and a copy of the sample builds, so tests never share state.
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import * as https from "node:https";
import { createServer } from "node:net";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon from "autocannon";
import { createGeneration, type GenerationOutputs } from "../../components/local/changeover.ts";
import { buildImage, type ResolvedImage } from "../../components/local/image.ts";

export const repoRoot = resolve(import.meta.dirname, "../..");
const engineBin = join(repoRoot, ".engine", "bin");

/**
 * A free port for a listener a test starts later, from 20000-29999: below the kernel's ephemeral range (32768-60999
 * here, where every outgoing connection takes its local port - one of them took a port between the pick and the
 * front door's bind, and HAProxy failed "Address already in use") and below Kubernetes' NodePort range
 * (30000-32767). Never the same port twice in one test process.
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = 20_000 + Math.floor(Math.random() * 10_000);
        if (handedOut.has(port)) continue;
        const free = await new Promise<boolean>((res) => {
            const srv = createServer();
            srv.once("error", () => res(false));
            srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
        });
        if (free) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error("no free port in 20000-29999 after 200 tries");
}

export interface RunResult {
    code: number | null;
    signal: NodeJS.Signals | null;
    out: string;
}

export interface ApiOutputs {
    url: string;
    generation: string;
    previousGeneration: string | null;
    imageVersion: string;
    imageHash: string;
    certSerial: string;
    certNotAfter: string;
    credentialCreatedAt: string;
    frontDoorUrn: string;
    capacity: number;
}

export interface ExportedState {
    deployment: {
        resources: Array<{ urn: string; type: string; delete?: boolean; outputs?: Record<string, unknown> }>;
        pending_operations?: unknown[];
    };
}

/** A state backend other than the default file one: the engine's environment for it, and the folder its objects are
 * kept in on this machine (a versitygw bucket's folder), which locks() and stateText() read. */
export interface StateBackend {
    env: Record<string, string>;
    root: string;
}

export class LocalStack {
    readonly dir: string;
    /** Where the backend keeps `.pulumi/` on disk: the file backend's folder, or an S3 gateway's bucket folder. */
    stateRoot: string;
    readonly imagesDir: string;
    readonly stack: string = "e2e";
    readonly port: number;
    readonly testPort: number;
    protected readonly env: NodeJS.ProcessEnv;
    api: Record<string, unknown>;

    constructor(dir: string, port: number, testPort: number) {
        this.dir = dir;
        this.port = port;
        this.testPort = testPort;
        this.imagesDir = join(dir, "images");
        this.stateRoot = join(dir, ".pulumi-state");
        this.env = {
            ...process.env,
            PATH: `${engineBin}:${join(repoRoot, "node_modules", ".bin")}:${process.env["PATH"] ?? ""}`,
            PULUMI_HOME: join(dir, ".pulumi-home"),
            PULUMI_BACKEND_URL: `file://${join(dir, ".pulumi-state")}`,
            PULUMI_CONFIG_PASSPHRASE: "repave-test-passphrase",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        };
        this.api = {
            name: "hello",
            image: { source: "local-builds", path: this.imagesDir },
            capacity: 2,
            certificate: { domains: ["localhost"], lifetimeDays: 7 },
            drainSeconds: 5,
            keepWarmSeconds: 1,
            healthCheck: { intervalSeconds: 0.2, healthyThreshold: 2 },
            probes: { intervalSeconds: 0.25 },
            local: { port, testPort },
        };
    }

    /** A new stack of this class (subclasses, e.g. the Kubernetes target's, set their own config in writeConfig). */
    static async create<T extends LocalStack>(this: new (dir: string, port: number, testPort: number) => T, prefix: string, backend?: StateBackend): Promise<T> {
        const dir = mkdtempSync(join(tmpdir(), `repave-${prefix}-`));
        const stack = new this(dir, await freePort(), await freePort());
        if (backend) {
            Object.assign(stack.env, backend.env);
            stack.stateRoot = backend.root;
        }
        for (const f of ["Pulumi.yaml", "package.json", "index.ts"]) cpSync(join(repoRoot, f), join(dir, f));
        cpSync(join(repoRoot, "components"), join(dir, "components"), { recursive: true });
        // repave's provider plugin, declared by Pulumi.yaml (plugins.providers: ./provider).
        cpSync(join(repoRoot, "provider"), join(dir, "provider"), { recursive: true });
        // The model's shared constants (the front-door marker, secret shapes) live beside the policy pack.
        cpSync(join(repoRoot, "policy"), join(dir, "policy"), { recursive: true });
        cpSync(join(repoRoot, "images", "sample-api"), stack.imagesDir, { recursive: true });
        symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
        mkdirSync(join(dir, "stacks"));
        mkdirSync(join(dir, ".pulumi-state"));
        const init = await stack.pulumi(["stack", "init", stack.stack]);
        if (init.code !== 0) throw new Error(`stack init failed:\n${init.out}`);
        stack.writeConfig();
        return stack;
    }

    /**
     * The same stack checked out again in another folder - a CD runner's fresh workspace - on the same backend and
     * config, without this checkout's `.repave` folder.
     */
    reclone(): LocalStack {
        const dir = mkdtempSync(join(tmpdir(), "repave-reclone-"));
        for (const f of ["Pulumi.yaml", "package.json", "index.ts"]) cpSync(join(this.dir, f), join(dir, f));
        for (const d of ["components", "provider", "policy", "stacks"]) if (existsSync(join(this.dir, d))) cpSync(join(this.dir, d), join(dir, d), { recursive: true });
        symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
        const other = new LocalStack(dir, this.port, this.testPort);
        Object.assign(other.env, this.env);
        other.stateRoot = this.stateRoot;
        other.api = this.api;
        return other;
    }

    get stateDir(): string {
        return join(this.dir, ".repave", "local", this.stack, "hello");
    }

    /** Writes stacks/Pulumi.e2e.yaml from `this.api` (or from raw YAML text, for bad-config tests). */
    writeConfig(rawApis?: string): void {
        const apis = rawApis ?? JSON.stringify([this.api]);
        writeFileSync(
            join(this.dir, "stacks", `Pulumi.${this.stack}.yaml`),
            `config:\n  repave:target: local\n  repave:apis: ${apis}\n`,
        );
    }

    /** Adds build source `version` to the image folder: a copy of 1.1.0 with `patch` applied to its server source. */
    addBuild(version: string, patch: (source: string) => string = (s) => s, extra: Record<string, unknown> = {}): void {
        const dir = join(this.imagesDir, version);
        cpSync(join(this.imagesDir, "1.1.0"), dir, { recursive: true });
        const server = join(dir, "server.mjs");
        writeFileSync(server, patch(readFileSync(server, "utf8")));
        const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Record<string, unknown>;
        writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...manifest, version, ...extra }));
    }

    /** The program's build store (components/local/image.ts): where deploys build and date the image sources. */
    get buildStore(): string {
        return join(this.dir, ".repave", "builds");
    }

    /** Builds source `version` now, as if its content had first been built at `builtAt` (an old build). */
    prebuild(version: string, builtAt: Date): ResolvedImage {
        return buildImage(join(this.imagesDir, version), this.buildStore, builtAt);
    }

    removeBuild(version: string): void {
        rmSync(join(this.imagesDir, version), { recursive: true, force: true });
    }

    spawnPulumi(args: string[]): ChildProcess {
        return spawn("pulumi", [...args, "--cwd", this.dir, "--non-interactive", "--color", "never"], {
            env: this.env,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true, // its own process group: a SIGKILL test kills the CLI and everything it started
        });
    }

    pulumi(args: string[]): Promise<RunResult> {
        const child = this.spawnPulumi(args);
        return collect(child);
    }

    /** The repave driver (cli/repave.ts) against this stack, as a user would run it. */
    repave(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
        return collect(this.spawnRepave(args, false, env));
    }

    /** The driver as a child; `detached`: in a process group of its own, as a terminal's foreground job is. */
    spawnRepave(args: string[], detached: boolean, env: NodeJS.ProcessEnv = {}): ChildProcess {
        return spawn(process.execPath, [join(repoRoot, "cli", "repave.ts"), ...args, ...(args.includes("--stack") ? [] : ["--stack", this.stack]), "--cwd", this.dir], {
            env: { ...this.env, ...env },
            stdio: ["ignore", "pipe", "pipe"],
            detached,
        });
    }

    /**
     * A secret output of the first live resource whose type ends with `typeSuffix`, as the state holds it (read with
     * --show-secrets: `{"4dabf18193072939515e22adb298388d": …, "plaintext": "<JSON>"}`), or undefined. With
     * `onlySecret`, a value stored in plain text counts as missing.
     */
    private async secretInState(typeSuffix: string, key: string, onlySecret = false): Promise<unknown> {
        const r = await this.pulumi(["stack", "export", "--show-secrets", "--stack", this.stack]);
        const state = JSON.parse(r.out) as ExportedState;
        const secret = state.deployment.resources.find((x) => x.type.endsWith(typeSuffix) && !x.delete)?.outputs?.[key] as { plaintext?: string } | string | undefined;
        if (typeof secret === "object" && secret.plaintext !== undefined) return JSON.parse(secret.plaintext) as unknown;
        return onlySecret ? undefined : secret;
    }

    /** The live generation's credential as the front door holds it (state, not the last run's outputs). */
    async liveCredential(): Promise<string> {
        const credential = await this.secretInState(":Switch", "credential");
        if (typeof credential !== "string") throw new Error("no live route in state");
        return credential;
    }

    /** The front door's admin token as the engine knows it (a secret output). */
    async frontDoorAdminToken(): Promise<string> {
        const token = await this.secretInState(":FrontDoor", "adminToken", true);
        if (typeof token !== "string") throw new Error("no front door admin token in state");
        return token;
    }

    /** Lock files (or a bucket's lock objects) of this stack in its backend (pkg/backend/diy/lock.go's layout). */
    locks(): string[] {
        const dir = join(this.stateRoot, ".pulumi", "locks", "organization", "repave", this.stack);
        return existsSync(dir) ? readdirSync(dir) : [];
    }

    up(...extra: string[]): Promise<RunResult> {
        return this.pulumi(["up", "--yes", "--skip-preview", "--stack", this.stack, ...extra]);
    }

    async outputs(): Promise<Record<string, ApiOutputs>> {
        const r = await this.pulumi(["stack", "output", "endpoints", "--json", "--stack", this.stack]);
        if (r.code !== 0) throw new Error(r.out);
        return JSON.parse(r.out) as Record<string, ApiOutputs>;
    }

    async hello(): Promise<ApiOutputs> {
        const out = (await this.outputs())["hello"];
        if (!out) throw new Error("no outputs for hello");
        return out;
    }

    async credential(): Promise<string> {
        const r = await this.pulumi(["stack", "output", "credentials", "--json", "--show-secrets", "--stack", this.stack]);
        return (JSON.parse(r.out) as Record<string, string>)["hello"]!;
    }

    async caPem(): Promise<string> {
        const r = await this.pulumi(["stack", "output", "caCertPem", "--stack", this.stack]);
        return r.out.trim();
    }

    /** The checkpoint exactly as the backend stores it. */
    stateText(): string {
        const file = join(this.stateRoot, ".pulumi", "stacks", "repave", `${this.stack}.json`);
        return existsSync(file) ? readFileSync(file, "utf8") : "";
    }

    async exportState(): Promise<ExportedState> {
        const r = await this.pulumi(["stack", "export", "--stack", this.stack]);
        return JSON.parse(r.out) as ExportedState;
    }

    async cleanup(): Promise<void> {
        await this.pulumi(["destroy", "--yes", "--skip-preview", "--stack", this.stack]);
        rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * A generation of the sample API (1.1.0) started by the changeover's own step, without the engine, beside the front
 * door `frontDoor` and signed by `ca`: what the engine-less tests of the front door route to.
 */
export async function startSampleGeneration(
    workDir: string,
    frontDoor: { stateDir: string; adminToken: string },
    ca: { certPem: string; keyPem: string },
    id: string,
    capacity: number,
    drainSeconds: number,
): Promise<GenerationOutputs> {
    const image = buildImage(join(repoRoot, "images", "sample-api", "1.1.0"), join(workDir, "builds"));
    return createGeneration({
        api: "hello", generation: id, imageDir: image.dir, imageEntry: image.entry, imageHash: image.hash,
        imageVersion: image.version, imageCreatedAt: image.createdAt, capacity, domains: ["localhost"],
        certLifetimeDays: 7, caCertPem: ca.certPem, caKeyPem: ca.keyPem, stateDir: frontDoor.stateDir,
        frontDoorToken: frontDoor.adminToken, drainSeconds,
        healthCheck: { path: "/healthz", intervalSeconds: 0.1, timeoutSeconds: 1, healthyThreshold: 1, graceSeconds: 20 },
    });
}

/** The production/test route of a generation, as the front door takes it. */
export const routeOf = (g: GenerationOutputs) => ({ generation: g.generation, backends: g.backends, certPem: g.certPem, keyPem: g.keyPem, certSerial: g.certSerial, domains: g.domains });

/**
 * One HTTPS request through the front door, verifying the server against `caPem` exactly as a client holding that
 * bundle would: status, serving generation and certificate serial (status -1: the request or TLS failed).
 */
export function verifiedCall(port: number, caPem: string, credential: string): Promise<{ status: number; generation: string; serial: string }> {
    return new Promise((resolve) => {
        const req = https.get(
            { host: "127.0.0.1", port, path: "/v1/hello", servername: "localhost", ca: caPem, agent: false, timeout: 5_000, headers: { host: "localhost", authorization: `Bearer ${credential}` } },
            (res) => {
                const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase();
                res.resume();
                res.on("end", () => resolve({ status: res.statusCode ?? 0, generation: String(res.headers["x-repave-generation"]), serial }));
            },
        );
        req.on("error", () => resolve({ status: -1, generation: "", serial: "" }));
    });
}

export function collect(child: ChildProcess): Promise<RunResult> {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    return new Promise((res) => child.on("close", (code, signal) => res({ code, signal, out })));
}

/** Starts `pulumi up` and SIGKILLs its process group as soon as its output matches `when`. */
export async function upKilledWhen(stack: LocalStack, when: RegExp): Promise<string> {
    const child = stack.spawnPulumi(["up", "--yes", "--skip-preview", "--stack", stack.stack]);
    let seen = "";
    let killed = false;
    child.stdout!.on("data", (d: Buffer) => {
        seen += d.toString();
        if (!killed && when.test(seen)) {
            killed = true;
            process.kill(-child.pid!, "SIGKILL");
        }
    });
    const result = await collect(child);
    if (!killed) throw new Error(`never reached ${when}; the run ended with ${result.code}:\n${seen}`);
    if (result.signal !== "SIGKILL") throw new Error(`the run ended with ${result.signal ?? result.code}, not SIGKILL`);
    return seen;
}

/** Processes on this machine whose command line carries `marker` (the local target tags each one). */
export function processesWith(marker: string): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").some((a) => a.includes(marker))) pids.push(Number(entry));
        } catch {
            // exited meanwhile
        }
    }
    return pids;
}

/**
 * Provider plugin processes running in `dir` ("pid argv"): the dynamic-provider host, a pulumi-resource-* executable,
 * repave's plugin module. After a recover no engine runs there, so any such process was left by a killed one.
 */
export function providerProcessesIn(dir: string): string[] {
    const found: string[] = [];
    const real = realpathSync(dir);
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if (readlinkSync(`/proc/${entry}/cwd`) !== real) continue;
            const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
            if (/\/cmd\/dynamic-provider|(^|\/)pulumi-(resource|language)-|\/components\/local\/plugin\/main\./.test(argv.slice(0, 2).join(" "))) found.push(`${entry} ${argv.join(" ").trim()}`);
        } catch {
            // exited meanwhile
        }
    }
    return found;
}

export function portOpen(port: number): Promise<boolean> {
    return new Promise((res) => {
        const srv = createServer();
        srv.once("error", () => res(true));
        srv.listen(port, "127.0.0.1", () => srv.close(() => res(false)));
    });
}

export interface LoadReport {
    requests: number;
    ok2xx: number;
    failed: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
}

/**
 * Steady HTTPS load on loopback with autocannon, bounded in time and stopped by `stop()`. The credential is read
 * per request from `credential()`, as a client that refreshes its secret after each changeover would.
 */
export function startLoad(port: number, credential: () => string, maxSeconds = 240, host = "127.0.0.1", overallRate?: number): { stop: () => Promise<LoadReport> } {
    let finish: (r: autocannon.Result) => void = () => undefined;
    const done = new Promise<autocannon.Result>((res) => (finish = res));
    const instance = autocannon({
        url: `https://${host}:${port}`,
        connections: 8,
        duration: maxSeconds,
        ...(overallRate ? { overallRate } : {}),
        servername: "localhost",
        requests: [
            {
                method: "GET",
                path: "/v1/hello",
                setupRequest: (req: autocannon.Request) => ({
                    ...req,
                    headers: { host: "localhost", authorization: `Bearer ${credential()}` },
                }),
            },
        ],
    }, (err, result) => {
        if (err) throw err;
        finish(result);
    });
    return {
        stop: async () => {
            instance.stop();
            const r = await done;
            return {
                requests: r.requests.total,
                ok2xx: r["2xx"],
                failed: r.errors + r.timeouts + r.non2xx + r.resets,
                errors: r.errors,
                timeouts: r.timeouts,
                non2xx: r.non2xx,
                resets: r.resets,
            };
        },
    };
}
