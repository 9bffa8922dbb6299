// Which stacks a fleet command covers: `--stack NAME` (repeatable, in the order given) and `--stacks PATTERN`
// (repeatable or comma-separated; `*` and `?` as in a shell), matched against the stacks the backend holds for
// this project. The order is the waves' order: named stacks first, then each pattern's matches sorted by name.
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { resolve } from "node:path";
import { resolveEngine } from "./engine.ts";
import { engineEnv } from "./environment.ts";
import { DriverError, exitCodes } from "./errors.ts";
import { installRoot } from "./workspace.ts";

/** A shell-style pattern as a whole-name regular expression: `*` any run of characters, `?` one character. */
export function patternRegExp(pattern: string): RegExp {
    const body = [...pattern].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&"))).join("");
    return new RegExp(`^${body}$`);
}

/** The stack's own name: a backend may list `org/project/stack`; patterns and --stack use the last part. */
export const shortName = (name: string): string => name.split("/").pop() ?? name;

export function selectStacks(available: readonly string[], names: readonly string[], patterns: readonly string[]): string[] {
    const known = [...new Set(available.map(shortName))].sort();
    const chosen: string[] = [];
    const add = (s: string) => void (chosen.includes(s) || chosen.push(s));
    for (const name of names) {
        if (!known.includes(name)) {
            throw new DriverError(`stack "${name}" does not exist in this backend (it holds: ${known.join(", ") || "no stack"})`, exitCodes.notFound);
        }
        add(name);
    }
    for (const pattern of patterns.flatMap((p) => p.split(",")).map((p) => p.trim())) {
        if (!pattern) throw new DriverError("--stacks: an empty pattern", exitCodes.usage);
        const re = patternRegExp(pattern);
        const matches = known.filter((s) => re.test(s));
        if (matches.length === 0) throw new DriverError(`--stacks: no stack matches "${pattern}" (this backend holds: ${known.join(", ") || "no stack"})`, exitCodes.notFound);
        matches.forEach(add);
    }
    if (chosen.length === 0) throw new DriverError("no stack selected: pass --stacks PATTERN or --stack NAME", exitCodes.usage);
    return chosen;
}

/** The stacks of the project in `workDir`, in the backend the driver uses there (cli/environment.ts). */
export async function listStacks(workDir: string): Promise<string[]> {
    const dir = resolve(workDir);
    const engine = resolveEngine(dir);
    const pulumiCommand = await PulumiCommand.get({ root: installRoot(engine), skipVersionCheck: true });
    const ws = await LocalWorkspace.create({ workDir: dir, pulumiCommand, envVars: engineEnv(dir, engine) });
    return (await ws.listStacks()).map((s) => shortName(s.name));
}
