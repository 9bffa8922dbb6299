// Runs a GitHub Actions workflow of examples/cd/github on this machine, the way a runner would: each job's steps
// in order, `run:` steps in bash with the job's and the step's env, `if:` conditions evaluated. Only the steps that
// need GitHub itself (`uses:` actions) are stubbed, each by a check of what it would have provided.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect } from "./harness.ts";

interface Step {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    env?: Record<string, string>;
    with?: Record<string, unknown>;
}
interface Workflow {
    jobs: Record<string, { if?: string; env?: Record<string, string>; steps: Step[]; "timeout-minutes"?: number; permissions?: Record<string, string> }>;
}

export interface Context {
    cwd: string;
    env: NodeJS.ProcessEnv;
    vars: Record<string, string>;
    secrets: Record<string, string>;
    inputs: Record<string, boolean | string>;
    /** Checks (or stands in) for a `uses:` step; throws when what it stands for is missing. */
    stub(step: Step, env: Record<string, string>): Promise<void>;
}

export interface StepRun {
    name: string;
    ran: boolean;
    code: number | null;
    out: string;
}

const yaml = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown };

/** `${{ … }}` in env values: the few expression forms the examples use. Anything else is an error. */
function expand(text: string, ctx: Context): string {
    return text.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, expr: string) => {
        let m = /^(vars|secrets)\.([A-Z0-9_]+)$/.exec(expr);
        if (m) return (m[1] === "vars" ? ctx.vars : ctx.secrets)[m[2]!] ?? "";
        m = /^inputs\.([a-z0-9_-]+) && '([^']*)' \|\| '([^']*)'$/.exec(expr);
        if (m) return ctx.inputs[m[1]!] ? m[2]! : m[3]!;
        throw new Error(`workflow expression not understood by the test runner: ${expr}`);
    });
}

/** `if:` conditions the examples use, on this machine: no cache hit, the job so far, same-repository PRs. */
function condition(expr: string | undefined, env: Record<string, string>, failed: boolean): boolean {
    if (expr === undefined) return !failed;
    const e = expr.trim();
    if (e === "always()") return true;
    if (e === "failure()") return failed;
    if (e === "github.event.pull_request.head.repo.full_name == github.repository") return !failed;
    if (e === "steps.modules.outputs.cache-hit != 'true'") return !failed; // a cold cache: install
    const m = /^env\.([A-Z0-9_]+) == '([^']*)'$/.exec(e);
    if (m) return !failed && env[m[1]!] === m[2];
    throw new Error(`workflow condition not understood by the test runner: ${expr}`);
}

export async function runWorkflow(file: string, ctx: Context): Promise<StepRun[]> {
    const workflow = yaml.load(readFileSync(file, "utf8")) as Workflow;
    const runs: StepRun[] = [];
    for (const [name, job] of Object.entries(workflow.jobs)) {
        assert.ok(job["timeout-minutes"], `${file}: job ${name} has no timeout-minutes`);
        if (!condition(job.if, {}, false)) continue;
        const jobEnv = Object.fromEntries(Object.entries(job.env ?? {}).map(([k, v]) => [k, expand(String(v), ctx)]));
        let failed = false;
        for (const step of job.steps) {
            const stepEnv = { ...jobEnv, ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, expand(String(v), ctx)])) };
            const label = step.name ?? step.uses ?? step.run!.split("\n")[0]!;
            if (!condition(step.if, jobEnv, failed)) {
                runs.push({ name: label, ran: false, code: null, out: "" });
                continue;
            }
            if (step.uses) {
                await ctx.stub(step, stepEnv);
                runs.push({ name: label, ran: true, code: 0, out: "(stubbed)" });
                continue;
            }
            const output = join(mkdtempSync(join(tmpdir(), "repave-gh-")), "output");
            writeFileSync(output, "");
            const child = spawn("bash", ["-e", "-o", "pipefail", "-c", step.run!], {
                cwd: ctx.cwd,
                env: { ...ctx.env, ...stepEnv, GITHUB_OUTPUT: output, CI: "true", GITHUB_ACTIONS: "true" },
                stdio: ["ignore", "pipe", "pipe"],
            });
            const result = await collect(child);
            runs.push({ name: label, ran: true, code: result.code, out: result.out + (existsSync(output) ? readFileSync(output, "utf8") : "") });
            if (result.code !== 0) failed = true;
        }
    }
    return runs;
}
