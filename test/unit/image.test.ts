// The local image source: a build's identity is its content, its age starts when that content is first built,
// and nothing in the repository carries a date that ages by itself.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildImage, hashBuild, resolveLatestBuild } from "../../components/local/image.ts";

const repoImages = join(import.meta.dirname, "..", "..", "images", "sample-api");
const day = 86_400_000;

describe("local image builds", () => {
    const root = mkdtempSync(join(tmpdir(), "repave-image-"));
    after(() => rmSync(root, { recursive: true, force: true }));
    let n = 0;
    /** A fresh copy of the repository's build sources and an empty store. */
    const workspace = () => {
        const dir = join(root, `w${n++}`);
        cpSync(repoImages, join(dir, "src"), { recursive: true });
        return { src: join(dir, "src"), store: join(dir, "store") };
    };

    it("no build source in the repository carries a date: age cannot come from the checkout", () => {
        for (const version of readdirSync(repoImages, { withFileTypes: true }).filter((e) => e.isDirectory())) {
            const manifest = readFileSync(join(repoImages, version.name, "manifest.json"), "utf8");
            assert.doesNotMatch(manifest, /\d{4}-\d{2}-\d{2}/, `${version.name}/manifest.json names a date`);
        }
    });

    it("dates a build when its content is first built, and keeps that date for the same content", () => {
        const { src, store } = workspace();
        const first = resolveLatestBuild(src, undefined, store);
        assert.equal(first.version, "1.1.0");
        assert.ok(Math.abs(Date.parse(first.createdAt) - Date.now()) < 60_000, `built now, not ${first.createdAt}`);
        const later = buildImage(join(src, "1.1.0"), store, new Date(Date.now() + 40 * day));
        assert.equal(later.hash, first.hash);
        assert.equal(later.createdAt, first.createdAt, "recorded once per hash: a rebuild does not make it young");
    });

    it("identity is the content only: the same content in another folder is the same build", () => {
        const a = workspace();
        const b = workspace();
        const old = new Date(Date.now() - 20 * day);
        const built = buildImage(join(a.src, "1.1.0"), a.store, old);
        assert.equal(buildImage(join(b.src, "1.1.0"), a.store).createdAt, old.toISOString());
        assert.equal(built.hash, hashBuild(join(b.src, "1.1.0")));
    });

    it("changed content is a new build with its own date", () => {
        const { src, store } = workspace();
        const old = buildImage(join(src, "1.1.0"), store, new Date(Date.now() - 20 * day));
        writeFileSync(join(src, "1.1.0", "server.mjs"), readFileSync(join(src, "1.1.0", "server.mjs"), "utf8") + "\n// patched\n");
        const patched = resolveLatestBuild(src, undefined, store);
        assert.notEqual(patched.hash, old.hash);
        assert.ok(Date.parse(patched.createdAt) > Date.parse(old.createdAt));
    });

    it("runs from the built copy, whose content matches the pin", () => {
        const { src, store } = workspace();
        const image = resolveLatestBuild(src, undefined, store);
        assert.ok(image.dir.startsWith(store), "the processes run the built copy, not the editable source");
        assert.equal(hashBuild(image.dir), image.hash);
        writeFileSync(join(image.dir, image.entry), "process.exit(1)\n");
        assert.throws(() => resolveLatestBuild(src, undefined, store), /does not match its content hash/);
    });

    it("refuses an entry outside the hashed folder, and symlinks", () => {
        const { src, store } = workspace();
        const manifest = join(src, "1.1.0", "manifest.json");
        const m = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>;
        writeFileSync(manifest, JSON.stringify({ ...m, entry: "../1.0.0/server.mjs" }));
        assert.throws(() => resolveLatestBuild(src, "1.1.0", store), /entry \.\.\/1\.0\.0\/server\.mjs must be a file inside the build folder/);
        writeFileSync(manifest, JSON.stringify({ ...m, entry: "/usr/bin/env" }));
        assert.throws(() => resolveLatestBuild(src, "1.1.0", store), /must be a file inside the build folder/);
        writeFileSync(manifest, JSON.stringify(m));
        symlinkSync(join(src, "1.0.0", "server.mjs"), join(src, "1.1.0", "lib.mjs"));
        assert.throws(() => resolveLatestBuild(src, "1.1.0", store), /regular files only, not symlinks/);
    });

    it("the scan report a build carries is bound to its content hash", () => {
        const { src, store } = workspace();
        const manifest = join(src, "1.1.0", "manifest.json");
        const m = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, unknown>;
        writeFileSync(manifest, JSON.stringify({ ...m, knownFindings: { critical: 1, high: 0, findings: ["CVE-2026-4242"] } }));
        const image = resolveLatestBuild(src, undefined, store);
        assert.equal(image.scan.imageHash, image.hash);
        assert.deepEqual([image.scan.critical, image.scan.findings], [1, ["CVE-2026-4242"]]);
        assert.match(image.scan.scanner, /no offline CVE scanner/);
    });
});
