// Plugins a SIGKILLed engine left running. The engine starts each plugin (a dynamic provider, repave's own
// pulumi-resource-repave, any pulumi-resource-*, and the language host that runs the program) in the project folder,
// in process groups of their own, and talks to them over gRPC; killed with SIGKILL it cannot stop them, so they live
// on, reparented to pid 1 (or a subreaper), one set per killed update - a language host idles forever.
// `repave recover` stops them once it has decided the stack's update is dead (cli/recover.ts), and only those:
// a plugin whose parent is a live engine belongs to a running update - of this stack or of another stack of the
// same project folder (a fleet) - and is never touched.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { basename } from "node:path";

/** A Pulumi provider plugin's command line: the dynamic-provider host, an executable named pulumi-resource-*, or
 * repave's plugin after its launcher script exec'd node on its main module (provider/pulumi-resource-repave). */
export function isProviderPlugin(argv: string[]): boolean {
    return argv.slice(0, 2).some((a) => basename(a).startsWith("pulumi-resource-") || /\/cmd\/dynamic-provider(?:\/index\.js)?$/.test(a) || /\/components\/local\/plugin\/main\.[jt]s$/.test(a));
}

interface ProcessInfo {
    pid: number;
    ppid: number;
    argv: string[];
    cwd: string;
    zombie: boolean;
}

function processInfo(pid: number): ProcessInfo | undefined {
    try {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split after the last ")".
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
        return { pid, ppid: Number(ppid), argv, cwd: readlinkSync(`/proc/${pid}/cwd`), zombie: state === "Z" };
    } catch {
        return undefined; // exited meanwhile, or not ours to read
    }
}

/** Is `pid` a running Pulumi engine (the `pulumi` CLI)? Plugins of a live engine belong to a live update. */
function isEngine(pid: number): boolean {
    const p = pid > 1 ? processInfo(pid) : undefined;
    return p !== undefined && !p.zombie && basename(p.argv[0] ?? "") === "pulumi";
}

/** A language host (pulumi-language-nodejs, ...): the engine's plugin that runs the program. */
export const isLanguageHost = (argv: string[]): boolean => basename(argv[0] ?? "").startsWith("pulumi-language-");

/** Plugins (providers and language hosts) running in `projectDir` whose engine is gone (parent pid 1, or no engine). */
export function orphanedProviders(projectDir: string): number[] {
    let dir: string;
    try {
        dir = realpathSync(projectDir);
    } catch {
        return [];
    }
    const found: number[] = [];
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
        const p = processInfo(Number(entry));
        if (!p || p.zombie || p.cwd !== dir || !(isProviderPlugin(p.argv) || isLanguageHost(p.argv))) continue;
        if (p.ppid === 1 || !isEngine(p.ppid)) found.push(p.pid);
    }
    return found;
}

const alive = (pid: number) => {
    const p = processInfo(pid);
    return p !== undefined && !p.zombie;
};

/**
 * Stops the orphaned plugins of `projectDir`: SIGTERM, then SIGKILL for any still running after `graceMs`
 * (a plugin blocked on its dead engine may never act on SIGTERM). Returns how many were stopped.
 */
export async function stopOrphanedProviders(projectDir: string, graceMs = 3_000): Promise<number> {
    const pids = orphanedProviders(projectDir);
    const signal = (pid: number, sig: NodeJS.Signals) => {
        try {
            process.kill(pid, sig);
        } catch {
            // already gone
        }
    };
    for (const pid of pids) signal(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // Read again before SIGKILL: a pid that ended meanwhile may have been reused by another process.
    const still = new Set(orphanedProviders(projectDir));
    for (const pid of pids.filter((p) => still.has(p))) signal(pid, "SIGKILL");
    return pids.length;
}
