// The driver's handle on a stack: the Automation API over the project's own engine (.engine/bin/pulumi), with the
// same defaults as scripts/env.sh. Nothing here assumes a file backend: PULUMI_BACKEND_URL wins when set.
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation/index.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

export const projectRoot = resolve(import.meta.dirname, "..");

export function engineEnv(workDir: string): Record<string, string> {
    const env: Record<string, string> = {
        PATH: `${join(projectRoot, ".engine", "bin")}:${join(projectRoot, "node_modules", ".bin")}:${process.env["PATH"] ?? ""}`,
        PULUMI_HOME: process.env["PULUMI_HOME"] ?? join(workDir, ".pulumi-home"),
        PULUMI_BACKEND_URL: process.env["PULUMI_BACKEND_URL"] ?? `file://${join(workDir, ".pulumi-state")}`,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    };
    if (!process.env["PULUMI_CONFIG_PASSPHRASE"] && !process.env["PULUMI_CONFIG_PASSPHRASE_FILE"]) {
        env["PULUMI_CONFIG_PASSPHRASE"] = "repave-local-only";
    }
    if (env["PULUMI_BACKEND_URL"]!.startsWith("file://")) mkdirSync(env["PULUMI_BACKEND_URL"]!.slice(7), { recursive: true });
    return env;
}

export async function openStack(stackName: string, workDir = projectRoot, extraEnv: Record<string, string> = {}): Promise<Stack> {
    const pulumiCommand = await PulumiCommand.get({ root: join(projectRoot, ".engine") });
    try {
        return await LocalWorkspace.selectStack({ stackName, workDir }, { pulumiCommand, envVars: { ...engineEnv(workDir), ...extraEnv } });
    } catch (err) {
        const text = String((err as Error).message);
        if (/no stack named|not found/i.test(text)) {
            throw new Error(`stack "${stackName}" does not exist in this backend (hint: \`npm run up:local\` creates "local", or pass --stack)`);
        }
        throw err;
    }
}

/**
 * One read-only CLI call with the stack's own environment. The Automation API's `outputs()` makes two calls and
 * decrypts every secret; the driver only needs the non-secret facts, so it asks for exactly those.
 */
export async function pulumiJson<T>(stack: Stack, args: string[]): Promise<T> {
    const ws = stack.workspace as LocalWorkspace;
    const { stdout } = await promisify(execFile)(join(projectRoot, ".engine", "bin", "pulumi"), [...args, "--json", "--stack", stack.name], {
        cwd: ws.workDir,
        env: { ...process.env, ...ws.envVars },
        maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(stdout) as T;
}
