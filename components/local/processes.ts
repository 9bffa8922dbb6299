// Detached, pid-tracked processes: the local target's compute. Every process carries a marker argument, so a
// pid is only ever signalled when /proc says it is still ours (pids are reused).
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";

export function isOurs(pid: number, marker: string): boolean {
    try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(marker);
    } catch {
        return false;
    }
}

export function startDetached(
    script: string,
    args: string[],
    env: Record<string, string>,
    logFile: string,
    cwd: string,
): number {
    const log = openSync(logFile, "a", 0o600);
    try {
        const child = spawn(process.execPath, [script, ...args], {
            cwd,
            env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env },
            detached: true,
            stdio: ["ignore", log, log],
        });
        child.unref();
        if (child.pid === undefined) throw new Error(`could not start ${script}`);
        return child.pid;
    } finally {
        closeSync(log);
    }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for a file a child writes once it is listening; fails early if the child died. */
export async function waitForFile(file: string, pid: number, marker: string, timeoutMs: number, logFile: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (existsSync(file)) return readFileSync(file, "utf8");
        if (!isOurs(pid, marker)) {
            const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
            throw new Error(`process ${pid} exited before it was ready; its log ends with:\n${log}`);
        }
        await sleep(50);
    }
    throw new Error(`process ${pid} was not ready within ${timeoutMs} ms`);
}

/** SIGTERM (the process drains itself), then SIGKILL after graceMs. Resolves once the process is gone. */
export async function stop(pid: number, marker: string, graceMs: number): Promise<void> {
    if (!isOurs(pid, marker)) return;
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (!isOurs(pid, marker)) return;
        await sleep(50);
    }
    if (isOurs(pid, marker)) process.kill(pid, "SIGKILL");
    while (isOurs(pid, marker)) await sleep(20);
}
