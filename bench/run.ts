// Benchmarks on the real engine against the local target. Each figure is a ratio measured in this one run, so a
// noisy machine moves both sides together. Bounded: a few repaves, load on loopback only, stops by itself.
//   node bench/run.ts [--repaves N]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalStack, repoRoot, startLoad } from "../test/e2e/harness.ts";
import { floorMs, measureBoot } from "./floor.ts";

const { values } = parseArgs({ options: { repaves: { type: "string", default: "3" } } });
const repaves = Math.max(1, Math.min(10, Number(values.repaves)));

async function timedUp(stack: LocalStack): Promise<number> {
    const started = performance.now();
    const r = await stack.up();
    if (r.code !== 0) throw new Error(`pulumi up failed:\n${r.out}`);
    return performance.now() - started;
}

async function main(): Promise<void> {
    const stack = await LocalStack.create("bench");
    const api = stack.api as { healthCheck: { intervalSeconds: number; healthyThreshold: number }; keepWarmSeconds: number };
    try {
        await timedUp(stack); // first deploy: creates the front door and CA, not a changeover

        // 1. Changeover time against its physical floor.
        const boots: number[] = [];
        const ups: number[] = [];
        for (let i = 0; i < repaves; i++) {
            boots.push(await measureBoot());
            ups.push(await timedUp(stack));
        }
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const healthMs = api.healthCheck.healthyThreshold * api.healthCheck.intervalSeconds * 1000;
        const floor = floorMs(median(boots), api);
        const changeoverMs = median(ups);

        // 2. Failed requests under steady HTTPS load across N repaves.
        let credential = await stack.credential();
        const load = startLoad(stack.port, () => credential, 300);
        for (let i = 0; i < repaves; i++) {
            await timedUp(stack);
            credential = await stack.credential();
        }
        const report = await load.stop();

        const results = {
            date: new Date().toISOString(),
            repaves,
            changeoverMedianMs: Math.round(changeoverMs),
            floorMs: Math.round(floor),
            changeoverOverFloor: Number((changeoverMs / floor).toFixed(2)),
            bootMedianMs: Math.round(median(boots)),
            load: { requests: report.requests, failed: report.failed, failedRatio: report.requests ? report.failed / report.requests : 0 },
        };
        console.log(`changeover (median of ${repaves} repaves): ${results.changeoverMedianMs} ms`);
        console.log(`physical floor (boot ${results.bootMedianMs} ms + health ${Math.round(healthMs)} ms + keep-warm ${api.keepWarmSeconds * 1000} ms): ${results.floorMs} ms`);
        console.log(`changeover / floor: ${results.changeoverOverFloor}x`);
        console.log(`under load across ${repaves} repaves: ${report.requests} requests, ${report.failed} failed (ratio ${results.load.failedRatio})`);
        mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
        writeFileSync(join(repoRoot, "bench", "results", "latest.json"), JSON.stringify(results, null, 2));
    } finally {
        await stack.cleanup();
    }
}

await main();
