// Engine overhead of the local target (#11 item 6), as ratios from one run. What the CLI and the language host spend
// before the program registers anything is Pulumi's; everything after is ours. So each figure sets a repave against
// the same engine running an empty program (`export const x = pulumi.output(1)`) in the same backend:
//   (repave - empty program's up) / physical floor     goal <= 1.3
//   local preview / empty program's preview            goal <= 1.2
//   10-API repave / 1-API repave                       goal <= 1.5
//   repave plan - local preview                        goal <= 0.5 s
// Rounds are interleaved so machine noise hits both sides alike; medians are reported.
//   node bench/engine-overhead.ts [--rounds N]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, LocalStack, repoRoot, type RunResult } from "../test/e2e/harness.ts";
import { floorMs, measureBoot } from "./floor.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Math.max(1, Math.min(10, Number(values.rounds)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(what: () => Promise<RunResult>, ok: (code: number | null) => boolean = (c) => c === 0): Promise<number> {
    const started = performance.now();
    const r = await what();
    if (!ok(r.code)) throw new Error(`failed (${r.code}):\n${r.out}`);
    return performance.now() - started;
}

/** An API of the bench's stacks on its own ports. */
async function apiOn(stack: LocalStack, name: string): Promise<Record<string, unknown>> {
    return { ...stack.api, name, local: { port: await freePort(), testPort: await freePort() } };
}

const empty = await LocalStack.create("empty");
const one = await LocalStack.create("one");
const ten = await LocalStack.create("ten");
try {
    // The empty program, in a project like the others (same engine, backend, plugins declared).
    writeFileSync(join(empty.dir, "index.ts"), 'import * as pulumi from "@pulumi/pulumi";\nexport const x = pulumi.output(1);\n');
    const apis: Array<Record<string, unknown>> = [];
    const taken = new Set<number>();
    while (apis.length < 10) {
        const api = await apiOn(ten, `api${apis.length}`);
        const ports = (api["local"] as { port: number; testPort: number });
        if (taken.has(ports.port) || taken.has(ports.testPort) || ports.port === ports.testPort) continue;
        taken.add(ports.port).add(ports.testPort);
        apis.push(api);
    }
    ten.writeConfig(JSON.stringify(apis));
    for (const s of [empty, one, ten]) await timed(() => s.up());

    const emptyUp: number[] = [], emptyPreview: number[] = [], oneUp: number[] = [], tenUp: number[] = [], localPreview: number[] = [], plan: number[] = [], boots: number[] = [];
    for (let i = 0; i < rounds; i++) {
        emptyUp.push(await timed(() => empty.up()));
        emptyPreview.push(await timed(() => empty.pulumi(["preview", "--stack", empty.stack])));
        // Every up is a repave: the deploy id is the time (repave policy every-deploy).
        oneUp.push(await timed(() => one.up()));
        localPreview.push(await timed(() => one.pulumi(["preview", "--stack", one.stack])));
        plan.push(await timed(() => one.repave(["plan", "--format", "json"]), (c) => c === 0 || c === 2));
        tenUp.push(await timed(() => ten.up()));
        boots.push(await measureBoot());
    }
    const floor = floorMs(median(boots), one.api as Parameters<typeof floorMs>[1]);
    const results = {
        date: new Date().toISOString(),
        rounds,
        medianMs: {
            emptyUp: Math.round(median(emptyUp)), emptyPreview: Math.round(median(emptyPreview)), repave1: Math.round(median(oneUp)),
            repave10: Math.round(median(tenUp)), localPreview: Math.round(median(localPreview)), plan: Math.round(median(plan)), floor: Math.round(floor),
        },
        repaveMinusEmptyOverFloor: Number(((median(oneUp) - median(emptyUp)) / floor).toFixed(2)),
        previewOverEmptyPreview: Number((median(localPreview) / median(emptyPreview)).toFixed(2)),
        repave10Over1: Number((median(tenUp) / median(oneUp)).toFixed(2)),
        planMinusPreviewMs: Math.round(median(plan) - median(localPreview)),
    };
    console.log(JSON.stringify(results, null, 2));
    console.log(`(repave - empty up) / floor: ${results.repaveMinusEmptyOverFloor}x (goal <= 1.3)`);
    console.log(`local preview / empty preview: ${results.previewOverEmptyPreview}x (goal <= 1.2)`);
    console.log(`10-API repave / 1-API repave: ${results.repave10Over1}x (goal <= 1.5)`);
    console.log(`plan - preview: ${results.planMinusPreviewMs} ms (goal <= 500)`);
    mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
    writeFileSync(join(repoRoot, "bench", "results", "engine-overhead.json"), JSON.stringify(results, null, 2));
} finally {
    for (const s of [empty, one, ten]) await s.cleanup();
}
