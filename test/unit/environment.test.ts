// Which CLI runs and in which environment (cli/engine.ts, cli/environment.ts): the official toolchain first, the
// user's backend and secrets provider untouched, a passphrase of our own only for the default local file backend.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { atLeast, EngineError, resolveEngine, type Engine } from "../../cli/engine.ts";
import { ConfigurationError, engineEnv, localPassphraseFile } from "../../cli/environment.ts";

const repoRoot = join(import.meta.dirname, "..", "..");
const root = mkdtempSync(join(tmpdir(), "repave-env-"));
let n = 0;
const folder = () => {
    const dir = join(root, `d${n++}`);
    mkdirSync(dir, { recursive: true });
    return dir;
};
/** A stand-in `pulumi` that only answers `pulumi version`. */
const fakeCli = (version: string) => {
    const dir = folder();
    writeFileSync(join(dir, "pulumi"), `#!/bin/sh\necho ${version}\n`);
    chmodSync(join(dir, "pulumi"), 0o755);
    return dir;
};
const projectEngine: Engine = { pulumi: "/x/.engine/bin/pulumi", binDir: "/x/.engine/bin", version: "v3.274.0", source: "project", reason: "" };
const pathEngine: Engine = { ...projectEngine, pulumi: "/usr/local/bin/pulumi", binDir: "/usr/local/bin", source: "PATH" };
const mode = (path: string) => statSync(path).mode & 0o777;

