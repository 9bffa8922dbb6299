// Which Pulumi CLI runs: the official toolchain first. A `pulumi` on PATH that is at least as new as the program's
// @pulumi/pulumi SDK is what platform teams already have (pulumi/actions, the installer, a package manager), and
// with it the engine acquires plugins as it normally does. Only when none is there - or when asked with
// REPAVE_ENGINE=project - does repave use the engine this repository builds from the Go module proxy
// (scripts/build-engine.sh), which exists for machines that have no CLI and cannot download one.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve, sep } from "node:path";

/** This package's root: the repository when run from source, `node_modules/repave` when installed. */
export const packageRoot = resolve(import.meta.dirname, "..", import.meta.dirname.endsWith(`${sep}dist${sep}cli`) ? ".." : "");

/** Where scripts/build-engine.sh puts the project's engine. */
export const projectEngineDir = (env: NodeJS.ProcessEnv = process.env): string => env["REPAVE_ENGINE_DIR"] ?? join(packageRoot, ".engine", "bin");

export type EngineSource = "REPAVE_PULUMI" | "PATH" | "project";

export interface Engine {
    /** The `pulumi` executable. */
    pulumi: string;
    /** Its folder: the language host and the dynamic-provider shim sit beside it in every distribution. */
    binDir: string;
    version: string;
    source: EngineSource;
    /** One sentence a user can read: which CLI, and why that one. */
    reason: string;
}

export class EngineError extends Error {}

export function parseVersion(text: string): [number, number, number] | undefined {
    const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function atLeast(version: string, minimum: string): boolean {
    const a = parseVersion(version);
    const b = parseVersion(minimum);
    if (!a || !b) return false;
    for (let i = 0; i < 3; i++) if (a[i]! !== b[i]!) return a[i]! > b[i]!;
    return true;
}

/** The @pulumi/pulumi version the program in `workDir` runs (else the one beside this package). */
export function sdkVersion(workDir: string): string {
    for (const from of [join(workDir, "package.json"), join(packageRoot, "package.json")]) {
        try {
            const file = createRequire(from).resolve("@pulumi/pulumi/package.json");
            return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
        } catch {
            // not resolvable from there
        }
    }
    throw new EngineError(`cannot find @pulumi/pulumi from ${workDir}: install the project's dependencies first (npm ci)`);
}

function executable(file: string): boolean {
    try {
        accessSync(file, constants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/** `pulumi` on PATH as a shell would find it, passing over the project's own engine (scripts put it on PATH). */
export function onPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
    for (const dir of (env["PATH"] ?? "").split(delimiter)) {
        const file = join(dir, "pulumi");
        if (dir && executable(file) && !isProjectEngine(file, env)) return file;
    }
    return undefined;
}

function versionOf(pulumi: string): string {
    try {
        return execFileSync(pulumi, ["version"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" }, timeout: 30_000 }).trim();
    } catch (err) {
        throw new EngineError(`${pulumi} version failed: ${(err as Error).message}`);
    }
}

const isProjectEngine = (pulumi: string, env: NodeJS.ProcessEnv = process.env) => {
    const dir = projectEngineDir(env);
    return existsSync(dir) && dirname(realpathSync(pulumi)) === realpathSync(dir);
};

/**
 * Resolves the CLI for a program in `workDir`. REPAVE_PULUMI (a path) wins; REPAVE_ENGINE=path or project forces
 * one kind; the default, auto, takes PATH's CLI when it is new enough for the SDK, else the project's engine.
 */
export function resolveEngine(workDir: string, env: NodeJS.ProcessEnv = process.env): Engine {
    const minimum = sdkVersion(workDir);
    const mode = env["REPAVE_ENGINE"] ?? "auto";
    if (!["auto", "path", "project"].includes(mode)) {
        throw new EngineError(`REPAVE_ENGINE="${mode}" is not one of auto, path, project`);
    }
    const make = (pulumi: string, source: EngineSource, why: string, version = versionOf(pulumi)): Engine => {
        if (!atLeast(version, minimum)) {
            throw new EngineError(`${pulumi} is pulumi ${version}, older than the program's SDK (@pulumi/pulumi ${minimum}): ${why}`);
        }
        return { pulumi, binDir: dirname(pulumi), version, source, reason: `${source === "project" ? "the project's engine" : "pulumi"} ${version} at ${pulumi} (${why})` };
    };
    const explicit = env["REPAVE_PULUMI"];
    if (explicit) {
        if (!executable(explicit)) throw new EngineError(`REPAVE_PULUMI=${explicit} is not an executable`);
        return make(explicit, isProjectEngine(explicit, env) ? "project" : "REPAVE_PULUMI", "set by REPAVE_PULUMI");
    }
    const project = join(projectEngineDir(env), "pulumi");
    const found = onPath(env);
    if (mode !== "project" && found) {
        const version = versionOf(found);
        if (atLeast(version, minimum)) return make(found, "PATH", `on PATH, at least the SDK's ${minimum}`, version);
        if (mode === "path") throw new EngineError(`pulumi on PATH (${found}) is ${version}, older than the SDK's ${minimum}: upgrade it`);
    } else if (mode === "path") {
        throw new EngineError("REPAVE_ENGINE=path but no pulumi on PATH (install it: pulumi/actions in CI, or the official installer)");
    }
    if (executable(project)) {
        return make(project, "project", mode === "project" ? "REPAVE_ENGINE=project" : found ? "PATH's CLI is older than the SDK" : "no pulumi on PATH");
    }
    throw new EngineError(
        `no Pulumi CLI: none on PATH${found ? ` new enough (need ${minimum})` : ""} and no project engine in ${projectEngineDir(env)}. ` +
            "Install the Pulumi CLI (pulumi/actions in CI, or the official installer), or build the project's engine with `npm run engine` in a repave checkout.",
    );
}
