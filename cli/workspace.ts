// The driver's handle on a stack: the Automation API over the resolved Pulumi CLI (cli/engine.ts), in the
// environment cli/environment.ts decides (backend, PULUMI_HOME, passphrase).
import { LocalWorkspace, PulumiCommand, StackNotFoundError, type Stack } from "@pulumi/pulumi/automation/index.js";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { resolveEngine, type Engine } from "./engine.ts";
import { engineEnv } from "./environment.ts";
import { DriverError, exitCodes } from "./errors.ts";

/** The project folder the driver works in when not told: where it is run, as with `pulumi` itself. */
export const defaultWorkDir = (): string => process.cwd();

/**
 * An install root for PulumiCommand (`<root>/bin/pulumi`) whose CLI runs in its own process group (setsid): a
 * terminal's Ctrl-C then reaches the driver alone, and the driver forwards exactly one SIGINT - the engine's
 * "cancel cleanly at a safe point". Without it the engine got two (the terminal's and the driver's), which means
 * "terminate now", and left the stack locked.
 */
export function installRoot(engine: Engine): string {
    const setsid = ["/usr/bin/setsid", "/bin/setsid"].find((f) => existsSync(f));
    if (!setsid) return basename(engine.binDir) === "bin" ? dirname(engine.binDir) : engine.binDir; // best effort
    const cache = process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache");
    const root = join(cache, "repave", `engine-${createHash("sha256").update(engine.pulumi).digest("hex").slice(0, 12)}`);
    const wrapper = join(root, "bin", "pulumi");
    const script = `#!/bin/sh\n# Written by repave (cli/workspace.ts): the CLI in its own process group.\nexec ${setsid} ${JSON.stringify(engine.pulumi)} "$@"\n`;
    if (!existsSync(wrapper) || readFileSync(wrapper, "utf8") !== script) {
        mkdirSync(join(root, "bin"), { recursive: true, mode: 0o700 });
        writeFileSync(`${wrapper}.tmp`, script, { mode: 0o700 });
        renameSync(`${wrapper}.tmp`, wrapper);
    }
    return root;
}

/** The state backend the driver's calls use for a project folder (what engineEnv decides). */
export function backendUrlFor(workDir: string): string | undefined {
    const dir = resolve(workDir);
    return engineEnv(dir, resolveEngine(dir))["PULUMI_BACKEND_URL"] ?? process.env["PULUMI_BACKEND_URL"];
}

export interface OpenedStack {
    stack: Stack;
    engine: Engine;
}

export async function openStack(stackName: string, workDir = defaultWorkDir(), extraEnv: Record<string, string> = {}): Promise<Stack> {
    return (await openStackWithEngine(stackName, workDir, extraEnv)).stack;
}

export async function openStackWithEngine(stackName: string, workDir = defaultWorkDir(), extraEnv: Record<string, string> = {}): Promise<OpenedStack> {
    const dir = resolve(workDir);
    const engine = resolveEngine(dir);
    // PulumiCommand wants an install root whose bin/ holds the CLI; our version check above is the stricter one.
    const pulumiCommand = await PulumiCommand.get({ root: installRoot(engine), skipVersionCheck: true });
    try {
        const stack = await LocalWorkspace.selectStack({ stackName, workDir: dir }, { pulumiCommand, envVars: { ...engineEnv(dir, engine), ...extraEnv } });
        return { stack, engine };
    } catch (err) {
        if (err instanceof StackNotFoundError) {
            throw new DriverError(`stack "${stackName}" does not exist in this backend (hint: \`npm run up:local\` creates "local", or pass --stack)`, exitCodes.notFound);
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
    const { stdout } = await promisify(execFile)(ws.pulumiCommand.command, [...args, "--json", "--stack", stack.name], {
        cwd: ws.workDir,
        env: { ...process.env, ...ws.envVars },
        maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(stdout) as T;
}
