// Builds with broken authentication, on the real engine: each carries one realistic bug in how it checks the bearer
// token, passes health and the plain probes, and must still be refused by the gate's adversarial probes - with
// production left on the live generation, no request failed under load, and no near miss of a credential in the
// engine's output, the state or the front door's log.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalStack, startLoad, type LoadReport } from "./harness.ts";

function call(port: number, caPem: string, credential: string): Promise<{ status: number; generation: string }> {
    return new Promise((resolve, reject) => {
        const headers = { host: "localhost", authorization: `Bearer ${credential}` };
        const req = https.get({ host: "127.0.0.1", port, path: "/v1/hello", servername: "localhost", ca: caPem, agent: false, headers }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, generation: String(res.headers["x-repave-generation"]) }));
        });
        req.on("error", reject);
    });
}

/** Replaces `from` in the build's server source, and fails loudly if the source no longer has it. */
const replace = (from: string, to: string) => (src: string) => {
    assert.ok(src.includes(from), `the sample API no longer contains: ${from}`);
    return src.replace(from, to);
};
const compare = "const matches = (key) => key.length > 0 && given.length === key.length && timingSafeEqual(given, key);";
const parse = 'if (!header.startsWith("Bearer ")) return "missing";\n  const given = Buffer.from(header.slice(7));';
const either = 'return matches(credential) || matches(previous) ? "ok" : "wrong";';

const bugs: Array<{ bug: string; patch: (src: string) => string; refusedBy: string[] }> = [
    {
        bug: "compares only the common prefix (timingSafeEqual over the shorter length)",
        patch: replace(compare, "const matches = (key) => { const n = Math.min(given.length, key.length); return n > 0 && timingSafeEqual(given.subarray(0, n), key.subarray(0, n)); };"),
        refusedBy: ["near-miss-truncated-by-1", "near-miss-prefix-half", "near-miss-extended-by-1", "near-miss-truncated-by-1-of-previous"],
    },
    {
        bug: "accepts any token that starts with the credential",
        patch: replace(compare, "const matches = (key) => key.length > 0 && given.toString().startsWith(key.toString());"),
        refusedBy: ["near-miss-extended-by-1", "near-miss-doubled", "oversized-credential"],
    },
    {
        bug: "compares case-insensitively",
        patch: replace(compare, "const matches = (key) => key.length > 0 && given.toString().toLowerCase() === key.toString().toLowerCase();"),
        refusedBy: ["near-miss-case-swapped", "near-miss-case-swapped-of-previous"],
    },
    {
        bug: "trims the token before comparing",
        patch: replace("const given = Buffer.from(header.slice(7));", "const given = Buffer.from(header.slice(7).trim());"),
        refusedBy: ["near-miss-nbsp-padded", "near-miss-nbsp-padded-of-previous"],
    },
    {
        bug: "URL-decodes the token before comparing",
        patch: replace("const given = Buffer.from(header.slice(7));", "const given = Buffer.from(decodeURIComponent(header.slice(7)));"),
        refusedBy: ["near-miss-percent-encoded", "near-miss-percent-encoded-of-previous"],
    },
    {
        bug: "accepts the credential under any scheme",
        patch: replace(parse, 'const token = header.split(" ")[1];\n  if (!token) return "missing";\n  const given = Buffer.from(token);'),
        refusedBy: ["scheme-basic", "scheme-token", "scheme-lowercase-bearer"],
    },
    {
        bug: "still accepts a revoked credential (every credential the store lists, grace period or not)",
        // The build reads the local target's credential store (beside its port file) and accepts every entry.
        patch: (src) =>
            replace(either, 'return matches(credential) || matches(previous) || stored.some(matches) ? "ok" : "wrong";')(
                replace(
                    "function authorized(req) {",
                    "const stored = (() => { try { const file = new URL(\"../../credentials.json\", `file://${process.env.REPAVE_PORT_FILE}`); " +
                        "const s = JSON.parse(process.getBuiltinModule(\"node:fs\").readFileSync(file, \"utf8\")); " +
                        "return [s.current, s.previous].filter(Boolean).map((c) => Buffer.from(c.credential)); } catch { return []; } })();\n" +
                        "function authorized(req) {",
                )(src),
            ),
        refusedBy: ["revoked-credential"],
    },
    {
        bug: "authenticates only paths that start with /v1/, then routes the normalized path",
        patch: replace("const auth = authorized(req);", 'const auth = req.url.startsWith("/v1/") ? authorized(req) : "ok";'),
        refusedBy: ["path-dot-segment"],
    },
];

