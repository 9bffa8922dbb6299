// Fleet repave wall time: N local stacks repaved by `repave run --stacks` in one wave at concurrency 1, 2 and 4,
// each against N × one stack's `repave run`, measured in this one run (a noisy machine moves both sides together).
// Beside each figure, how busy the machine's CPUs were (from /proc/stat), which says why more concurrency does or
// does not help on a small machine. Real engine, local target; every stack is repaved once per figure.
//   node bench/fleet.ts [--stacks N]
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { createFleetProject } from "../test/e2e/fleet-project.ts";

const { values } = parseArgs({ options: { stacks: { type: "string", default: "4" } } });
const n = Math.max(2, Math.min(8, Number(values.stacks)));

/** The machine's busy and total CPU time so far (all cores), from the first line of /proc/stat. */
function cpuTicks(): { busy: number; total: number } {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0); // idle + iowait
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
}

/** Wall time of one command, and the share of all cores busy meanwhile. */
async function timed(what: () => Promise<{ code: number | null; out: string }>): Promise<{ ms: number; cpu: number }> {
    const t0 = cpuTicks();
    const started = performance.now();
    const r = await what();
    const ms = performance.now() - started;
    const t1 = cpuTicks();
    if (r.code !== 0) throw new Error(`failed (${r.code}):\n${r.out}`);
    return { ms, cpu: (t1.busy - t0.busy) / Math.max(1, t1.total - t0.total) };
}

const names = Array.from({ length: n }, (_, i) => `bench-${i + 1}`);
const project = await createFleetProject("fleet-bench", names);
try {
    const fleetRun = (concurrency: number) => project.fleet(["run", "--stacks", "bench-*", "--canary", "0", "--wave-size", String(n), "--concurrency", String(concurrency)]);
    await timed(() => fleetRun(2)); // first deploy: front doors and CAs, not changeovers
    const one = await timed(() => project.fleet(["run", "--stack", names[0]!]));
    const serial = n * one.ms;
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    console.log(`cores: ${availableParallelism()}`);
    console.log(`one stack's repave (repave run --stack): ${Math.round(one.ms)} ms, CPUs ${pct(one.cpu)} busy; ${n} × that: ${Math.round(serial)} ms`);
    const results: Record<number, number> = {};
    for (const concurrency of [1, 2, 4]) {
        const fleet = await timed(() => fleetRun(concurrency));
        results[concurrency] = fleet.ms;
        console.log(`fleet of ${n}, concurrency ${concurrency}: ${Math.round(fleet.ms)} ms = ${(fleet.ms / serial).toFixed(2)}x of ${n} × one stack, CPUs ${pct(fleet.cpu)} busy`);
    }
    console.log(`concurrency 2 / concurrency 1: ${(results[2]! / results[1]!).toFixed(2)}x; concurrency 4 / concurrency 1: ${(results[4]! / results[1]!).toFixed(2)}x`);
} finally {
    await project.cleanup();
}
