// Image source of the local target: a folder of versioned builds. The newest patched build is the "latest
// patched image"; its content hash is the immutable id a generation pins, as an AMI id or a registry digest would.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { z } from "zod";

const manifestSchema = z.object({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, { message: "must be semver such as 1.2.3" }),
    createdAt: z.iso.datetime({ offset: true }),
    patched: z.boolean(),
    entry: z.string().min(1),
    scan: z
        .object({
            critical: z.number().int().min(0),
            high: z.number().int().min(0),
            findings: z.array(z.string()).default([]),
        })
        .optional(),
});

export interface ResolvedImage {
    version: string;
    /** sha256 over every file of the build: the pin. */
    hash: string;
    dir: string;
    entry: string;
    createdAt: string;
    scan?: { critical: number; high: number; findings: string[] } | undefined;
}

function compareSemver(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < 3; i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return d;
    }
    return 0;
}

function listFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]))
        .sort();
}

export function hashBuild(dir: string): string {
    const h = createHash("sha256");
    for (const file of listFiles(dir)) {
        h.update(relative(dir, file)).update("\0").update(readFileSync(file)).update("\0");
    }
    return `sha256:${h.digest("hex")}`;
}

/**
 * Picks the newest patched build under `path` (or exactly `version` when pinned) and pins it by content hash.
 * Throws with the reason when no build qualifies.
 */
export function resolveLatestBuild(path: string, version?: string): ResolvedImage {
    const root = resolve(path);
    if (!existsSync(root) || !statSync(root).isDirectory()) {
        throw new Error(`image.path: ${root} is not a folder of builds (hint: point it at e.g. images/sample-api)`);
    }
    const candidates: ResolvedImage[] = [];
    const problems: string[] = [];
    for (const name of readdirSync(root)) {
        const dir = join(root, name);
        const manifestFile = join(dir, "manifest.json");
        if (!statSync(dir).isDirectory() || !existsSync(manifestFile)) continue;
        const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(manifestFile, "utf8")));
        if (!parsed.success) {
            problems.push(`${manifestFile}: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
            continue;
        }
        const m = parsed.data;
        if (!existsSync(join(dir, m.entry))) {
            problems.push(`${manifestFile}: entry ${m.entry} does not exist`);
            continue;
        }
        if (version !== undefined ? m.version !== version : !m.patched) continue;
        candidates.push({ version: m.version, hash: "", dir, entry: m.entry, createdAt: m.createdAt, scan: m.scan });
    }
    candidates.sort((a, b) => compareSemver(b.version, a.version));
    const chosen = candidates[0];
    if (!chosen) {
        const wanted = version !== undefined ? `version ${version}` : "a build marked patched";
        throw new Error(
            `image: no ${wanted} under ${root}${problems.length ? ` (skipped: ${problems.join(" | ")})` : ""}`,
        );
    }
    return { ...chosen, hash: hashBuild(chosen.dir) };
}