const swapCase = (c: string) => [...c].map((ch) => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase())).join("");
/** Near misses worked out here, independently of the probe code: none may appear anywhere in plain text. */
const nearMissesOf = (c: string) => [
    c.slice(0, -1),
    c.slice(1),
    c.slice(0, Math.ceil(c.length / 2)),
    swapCase(c),
    [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
    Buffer.from(c).toString("base64"),
];

/** A secret as `stack export --show-secrets` writes it: the signature key, and the value JSON-encoded in `plaintext`. */
function revealed(secret: unknown): string {
    const plaintext = (secret as { plaintext?: unknown } | undefined)?.plaintext;
    return typeof plaintext === "string" ? (JSON.parse(plaintext) as string) : "";
}

interface GateOutputs {
    results: Array<{ name: string; ok: boolean; skipped?: boolean }>;
}

describe("the gate refuses builds with broken bearer authentication", () => {
    let stack: LocalStack;
    let ca = "";
    let liveCredential = "";
    let live = "";
    let load: { stop: () => Promise<LoadReport> } | undefined;
    before(async () => {
        stack = await LocalStack.create("authbugs");
        stack.api = { ...stack.api, capacity: 1 }; // many candidates stay up until the next good deploy: keep them small
        stack.writeConfig();
    });
    after(async () => {
        await load?.stop();
        if (stack) await stack.cleanup();
    });

    const exportWithSecrets = async () => {
        const r = await stack.pulumi(["stack", "export", "--show-secrets", "--stack", stack.stack]);
        return JSON.parse(r.out) as { deployment: { resources: Array<{ type: string; delete?: boolean; outputs?: Record<string, unknown> }> } };
    };
    const gateResults = async () => {
        const gate = (await stack.exportState()).deployment.resources.find((r) => r.type.endsWith(":Gate"));
        return (gate?.outputs as unknown as GateOutputs | undefined)?.results ?? [];
    };

    it("a correct build passes every adversarial probe, near misses of the grace credential included", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        stack.addBuild("1.2.0");
        const second = await stack.up();
        assert.equal(second.code, 0, second.out);
        const results = await gateResults();
        assert.ok(results.length > 50, `the gate ran the adversarial cases: ${results.length} results`);
        assert.deepEqual(results.filter((r) => !r.ok), []);
        assert.ok(results.some((r) => r.name === "near-miss-truncated-by-1-of-previous" && r.ok && !r.skipped));
        live = (await stack.hello()).generation;
        liveCredential = await stack.credential();
        ca = await stack.caPem();
        load = startLoad(stack.port, () => liveCredential);
    });

    bugs.forEach(({ bug, patch, refusedBy }, i) => {
        it(`refuses a build that ${bug}`, async () => {
            const version = `1.3.${i}`;
            stack.addBuild(version, patch);
            const r = await stack.up();
            assert.notEqual(r.code, 0, `the gate promoted ${version}:\n${r.out}`);
            assert.match(r.out, /failed on the test listener; traffic stays where it is/);
            for (const name of refusedBy) assert.match(r.out, new RegExp(`negative ${name}: `), `${name} refused it`);
            console.log(`${version} (${bug}): refused by ${[...new Set(r.out.match(/(?<=negative )[a-z0-9-]+(?=: )/g) ?? [])].join(", ")}`);
            const served = await call(stack.port, ca, liveCredential);
            assert.deepEqual(served, { status: 200, generation: live }, "production stays on the live generation");

            const candidate = (await exportWithSecrets()).deployment.resources.find((x) => x.type.endsWith(":Generation") && !x.delete);
            const candidateCredential = revealed(candidate?.outputs?.["credential"]);
            assert.equal(candidateCredential.length, 43, "the candidate's credential, read back from the engine");
            const plain = [r.out, stack.stateText(), readFileSync(join(stack.stateDir, "frontdoor.log"), "utf8")].join("\n");
            for (const c of [candidateCredential, liveCredential]) {
                for (const value of [c, ...nearMissesOf(c)]) assert.ok(!plain.includes(value), `a credential or a near miss of one (${value.length} chars) is in plain text`);
            }
            stack.removeBuild(version);
        });
    });

    it("a good build after them converges, proves revocation, and no request failed", async () => {
        stack.addBuild("1.4.0");
        const r = await stack.up();
        assert.equal(r.code, 0, r.out);
        const results = await gateResults();
        assert.deepEqual(results.filter((x) => !x.ok), []);
        assert.ok(results.some((x) => x.name === "revoked-credential" && x.ok && !x.skipped), "the credential of two generations ago was probed and refused");
        assert.equal((await stack.hello()).imageVersion, "1.4.0");
        assert.ok(existsSync(join(stack.stateDir, "credentials.json")));
        const report = await load!.stop();
        load = undefined;
        console.log(`load: ${JSON.stringify(report)}`);
        assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        assert.ok(report.requests > 500, `too little load to mean anything: ${report.requests}`);
    });
});
