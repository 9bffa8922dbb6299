// A fleet for the real-engine tests: one project folder and one state backend holding several local stacks, each
// with its own name, loopback ports and image folder, and the driver run against them as a user would.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect, freePort, LocalStack, repoRoot, type RunResult } from "./harness.ts";

/** One stack of the fleet: the shared project folder and backend, its own name, ports and image folder. */
export class FleetMember extends LocalStack {
    override readonly stack: string;
    override readonly imagesDir: string;
    constructor(dir: string, port: number, testPort: number, name: string, backendEnv: Record<string, string>) {
        super(dir, port, testPort);
        this.stack = name;
        this.imagesDir = join(dir, `images-${name}`);
        this.api = { ...this.api, image: { source: "local-builds", path: this.imagesDir } };
        Object.assign(this.env, backendEnv);
    }
}

export interface FleetProject {
    dir: string;
    env: NodeJS.ProcessEnv;
    members: FleetMember[];
    /** `repave <args> --cwd <the project>`. */
    fleet(args: string[]): Promise<RunResult>;
    /** Destroys every stack (two at a time) and removes the folder. */
    cleanup(): Promise<void>;
}

/** `backendEnv`: PULUMI_BACKEND_URL and its credentials; default a file backend in the project folder. */
export async function createFleetProject(prefix: string, names: string[], backendEnv: Record<string, string> = {}): Promise<FleetProject> {
    const dir = mkdtempSync(join(tmpdir(), `repave-${prefix}-`));
    const backend = { PULUMI_BACKEND_URL: `file://${join(dir, ".pulumi-state")}`, ...backendEnv };
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${join(repoRoot, ".engine", "bin")}:${join(repoRoot, "node_modules", ".bin")}:${process.env["PATH"] ?? ""}`,
        PULUMI_HOME: join(dir, ".pulumi-home"),
        PULUMI_CONFIG_PASSPHRASE: "repave-test-passphrase",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        ...backend,
    };
    for (const f of ["Pulumi.yaml", "package.json", "index.ts"]) cpSync(join(repoRoot, f), join(dir, f));
    cpSync(join(repoRoot, "components"), join(dir, "components"), { recursive: true });
        // repave's provider plugin, declared by Pulumi.yaml (plugins.providers: ./provider).
        cpSync(join(repoRoot, "provider"), join(dir, "provider"), { recursive: true });
    // The model's shared constants (the front-door marker, secret shapes) live beside the policy pack.
    cpSync(join(repoRoot, "policy"), join(dir, "policy"), { recursive: true });
    symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
    mkdirSync(join(dir, "stacks"));
    mkdirSync(join(dir, ".pulumi-state"));
    const members: FleetMember[] = [];
    // Every port of the fleet is distinct: freePort() never hands out a port twice in one process.
    for (const name of names) {
        const m = new FleetMember(dir, await freePort(), await freePort(), name, backend);
        cpSync(join(repoRoot, "images", "sample-api"), m.imagesDir, { recursive: true });
        const init = await m.pulumi(["stack", "init", name]);
        if (init.code !== 0) throw new Error(`stack init ${name} failed:\n${init.out}`);
        m.writeConfig();
        members.push(m);
    }
    return {
        dir,
        env,
        members,
        fleet: (args) => collect(spawn(process.execPath, [join(repoRoot, "cli", "repave.ts"), ...args, "--cwd", dir], { env, stdio: ["ignore", "pipe", "pipe"] })),
        cleanup: async () => {
            for (let i = 0; i < members.length; i += 2) {
                await Promise.all(members.slice(i, i + 2).map((m) => m.pulumi(["destroy", "--yes", "--skip-preview", "--stack", m.stack])));
            }
            rmSync(dir, { recursive: true, force: true });
        },
    };
}
