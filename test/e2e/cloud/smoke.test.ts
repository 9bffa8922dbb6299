// Opt-in smoke test against a real AWS account or GCP project: what the mocks cannot prove. For each cloud whose
// credentials and stack file are given, it deploys the stack twice (two generations), runs the shared checks
// against what the cloud serves, and destroys the stack - always, also after a failure. Without them it reports
// one skipped test per cloud, saying what is missing. Nothing here runs in this repository's CI (no account).
//
//   REPAVE_SMOKE_AWS_STACK_FILE   a stack config like stacks/Pulumi.aws-example.yaml, with your VPC, subnets, zone
//                                 and domains; plus AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or a web identity)
//   REPAVE_SMOKE_GCP_STACK_FILE   a stack config like stacks/Pulumi.gcp-example.yaml; plus Google credentials
//                                 (GOOGLE_APPLICATION_CREDENTIALS, or GOOGLE_OAUTH_ACCESS_TOKEN)
//
// The deploying machine needs the pulumi CLI (scripts/env.sh), the cloud's provider plugin (`pulumi plugin
// install resource aws|gcp <version of package-lock.json>`) and the cloud's CLI (the bake and the gate's runner
// access use it); PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE as for any stack. See the READMEs' first-deploy
// checklists: a first GCP deploy waits for DNS, a first AWS deploy for ACM.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createRequire } from "node:module";
import { runPositive, runProbeSuite, summarize } from "../../../components/probes.ts";
import { parseApiSpecs, type StatelessApiSpec } from "../../../components/spec.ts";
import { repoRoot } from "../harness.ts";

type Cloud = "aws" | "gcp";

/** What is missing to run against a cloud, or null when it can run. */
function missingFor(cloud: Cloud, env: NodeJS.ProcessEnv): string | null {
    const file = env[`REPAVE_SMOKE_${cloud.toUpperCase()}_STACK_FILE`];
    const credentials =
        cloud === "aws"
            ? Boolean(env["AWS_ACCESS_KEY_ID"] || env["AWS_PROFILE"] || env["AWS_WEB_IDENTITY_TOKEN_FILE"])
            : Boolean(env["GOOGLE_APPLICATION_CREDENTIALS"] || env["GOOGLE_OAUTH_ACCESS_TOKEN"]);
    const missing = [
        ...(file ? [] : [`REPAVE_SMOKE_${cloud.toUpperCase()}_STACK_FILE (a stack config for your ${cloud === "aws" ? "account" : "project"})`]),
        ...(credentials ? [] : [cloud === "aws" ? "AWS credentials" : "Google credentials"]),
    ];
    return missing.length > 0 ? `opt-in real-${cloud === "aws" ? "account" : "project"} smoke test skipped: no ${missing.join(", no ")}` : null;
}

const pulumi = (args: string[], env: NodeJS.ProcessEnv = {}): string =>
    execFileSync("pulumi", args, { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] });

interface Deployed {
    endpoints: Record<string, { url: string; generation: string }>;
    credentials: Record<string, string>;
}

function deploy(stack: string, n: number): Deployed {
    pulumi(["up", "--yes", "--skip-preview", "--stack", stack], { REPAVE_DEPLOY_ID: `smoke-${stack}-${n}` });
    return JSON.parse(pulumi(["stack", "output", "--json", "--show-secrets", "--stack", stack])) as Deployed;
}

const endpointOf = (url: string) => {
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port || 443), serverName: u.hostname };
};

for (const cloud of ["aws", "gcp"] as const) {
    const missing = missingFor(cloud, process.env);
    describe(`${cloud}: two deploys against a real ${cloud === "aws" ? "account" : "project"}`, () => {
        if (missing) {
            it(missing, { skip: missing }, () => undefined);
            return;
        }
        const stack = `smoke-${cloud}-${Date.now().toString(36)}`;
        const stackFile = join(repoRoot, "stacks", `Pulumi.${stack}.yaml`);
        let specs: StatelessApiSpec[] = [];
        const runs: Deployed[] = [];
        after(() => {
            // Always: a smoke test leaves nothing running in the account.
            try {
                pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack]);
                pulumi(["stack", "rm", "--yes", "--stack", stack]);
            } finally {
                rmSync(stackFile, { force: true });
            }
        });

        it("deploys twice: a new generation each time behind the same production URL, gated and serving", { timeout: 4 * 3600_000 }, async () => {
            copyFileSync(process.env[`REPAVE_SMOKE_${cloud.toUpperCase()}_STACK_FILE`]!, stackFile);
            const yaml = createRequire(import.meta.url)("js-yaml") as { load(text: string): { config: Record<string, unknown> } };
            specs = parseApiSpecs(yaml.load(readFileSync(stackFile, "utf8")).config["repave:apis"]);
            pulumi(["stack", "init", stack]);
            runs.push(deploy(stack, 1), deploy(stack, 2));
            for (const spec of specs) {
                const [first, second] = runs.map((r) => r.endpoints[spec.name]!);
                assert.equal(second!.url, first!.url, `${spec.name}: the production URL moved (I4)`);
                assert.notEqual(second!.generation, first!.generation, `${spec.name}: the second deploy built no new generation`);
            }
        });

        it("production passes the shared probe suite with the credential callers now hold", async () => {
            for (const spec of specs) {
                const report = await runProbeSuite(endpointOf(runs[1]!.endpoints[spec.name]!.url), spec.probes, runs[1]!.credentials[spec.name]!);
                assert.ok(report.passed, `${spec.name}: ${summarize(report)}`);
            }
        });

        it("callers keep working across the switch: the credential of the previous deploy is still accepted", async () => {
            for (const spec of specs) {
                const report = await runPositive(endpointOf(runs[1]!.endpoints[spec.name]!.url), spec.probes, runs[0]!.credentials[spec.name]!);
                assert.ok(report.passed, `${spec.name}: a caller holding the previous credential is refused after the switch`);
            }
        });
    });
}
