// Image source of the local target. `image.path` is a folder of versioned build *sources*; a deploy picks the
// newest one marked patched and builds it into a content-addressed store, as a CI system pushes an image to a
// registry. The build's identity is the hash of its content only, and its `createdAt` is when that content was
// first built - recorded once per hash, in the store - so nothing in the repository carries a date that ages by
// itself, while `max-age`, `--if-older-than` and the image-age policy still see a build grow old.
import { createHash } from "node:crypto";
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { z } from "zod";

const manifestSchema = z.object({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, { message: "must be semver such as 1.2.3" }),
    patched: z.boolean(),
    entry: z.string().min(1),
    /**
     * Findings known for this build's content. No offline CVE scanner exists on these machines, so the local
     * report is one the project writes from this list at build time, bound to the content hash (see scan.ts).
     */
    knownFindings: z
        .object({
            critical: z.number().int().min(0),
            high: z.number().int().min(0),
            findings: z.array(z.string()).default([]),
        })
        .optional(),
});

export interface ScanReport {
    /** Which scanner wrote it; for local builds, repave's own record of the manifest's known findings. */
    scanner: string;
    /** The content hash the report was made for: a report of another build is refused. */
    imageHash: string;
    critical: number;
    high: number;
    findings: string[];
}

export interface ResolvedImage {
    version: string;
    /** sha256 over every file of the build: the pin. */
    hash: string;
    /** The built, content-addressed copy the processes run from (never the editable source). */
    dir: string;
    entry: string;
    /** When this content was first built (not when it was resolved, nor a date written in the source). */
    createdAt: string;
    scan: ScanReport;
}

/** The build record written beside each built copy. */
interface BuildRecord {
    version: string;
    hash: string;
    entry: string;
    createdAt: string;
    scan: ScanReport;
}

export const LOCAL_SCANNER = "repave-local-declared (manifest knownFindings; no offline CVE scanner on this machine)";

/** Where builds are kept unless told otherwise: beside the program, like the local target's other state. */
export const defaultBuildStore = (): string => resolve(".repave", "builds");

function compareSemver(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < 3; i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return d;
    }
    return 0;
}

/** Regular files only: a symlink could point the pinned entry at code outside the hashed folder. */
function listFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => {
            const path = join(dir, e.name);
            if (e.isSymbolicLink()) throw new Error(`${path}: builds hold regular files only, not symlinks`);
            return e.isDirectory() ? listFiles(path) : [path];
        })
        .sort();
}

export function hashBuild(dir: string): string {
    const h = createHash("sha256");
    for (const file of listFiles(dir)) {
        h.update(relative(dir, file)).update("\0").update(readFileSync(file)).update("\0");
    }
    return `sha256:${h.digest("hex")}`;
}

/** The entry must be a file inside the hashed folder, or the pin would not cover the code that runs. */
function entryProblem(dir: string, entry: string): string | undefined {
    const rel = relative(dir, resolve(dir, entry));
    if (isAbsolute(entry) || rel === "" || rel.startsWith("..") || isAbsolute(rel)) return `entry ${entry} must be a file inside the build folder`;
    const path = join(dir, rel);
    if (!existsSync(path)) return `entry ${entry} does not exist`;
    if (lstatSync(path).isSymbolicLink() || !statSync(path).isFile()) return `entry ${entry} must be a regular file`;
    return undefined;
}

/**
 * Builds `source` into the store, once per content hash. A second build of the same content returns the first
 * one's record, `createdAt` included; the copy is made in a temporary folder and renamed into place, so a
 * concurrent build of the same content is harmless.
 */
export function buildImage(source: string, store: string, now: Date = new Date()): ResolvedImage {
    const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(source, "manifest.json"), "utf8")));
    const hash = hashBuild(source);
    const home = join(store, hash.replace(/^sha256:/, "").slice(0, 32));
    const recordFile = join(home, "build.json");
    if (!existsSync(recordFile)) {
        mkdirSync(store, { recursive: true, mode: 0o700 });
        const tmp = `${home}.tmp-${process.pid}-${Date.now()}`;
        cpSync(source, join(tmp, "rootfs"), { recursive: true });
        const scan: ScanReport = {
            scanner: LOCAL_SCANNER,
            imageHash: hash,
            critical: manifest.knownFindings?.critical ?? 0,
            high: manifest.knownFindings?.high ?? 0,
            findings: manifest.knownFindings?.findings ?? [],
        };
        const record: BuildRecord = { version: manifest.version, hash, entry: manifest.entry, createdAt: now.toISOString(), scan };
        writeFileSync(join(tmp, "build.json"), JSON.stringify(record, null, 2));
        try {
            renameSync(tmp, home);
        } catch (err) {
            rmSync(tmp, { recursive: true, force: true });
            if (!existsSync(recordFile)) throw err; // not a concurrent build of the same content: a real failure
        }
    }
    const record = JSON.parse(readFileSync(recordFile, "utf8")) as BuildRecord;
    const dir = join(home, "rootfs");
    // The store is ours, but verify: a build edited in place would run code its pin does not describe.
    if (record.hash !== hash || hashBuild(dir) !== hash) {
        throw new Error(`image build ${home} does not match its content hash ${hash} (hint: delete that folder to rebuild it)`);
    }
    return { version: record.version, hash, dir, entry: record.entry, createdAt: record.createdAt, scan: record.scan };
}

/**
 * Picks the newest patched build source under `path` (or exactly `version` when pinned), builds it and pins it
 * by content hash. Throws with the reason when no build qualifies.
 */
export function resolveLatestBuild(path: string, version?: string, store: string = defaultBuildStore()): ResolvedImage {
    const root = resolve(path);
    if (!existsSync(root) || !statSync(root).isDirectory()) {
        throw new Error(`image.path: ${root} is not a folder of builds (hint: point it at e.g. images/sample-api)`);
    }
    const candidates: Array<{ version: string; dir: string }> = [];
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
        const problem = entryProblem(dir, m.entry);
        if (problem) {
            problems.push(`${manifestFile}: ${problem}`);
            continue;
        }
        if (version !== undefined ? m.version !== version : !m.patched) continue;
        candidates.push({ version: m.version, dir });
    }
    candidates.sort((a, b) => compareSemver(b.version, a.version));
    const chosen = candidates[0];
    if (!chosen) {
        const wanted = version !== undefined ? `version ${version}` : "a build marked patched";
        throw new Error(
            `image: no ${wanted} under ${root}${problems.length ? ` (skipped: ${problems.join(" | ")})` : ""}`,
        );
    }
    return buildImage(chosen.dir, store);
}
