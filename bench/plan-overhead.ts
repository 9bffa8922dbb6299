// `repave plan` against a plain `pulumi preview` of the same deployed stack, interleaved so machine noise hits
// both alike. Goal: <= 1.1x. Real engine, local target.
//   node bench/plan-overhead.ts [--rounds N]
import { parseArgs } from "node:util";
import { LocalStack } from "../test/e2e/harness.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Math.max(1, Math.min(10, Number(values.rounds)));

async function timed(what: () => Promise<{ code: number | null; out: string }>, ok: (code: number | null) => boolean): Promise<number> {
    const started = performance.now();
    const r = await what();
    if (!ok(r.code)) throw new Error(`failed (${r.code}):\n${r.out}`);
    return performance.now() - started;
}

const stack = await LocalStack.create("planbench");
try {
    const up = await stack.up();
    if (up.code !== 0) throw new Error(up.out);
    const preview: number[] = [];
    const plan: number[] = [];
    for (let i = 0; i < rounds; i++) {
        preview.push(await timed(() => stack.pulumi(["preview", "--stack", stack.stack, "--diff"]), (c) => c === 0));
        plan.push(await timed(() => stack.repave(["plan", "--format", "json"]), (c) => c === 0 || c === 2));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`pulumi preview (median of ${rounds}): ${Math.round(median(preview))} ms`);
    console.log(`repave plan    (median of ${rounds}): ${Math.round(median(plan))} ms`);
    console.log(`repave plan / pulumi preview: ${(median(plan) / median(preview)).toFixed(2)}x`);
} finally {
    await stack.cleanup();
}
