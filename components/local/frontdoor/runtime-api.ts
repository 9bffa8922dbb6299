// HAProxy's runtime API on its Unix socket (in the front door's 0700 state folder, 0600): one connection per call,
// commands separated by ";" run back to back in that one call - how a route and its certificate move together.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";

/** Runs `command` (one line, or a command with a `<<` payload) and resolves with HAProxy's answer. */
export function runtime(socketPath: string, command: string): Promise<string> {
    return new Promise((resolve, reject) => {
        // A payload (`<<`) ends with an empty line.
        const text = command.includes("<<\n") ? `${command.replace(/\n*$/, "")}\n\n` : `${command}\n`;
        const socket = connect(socketPath, () => socket.end(text));
        let out = "";
        socket.setTimeout(10_000, () => socket.destroy(new Error(`HAProxy runtime API: no answer to "${command.split("\n")[0]}"`)));
        socket.on("data", (d: Buffer) => (out += d.toString()));
        socket.on("end", () => resolve(out));
        socket.on("error", reject);
    });
}

/** Like runtime(), but an answer that is not one of HAProxy's success messages (or empty) is an error. */
export async function expectOk(socketPath: string, command: string): Promise<string> {
    const out = await runtime(socketPath, command);
    if (/\b(error|unknown|not found|failed|cannot|can't|invalid|require|no such)\b/i.test(out) && !/success|done|committed/i.test(out)) {
        throw new Error(`HAProxy runtime API: "${command.split("\n")[0]}": ${out.trim()}`);
    }
    return out;
}

/** `show stat` as rows keyed by column name (pxname, svname, scur, qcur, status, hrsp_2xx, ...). */
export function parseStat(csv: string): Array<Record<string, string>> {
    const [head, ...rows] = csv.trim().split("\n");
    const columns = (head ?? "").replace(/^# /, "").split(",");
    return rows.map((row) => Object.fromEntries(row.split(",").map((v, i) => [columns[i] ?? String(i), v])));
}

/**
 * The HAProxy this machine has: REPAVE_HAPROXY, else `haproxy` on PATH, else Debian's /usr/sbin/haproxy (not on a
 * user's PATH). Version 2.6 or newer: dynamic servers with health checks, `set ssl cert`/`commit ssl cert`.
 */
export function findHaproxy(env: NodeJS.ProcessEnv = process.env): { path: string; version: string } | { missing: string } {
    const candidates = [env["REPAVE_HAPROXY"], ...(env["PATH"] ?? "").split(":").filter(Boolean).map((d) => `${d}/haproxy`), "/usr/sbin/haproxy"];
    const path = candidates.find((c): c is string => !!c && existsSync(c));
    if (!path) return { missing: "HAProxy is not installed" };
    const version = /version (\d+)\.(\d+)[^\s]*/.exec(execFileSync(path, ["-v"], { encoding: "utf8" }));
    if (!version || Number(version[1]) * 100 + Number(version[2]) < 206) return { missing: `${path} is not HAProxy 2.6 or newer (${version?.[0] ?? "unknown version"})` };
    return { path, version: version[0] };
}
