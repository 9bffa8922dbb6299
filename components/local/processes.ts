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

/** How a detached child ended, as its parent saw it ("code 3", "signal SIGTERM"); undefined while it runs. */
const endings = new Map<number, string>();

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
        const pid = child.pid;
        child.once("exit", (code, signal) => endings.set(pid, signal ? `signal ${signal}` : `code ${code}`));
        return pid;
    } finally {
        closeSync(log);
    }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits for a file a child writes once it is listening; fails early if the child died - as its parent saw it end
 * (with its exit code or signal), or when its process is gone. A process that is there but does not carry the marker
 * yet is waited for: a loaded machine can show it between fork and exec.
 */
export async function waitForFile(file: string, pid: number, marker: string, timeoutMs: number, logFile: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const died = (how: string) => {
        const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
        return new Error(`process ${pid} exited (${how}) before it was ready; its log ends with:\n${log}`);
    };
    while (Date.now() < deadline) {
        if (existsSync(file)) return readFileSync(file, "utf8");
        const ended = endings.get(pid);
        if (ended) throw died(ended);
        if (!isOurs(pid, marker) && !existsSync(`/proc/${pid}`)) throw died("gone");
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
