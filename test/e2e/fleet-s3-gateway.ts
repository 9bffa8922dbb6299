// A real S3-compatible object store for the tests: versitygw (a maintained Go S3 gateway; its POSIX backend keeps
// each bucket as a folder), built from the Go module proxy at a pinned release, listening on loopback only, with
// root credentials made up for the run. Pulumi's state then lives in a bucket, as it does for a platform team.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, type StateBackend } from "./harness.ts";

export const gatewayModule = "github.com/versity/versitygw/cmd/versitygw";
export const gatewayVersion = "v1.8.0";

/**
 * The gateway's binary, built once per version into the user's cache (Go's module and build caches make a rebuild
 * after that fast too). Returns how long the build took (0 when the binary was there).
 */
export async function gatewayBinary(): Promise<{ bin: string; buildSeconds: number }> {
    const dir = join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "repave", `versitygw-${gatewayVersion}`);
    const bin = join(dir, "versitygw");
    if (existsSync(bin)) return { bin, buildSeconds: 0 };
    mkdirSync(dir, { recursive: true });
    const started = Date.now();
    await promisify(execFile)("go", ["install", `${gatewayModule}@${gatewayVersion}`], {
        env: { ...process.env, GOBIN: dir, GOFLAGS: "-mod=mod", CGO_ENABLED: "0" },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 20 * 60_000,
    });
    return { bin, buildSeconds: (Date.now() - started) / 1000 };
}

export interface Gateway {
    port: number;
    accessKey: string;
    secretKey: string;
    /** The folder holding the buckets (one folder each). */
    root: string;
    /** Pulumi's backend URL for `bucket` (gocloud.dev's s3blob parameters, aws-sdk-go-v2 flavour). */
    backendUrl(bucket: string): string;
    /** The engine's environment for state in `bucket` (URL and credentials), and the bucket's folder. */
    stateBackend(bucket: string): StateBackend;
    stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = connect({ host: "127.0.0.1", port }, () => {
            socket.end();
            resolve(true);
        });
        socket.on("error", () => resolve(false));
    });
}

export async function startGateway(bin: string, root: string, buckets: string[]): Promise<Gateway> {
    // The POSIX backend serves each top-level folder of `root` as a bucket.
    for (const b of buckets) mkdirSync(join(root, b), { recursive: true });
    const port = await freePort();
    const accessKey = `test${randomBytes(8).toString("hex")}`;
    const secretKey = randomBytes(24).toString("hex");
    const child: ChildProcess = spawn(bin, ["--port", `127.0.0.1:${port}`, "posix", root], {
        env: { ...process.env, ROOT_ACCESS_KEY_ID: accessKey, ROOT_SECRET_ACCESS_KEY: secretKey },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    for (let i = 0; i < 100 && !(await listening(port)); i++) {
        if (child.exitCode !== null) throw new Error(`versitygw exited (${child.exitCode}):\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    if (!(await listening(port))) throw new Error(`versitygw did not listen on 127.0.0.1:${port} in 10 s:\n${log}`);
    const backendUrl = (bucket: string) => `s3://${bucket}?endpoint=http://127.0.0.1:${port}&use_path_style=true&disable_https=true&region=us-east-1`;
    return {
        port,
        accessKey,
        secretKey,
        root,
        backendUrl,
        stateBackend: (bucket) => ({ env: { PULUMI_BACKEND_URL: backendUrl(bucket), AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey }, root: join(root, bucket) }),
        stop: async () => {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once("exit", r));
            child.kill("SIGTERM");
            await exited;
        },
    };
}
