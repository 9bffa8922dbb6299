// The physical floor of a changeover, shared by the benches: what no orchestration can avoid.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../test/e2e/harness.ts";

export /** Time from spawning one app process to its first healthy answer: the floor of "boot". */
async function measureBoot(): Promise<number> {
    const dir = mkdtempSync(join(tmpdir(), "repave-boot-"));
    const portFile = join(dir, "port");
    const started = performance.now();
    const child = spawn(process.execPath, [join(repoRoot, "images", "sample-api", "1.1.0", "server.mjs")], {
        env: { REPAVE_CREDENTIAL: "bench", REPAVE_PORT_FILE: portFile },
        stdio: "ignore",
    });
    try {
        while (!existsSync(portFile)) await new Promise((r) => setTimeout(r, 5));
        const port = readFileSync(portFile, "utf8");
        for (;;) {
            try {
                if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
            } catch {
                // not yet
            }
        }
        return performance.now() - started;
    } finally {
        child.kill();
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Boot one process, pass the health threshold, bake for the keep-warm window (drain is 0 without load). */
export function floorMs(bootMs: number, api: { healthCheck: { intervalSeconds: number; healthyThreshold: number }; keepWarmSeconds: number }): number {
    return bootMs + api.healthCheck.healthyThreshold * api.healthCheck.intervalSeconds * 1000 + api.keepWarmSeconds * 1000;
}