describe("engine resolution", () => {
    after(() => rmSync(root, { recursive: true, force: true }));
    const sdk = (JSON.parse(readFileSync(join(repoRoot, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")) as { version: string }).version;

    it("compares versions", () => {
        assert.ok(atLeast("v3.274.0", "3.270.0") && atLeast("3.270.0", "3.270.0") && !atLeast("v3.269.9", "3.270.0") && !atLeast("v2.99.0", "3.0.0"));
    });

    it("takes a pulumi on PATH that is new enough for the SDK", () => {
        const path = fakeCli("v9.0.0");
        const engine = resolveEngine(repoRoot, { PATH: path, REPAVE_ENGINE_DIR: folder() });
        assert.deepEqual([engine.source, engine.pulumi], ["PATH", join(path, "pulumi")]);
        assert.match(engine.reason, new RegExp(`at least the SDK's ${sdk.replaceAll(".", "\\.")}`));
    });

    it("passes over a CLI older than the SDK to the project's engine, and says why", () => {
        const engine = resolveEngine(repoRoot, { PATH: fakeCli("v3.1.0"), REPAVE_ENGINE_DIR: fakeCli("v9.1.0") });
        assert.equal(engine.source, "project");
        assert.match(engine.reason, /PATH's CLI is older than the SDK/);
    });

    it("REPAVE_ENGINE=project and =path force one; no CLI at all is a clear error", () => {
        assert.equal(resolveEngine(repoRoot, { PATH: fakeCli("v9.0.0"), REPAVE_ENGINE: "project", REPAVE_ENGINE_DIR: fakeCli("v9.1.0") }).source, "project");
        assert.throws(() => resolveEngine(repoRoot, { PATH: folder(), REPAVE_ENGINE: "path", REPAVE_ENGINE_DIR: fakeCli("v9.1.0") }), /REPAVE_ENGINE=path but no pulumi on PATH/);
        assert.throws(() => resolveEngine(repoRoot, { PATH: folder(), REPAVE_ENGINE_DIR: folder() }), EngineError);
        assert.throws(() => resolveEngine(repoRoot, { PATH: folder(), REPAVE_ENGINE: "nightly" }), /not one of auto, path, project/);
        assert.throws(() => resolveEngine(repoRoot, { PATH: folder(), REPAVE_PULUMI: fakeCli("v1.0.0") + "/pulumi" }), /older than the program's SDK/);
    });
});

describe("the environment of CLI calls", () => {
    it("the default local file backend gets a random per-checkout passphrase file, 0600, in a 0700 folder", () => {
        const work = folder();
        const env = engineEnv(work, projectEngine, { PATH: "/usr/bin", HOME: folder() });
        assert.equal(env["PULUMI_BACKEND_URL"], `file://${join(work, ".pulumi-state")}?metadata=skip`);
        const file = env["PULUMI_CONFIG_PASSPHRASE_FILE"]!;
        assert.equal(file, join(work, ".pulumi-state", ".passphrase"));
        const passphrase = readFileSync(file, "utf8");
        assert.ok(passphrase.length >= 40 && passphrase !== "repave-local-only", "random, not the old public one");
        assert.equal(mode(file), 0o600);
        assert.equal(mode(join(work, ".pulumi-state")), 0o700);
        assert.equal(mode(join(work, ".pulumi-home")), 0o700);
        assert.equal(readFileSync(engineEnv(work, projectEngine, { HOME: folder() })["PULUMI_CONFIG_PASSPHRASE_FILE"]!, "utf8"), passphrase, "stable across calls");
        assert.equal(engineEnv(folder(), projectEngine, { HOME: folder() })["PULUMI_CONFIG_PASSPHRASE_FILE"] === file, false);
    });

    it("stacks made with the old public passphrase keep working, and the user is told to rotate", () => {
        const work = folder();
        mkdirSync(join(work, ".pulumi-state", ".pulumi", "stacks", "repave"), { recursive: true });
        writeFileSync(join(work, ".pulumi-state", ".pulumi", "stacks", "repave", "local.json"), "{}");
        const warnings: string[] = [];
        const file = localPassphraseFile(join(work, ".pulumi-state"), (t) => warnings.push(t));
        assert.equal(readFileSync(file, "utf8"), "repave-local-only");
        assert.match(warnings.join(""), /change-secrets-provider/);
    });

    it("an empty passphrase with any other backend is refused, never used as the key", () => {
        for (const backend of ["s3://state-bucket?region=eu-west-1", "gs://state", "file:///srv/shared-state", "https://api.pulumi.com"]) {
            assert.throws(
                () => engineEnv(folder(), pathEngine, { PULUMI_BACKEND_URL: backend, PULUMI_CONFIG_PASSPHRASE: "", HOME: folder() }),
                (err: Error) => err instanceof ConfigurationError && /set but empty/.test(err.message) && err.message.includes(backend),
            );
        }
    });

    it("leaves the user's backend, login, home and secrets provider alone", () => {
        const home = folder();
        mkdirSync(join(home, ".pulumi"));
        writeFileSync(join(home, ".pulumi", "credentials.json"), JSON.stringify({ current: "https://api.pulumi.com" }));
        const loggedIn = engineEnv(folder(), pathEngine, { HOME: home, PATH: "/usr/bin" });
        assert.equal(loggedIn["PULUMI_BACKEND_URL"], undefined, "the user's `pulumi login` stands");
        assert.equal(loggedIn["PULUMI_HOME"], undefined, "the official CLI keeps ~/.pulumi (its plugins live there)");
        assert.equal(loggedIn["PULUMI_CONFIG_PASSPHRASE"] ?? loggedIn["PULUMI_CONFIG_PASSPHRASE_FILE"], undefined, "no passphrase invented for a cloud backend");
        assert.equal(loggedIn["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"], undefined, "the official CLI acquires plugins as usual");
        const own = engineEnv(folder(), pathEngine, { PULUMI_BACKEND_URL: "s3://b", PULUMI_CONFIG_PASSPHRASE: "theirs", HOME: home });
        assert.deepEqual([own["PULUMI_BACKEND_URL"], own["PULUMI_CONFIG_PASSPHRASE"]], ["s3://b", "theirs"]);
        assert.equal(engineEnv(folder(), projectEngine, { HOME: home })["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"], "true", "the project's engine is for offline machines");
    });
});
