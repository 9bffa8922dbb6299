// The user's test: pack the package, install the tarball into a fresh Pulumi project outside this repository (its
// own Pulumi.yaml, stack file and a few lines of program), and repave there with `pulumi up` and the installed
// `repave` command - resolving the CLI the official way (a `pulumi` on PATH), with nothing of the repository on
// PATH or in reach but the tarball.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { collect, freePort, repoRoot, type RunResult } from "./harness.ts";
import { runWorkflow } from "./workflows.ts";

const engineBin = join(repoRoot, ".engine", "bin");

describe("the packed package in a project of its own", () => {
    const root = mkdtempSync(join(tmpdir(), "repave-consumer-"));
    const project = join(root, "orders-api");
    const bin = join(root, "toolchain", "bin");
    let env: NodeJS.ProcessEnv;

    const run = (command: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
        collect(spawn(command, args, { cwd: project, env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] }));
    const pulumi = (...args: string[]) => run(join(bin, "pulumi"), [...args, "--non-interactive", "--color", "never"]);
    const repave = (...args: string[]) => run(join(project, "node_modules", ".bin", "repave"), [...args, "--stack", "dev"]);
    /** stdout only: data must parse on its own, whatever goes to stderr. */
    const repaveStdout = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
            const child = spawn(join(project, "node_modules", ".bin", "repave"), [...args, "--stack", "dev"], { cwd: project, env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            child.on("close", (code) => resolve({ code, stdout, stderr }));
        });

    /** `jq -e .` over the text: what users pipe `--format json` into. */
    const jqParses = async (text: string, what: string) => {
        const jq = spawn("jq", ["-e", "."], { stdio: ["pipe", "ignore", "pipe"] });
        jq.stdin.end(text);
        const r = await collect(jq);
        assert.equal(r.code, 0, `${what} does not parse with jq:\n${r.out}\n${text.slice(0, 500)}`);
    };

    before(async () => {
        // A toolchain as an installer lays it out: the CLI with its language host and dynamic-provider shim beside
        // it, and Node. Hard links, not symlinks: the driver must see a CLI outside the repository.
        mkdirSync(bin, { recursive: true });
        for (const f of readdirSync(engineBin).filter((f) => f.startsWith("pulumi"))) linkSync(join(engineBin, f), join(bin, f));
        symlinkSync(process.execPath, join(bin, "node"));
        env = {
            HOME: join(root, "home"),
            PATH: `${bin}:/usr/bin:/bin`,
            PULUMI_BACKEND_URL: `file://${join(project, ".pulumi-state")}`,
            PULUMI_CONFIG_PASSPHRASE: "consumer-test-passphrase",
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
        mkdirSync(join(root, "home"));

        execFileSync("npm", ["run", "build", "--silent"], { cwd: repoRoot, stdio: "ignore" });
        const tarball = execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", root], { cwd: repoRoot, encoding: "utf8" }).trim().split("\n").pop()!;

        mkdirSync(project);
        const [port, testPort] = [await freePort(), await freePort()];
        writeFileSync(join(project, "package.json"), JSON.stringify({
            name: "orders-api", private: true, type: "module",
            dependencies: { repave: `file:${join(root, tarball)}`, "@pulumi/pulumi": "3.270.0" },
        }, null, 2));
        // The package's provider plugin is declared as the README says: run from the installed package, never downloaded.
        writeFileSync(join(project, "Pulumi.yaml"), "name: orders-api\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.ts\nplugins:\n  providers:\n    - name: repave\n      path: ./node_modules/repave/provider\n");
        writeFileSync(join(project, "index.ts"), [
            'import { repaveProgram } from "repave";',
            "",
            "export const { endpoints, credentials, caCertPem } = await repaveProgram();",
            "",
        ].join("\n"));
        writeFileSync(join(project, "Pulumi.dev.yaml"), [
            "config:",
            "  repave:target: local",
            `  repave:apis: ${JSON.stringify([{
                name: "orders", image: { source: "local-builds", path: "builds" }, capacity: 2,
                certificate: { domains: ["localhost"], lifetimeDays: 30 }, drainSeconds: 2, keepWarmSeconds: 1,
                healthCheck: { intervalSeconds: 0.2, healthyThreshold: 2 }, local: { port, testPort },
            }])}`,
            "",
        ].join("\n"));
        writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
            compilerOptions: { target: "es2023", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, skipLibCheck: false, types: [] },
            include: ["index.ts"],
        }));
        // npm with this machine's own environment: its .npmrc, proxy and CA settings say how the registry is reached.
        const install = await collect(spawn("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], {
            cwd: project, env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` }, stdio: ["ignore", "pipe", "pipe"],
        }));
        assert.equal(install.code, 0, install.out);
        // The user's own builds: the package ships the sample API as a starting point.
        cpSync(join(project, "node_modules", "repave", "images", "sample-api"), join(project, "builds"), { recursive: true });
    });
    after(async () => {
        await pulumi("destroy", "--yes", "--skip-preview", "--stack", "dev");
        rmSync(root, { recursive: true, force: true });
    });

    it("installs without the AWS, GCP or Kubernetes SDKs (optional peers) and type-checks the program", async () => {
        const modules = readdirSync(join(project, "node_modules", "@pulumi"));
        assert.deepEqual(modules.filter((m) => ["aws", "gcp", "kubernetes"].includes(m)), []);
        const tsc = await run(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"]);
        assert.equal(tsc.code, 0, `the package's types resolve in a consumer:\n${tsc.out}`);
    });

    it("the driver resolves the CLI on PATH, and two `pulumi up` repave the API", async () => {
        const engine = await repaveStdout("engine", "--format", "json");
        assert.equal(engine.code, 0, engine.stderr);
        await jqParses(engine.stdout, "repave engine --format json");
        const resolved = JSON.parse(engine.stdout) as { source: string; pulumi: string };
        assert.deepEqual([resolved.source, resolved.pulumi], ["PATH", join(bin, "pulumi")]);

        mkdirSync(join(project, ".pulumi-state"), { mode: 0o700 }); // as `pulumi login file://…` expects
        const init = await pulumi("stack", "init", "dev");
        assert.equal(init.code, 0, init.out);
        const first = await pulumi("up", "--yes", "--skip-preview", "--stack", "dev");
        assert.equal(first.code, 0, first.out);
        const a = await outputs();
        const second = await pulumi("up", "--yes", "--skip-preview", "--stack", "dev");
        assert.equal(second.code, 0, second.out);
        const b = await outputs();
        assert.notEqual(b.generation, a.generation, "a new generation on every deploy");
        assert.notEqual(b.certSerial, a.certSerial, "a fresh certificate");
        assert.equal(b.url, a.url, "the same front door");
    });

    it("repave plan, run and status work there; data on stdout parses as JSON", async () => {
        const before = await outputs();
        const plan = await repaveStdout("plan", "--format", "json");
        assert.equal(plan.code, 2, `exit 2: a repave is pending\n${plan.stderr}`);
        await jqParses(plan.stdout, "repave plan --format json");
        const parsed = JSON.parse(plan.stdout) as { apis: Array<{ api: string; liveGeneration: string; frontDoorKept: boolean }> };
        assert.deepEqual(parsed.apis.map((x) => [x.api, x.liveGeneration, x.frontDoorKept]), [["orders", before.generation, true]]);
        assert.match(plan.stderr, /"schema":"repave\.audit\/v2"/, "the audit trail goes to stderr");

        const runResult = await repave("run");
        assert.equal(runResult.code, 0, runResult.out);
        const after = await outputs();
        assert.notEqual(after.generation, before.generation);

        const status = await repaveStdout("status", "--format", "json");
        assert.equal(status.code, 0, status.stderr);
        await jqParses(status.stdout, "repave status --format json");
        const rows = JSON.parse(status.stdout) as Array<{ api: string; generation: string }>;
        assert.deepEqual(rows.map((r) => [r.api, r.generation]), [["orders", after.generation]]);
    });

    it("the CD workflow examples run here step by step: no Go, the CLI from PATH, the package's repave command", async () => {
        const env: NodeJS.ProcessEnv = {
            ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PULUMI_|REPAVE_)/.test(k))),
            PATH: `${bin}:/usr/bin:/bin`, // a runner's PATH after setup-node and pulumi/actions: no Go, no repository
            PULUMI_HOME: join(root, "runner-pulumi-home"),
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
        const which = await collect(spawn("bash", ["-c", "command -v go || echo none"], { env, stdio: ["ignore", "pipe", "pipe"] }));
        assert.equal(which.out.trim(), "none", "Go is not on the workflows' PATH");
        const comments: Array<{ id: number; body: string; user: { type: string } }> = [];
        const stub = async (step: { uses?: string; with?: Record<string, unknown> }): Promise<void> => {
            const action = step.uses!.split("@")[0]!;
            assert.match(step.uses!, /@[0-9a-f]{40}$/, `${action} is pinned by commit`);
            switch (action) {
                case "actions/checkout":
                    assert.equal(step.with?.["persist-credentials"], false, "checkout keeps no token in .git/config");
                    return;
                case "actions/setup-node":
                    assert.equal(String(step.with?.["node-version"]), "24");
                    assert.equal(process.versions.node.split(".")[0], "24", "the node on PATH is Node 24");
                    return;
                case "pulumi/actions": {
                    const version = await collect(spawn("pulumi", ["version"], { env, stdio: ["ignore", "pipe", "pipe"] }));
                    assert.equal(version.out.trim(), `v${String(step.with?.["pulumi-version"])}`, "the CLI the action installs is on PATH");
                    return;
                }
                case "actions/github-script": {
                    // The comment script itself, against a stand-in of the GitHub API: one comment, updated in place.
                    const AsyncFunction = (Object.getPrototypeOf(async () => undefined) as { constructor: new (...a: string[]) => (...a: unknown[]) => Promise<void> }).constructor;
                    const script = new AsyncFunction("require", "github", "context", String(step.with?.["script"]));
                    const github = {
                        paginate: async () => comments,
                        rest: { issues: {
                            listComments: () => undefined,
                            createComment: async ({ body }: { body: string }) => void comments.push({ id: comments.length + 1, body, user: { type: "Bot" } }),
                            updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => void (comments.find((c) => c.id === comment_id)!.body = body),
                        } },
                    };
                    const context = { repo: { owner: "acme", repo: "orders-api" }, issue: { number: 7 } };
                    const requireFromProject = (m: string) => (m === "fs" ? { readFileSync: (f: string, e: BufferEncoding) => readFileSync(join(project, f), e) } : undefined);
                    await script(requireFromProject, github, context);
                    await script(requireFromProject, github, context);
                    assert.equal(comments.length, 1, "updated in place, not a new comment per push");
                    assert.ok(comments[0]!.body.length <= 65536 && /\| front door \| kept \|/.test(comments[0]!.body));
                    return;
                }
                case "actions/cache":
                case "aws-actions/configure-aws-credentials":
                case "actions/upload-artifact":
                    return; // a cold cache; a local stack needs no cloud role; artifacts are kept by GitHub
                default:
                    throw new Error(`no stand-in for ${action}: add one to the test before using it in a workflow`);
            }
        };
        const ctx = {
            cwd: project,
            env,
            vars: { REPAVE_STACK: "dev", PULUMI_BACKEND_URL: `file://${join(project, ".pulumi-state")}`, AWS_REGION: "eu-west-1" },
            secrets: { PULUMI_CONFIG_PASSPHRASE: "consumer-test-passphrase" },
            inputs: {},
            stub,
        };
        const workflows = join(repoRoot, "examples", "cd", "github");
        const check = (runs: Awaited<ReturnType<typeof runWorkflow>>, file: string) => {
            for (const r of runs) assert.ok(!r.ran || r.code === 0, `${file}: step "${r.name}" failed (${r.code}):\n${r.out}`);
            return runs.filter((r) => r.ran).map((r) => r.name);
        };
        const before = await outputs();
        const plan = check(await runWorkflow(join(workflows, "repave-plan.yml"), ctx), "repave-plan.yml");
        assert.ok(plan.includes("repave plan") && plan.includes("Install dependencies (no install scripts run)"));
        const deploy = check(await runWorkflow(join(workflows, "repave-deploy.yml"), ctx), "repave-deploy.yml");
        assert.ok(deploy.includes("repave run") && !deploy.includes("repave recover (asked for by hand)"), "no recover unless asked for");
        const deployed = await outputs();
        assert.notEqual(deployed.generation, before.generation, "the deploy workflow repaved");
        const recovered = check(await runWorkflow(join(workflows, "repave-deploy.yml"), { ...ctx, inputs: { recover: true } }), "repave-deploy.yml (recover)");
        assert.ok(recovered.includes("repave recover (asked for by hand)"));
        const scheduled = await runWorkflow(join(workflows, "repave-scheduled.yml"), ctx);
        check(scheduled, "repave-scheduled.yml");
        assert.match(scheduled.find((r) => r.name.startsWith("repave run"))!.out, /nothing to do/, "a fresh stack is left alone");
    });

    async function outputs(): Promise<{ generation: string; certSerial: string; url: string }> {
        const r = await run(join(bin, "pulumi"), ["stack", "output", "endpoints", "--json", "--stack", "dev"]);
        assert.equal(r.code, 0, r.out);
        return (JSON.parse(r.out) as Record<string, { generation: string; certSerial: string; url: string }>)["orders"]!;
    }
});
