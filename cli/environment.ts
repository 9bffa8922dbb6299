// The environment of every Pulumi CLI call the driver and the scripts make: which state backend, which PULUMI_HOME,
// which passphrase. It takes what the user already has; only when nothing is set up does it fall back to the
// default local file backend in the project folder, and only there to a passphrase it keeps itself.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Engine } from "./engine.ts";

export class ConfigurationError extends Error {}

/** The passphrase of the local test and demo stacks before per-checkout passphrases; public, so migration only. */
const LEGACY_PASSPHRASE = "repave-local-only";

/** Is the user logged in to a backend already (`pulumi login`)? Then it is theirs to use, not ours to override. */
function loggedIn(home: string): boolean {
    try {
        const creds = JSON.parse(readFileSync(join(home, "credentials.json"), "utf8")) as { current?: string };
        return Boolean(creds.current);
    } catch {
        return false;
    }
}

/** A private folder: state and PULUMI_HOME hold ciphertext, salts and locks no other local user needs to read. */
function privateDir(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
}

/**
 * The passphrase file of the default local file backend: random per checkout, 0600. A backend folder that already
 * holds stacks from before it existed keeps the old public passphrase (so those stacks still decrypt) and says so.
 */
export function localPassphraseFile(stateDir: string, warn: (text: string) => void = (t) => process.stderr.write(`${t}\n`)): string {
    const file = join(stateDir, ".passphrase");
    if (!existsSync(file)) {
        privateDir(stateDir);
        const stacksDir = join(stateDir, ".pulumi", "stacks");
        const legacy = existsSync(stacksDir) && readdirSync(stacksDir, { recursive: true }).some((f) => String(f).endsWith(".json"));
        writeFileSync(file, legacy ? LEGACY_PASSPHRASE : randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
        if (legacy) {
            warn(
                `repave: ${stateDir} holds stacks encrypted with the old public passphrase; kept in ${file}. ` +
                    "Rotate it: write a new passphrase there and run `pulumi stack change-secrets-provider passphrase` per stack.",
            );
        }
    }
    chmodSync(file, 0o600);
    return file;
}

/**
 * The environment of every CLI call. Backend: PULUMI_BACKEND_URL, else the user's `pulumi login`, else the
 * default local file backend `<workDir>/.pulumi-state`. Passphrase: only the default local file backend gets one
 * it did not ask for; with any other backend an empty PULUMI_CONFIG_PASSPHRASE (a CI secret missing on a fork's
 * pull request, say) is refused rather than used as the key. Other secrets providers (Pulumi Cloud, KMS) are
 * configured on the stack and untouched here.
 */
export function engineEnv(workDir: string, engine: Engine, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const out: Record<string, string> = {
        PATH: `${engine.binDir}:${env["PATH"] ?? ""}`,
        PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    // The project's engine is for machines that cannot download plugins (it is built where no CLI can be had):
    // there, acquisition would only fail slowly. The official CLI acquires plugins as it normally does.
    if (engine.source === "project" && env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] === undefined) {
        out["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true";
    }
    // The project's engine keeps its plugins and settings inside the project; the official CLI uses the user's home.
    const home = env["PULUMI_HOME"] ?? (engine.source === "project" ? join(workDir, ".pulumi-home") : join(env["HOME"] ?? homedir(), ".pulumi"));
    if (env["PULUMI_HOME"] || engine.source === "project") {
        out["PULUMI_HOME"] = home;
        privateDir(home);
    }
    const localState = join(workDir, ".pulumi-state");
    let backend = env["PULUMI_BACKEND_URL"];
    // metadata=skip: no ".attrs" sidecar per file. A process killed while writing one left it empty, and the
    // stack unreadable ("failed to load checkpoint: EOF") until repaired (see `repave recover`).
    if (!backend && !loggedIn(home)) backend = `file://${localState}?metadata=skip`;
    if (backend) out["PULUMI_BACKEND_URL"] = backend;
    const defaultLocal = backend?.startsWith("file://") === true && resolve(backend.slice("file://".length).split("?")[0]!) === localState;
    if (backend?.startsWith("file://")) privateDir(backend.slice("file://".length).split("?")[0]!);

    const passphrase = env["PULUMI_CONFIG_PASSPHRASE"];
    const passphraseFile = env["PULUMI_CONFIG_PASSPHRASE_FILE"];
    if (passphraseFile) {
        out["PULUMI_CONFIG_PASSPHRASE_FILE"] = passphraseFile;
    } else if (passphrase) {
        out["PULUMI_CONFIG_PASSPHRASE"] = passphrase;
    } else if (defaultLocal) {
        out["PULUMI_CONFIG_PASSPHRASE_FILE"] = localPassphraseFile(localState);
    } else if (passphrase === "") {
        throw new ConfigurationError(
            `PULUMI_CONFIG_PASSPHRASE is set but empty, and the backend is ${backend ?? "your `pulumi login`"}: refusing to use an empty ` +
                "passphrase as the key to this stack's secrets (is a CI secret missing, e.g. on a pull request from a fork?). " +
                "Set the passphrase, or use PULUMI_CONFIG_PASSPHRASE_FILE, or a cloud secrets provider.",
        );
    }
    return out;
}
