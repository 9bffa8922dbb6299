// The probe runner against real TLS servers on loopback: each probe must pass on a correct API and fail on the
// defect it exists to catch. The auth bugs below are the ones real APIs ship: each must be refused by the gate.
import assert from "node:assert/strict";
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { before, describe, it } from "node:test";
import { runProbeSuite, summarize, type KnownCredentials, type ProbeReport } from "../../components/probes.ts";
import { createCertificateAuthority, issueServerCertificate, type IssuedCertificate } from "../../components/local/pki.ts";
import { parseApiSpecs, type StatelessApiSpecInput } from "../../components/spec.ts";

const TOKEN = "pX7kQ2mZ9vR4tL8wN3bH6cJ1dF5gY0sA-u_eKq2Wv9Z";
const PREVIOUS = "Lm4Nq8Rs2Tv6Wx0Yz3Ab7Cd1Ef5Gh9Ij-k_LmNoPqRs";
const REVOKED = "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-d_CbAzYxWv";
const suiteOf = (probes: StatelessApiSpecInput["probes"] = {}) => parseApiSpecs([{ name: "probe", image: { source: "local-builds", path: "." }, probes }])[0]!.probes;
const suite = suiteOf();
const known: KnownCredentials = { previous: PREVIOUS, revoked: [REVOKED] };

type Verdict = "ok" | "missing" | "wrong";
type Authorize = (req: IncomingMessage, accepted: readonly string[]) => Verdict;

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
/** What sample-api does: exactly "Bearer " and a constant-time comparison with an accepted credential. */
const bearerWith = (matches: (given: string, key: string) => boolean): Authorize => (req, accepted) => {
    const header = req.headers.authorization ?? "";
    if (!header.startsWith("Bearer ")) return "missing";
    const given = header.slice(7);
    return accepted.some((key) => matches(given, key)) ? "ok" : "wrong";
};
const correct = bearerWith(same);

interface Flaws {
    authorize?: Authorize;
    /** Credentials the API accepts besides TOKEN and PREVIOUS (a revocation bug). */
    alsoAccepts?: string[];
    /** Only paths under /v1/ are authenticated, but routing normalizes the path afterwards. */
    authByPathPrefix?: boolean;
    /** HEAD is routed like GET but never authenticated. */
    headUnguarded?: boolean;
    anyHost?: boolean;
    wrongHost?: "404" | "reset";
    legacyTls?: boolean;
}

interface Api {
    port: number;
    /** Every Authorization and X-Api-Key value the API received: what a leak check looks for in the report. */
    received: string[];
    close: () => void;
}

function api(cert: IssuedCertificate, flaws: Flaws): Promise<Api> {
    const received: string[] = [];
    const accepted = [TOKEN, PREVIOUS, ...(flaws.alsoAccepts ?? [])];
    const server = https.createServer(
        {
            cert: cert.certPem,
            key: cert.keyPem,
            ...(flaws.legacyTls ? { minVersion: "TLSv1" as const, ciphers: "DEFAULT@SECLEVEL=0" } : { minVersion: "TLSv1.2" as const }),
        },
        (req, res) => {
            const send = (status: number, body: object) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
            for (let i = 0; i < req.rawHeaders.length; i += 2) {
                if (/^(authorization|x-api-key)$/i.test(req.rawHeaders[i]!)) received.push(req.rawHeaders[i + 1]!);
            }
            if (!flaws.anyHost && req.headers.host !== "localhost") {
                if (flaws.wrongHost === "reset") return req.socket.destroy();
                return send(flaws.wrongHost === "404" ? 404 : 421, { error: "misdirected" });
            }
            const path = new URL(`http://api.invalid${req.url ?? "/"}`).pathname.replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
            const exempt = (flaws.authByPathPrefix && !(req.url ?? "").startsWith("/v1/")) || (flaws.headUnguarded && req.method === "HEAD");
            if (!exempt) {
                const verdict = (flaws.authorize ?? correct)(req, accepted);
                if (verdict === "missing") return send(401, {});
                if (verdict === "wrong") return send(403, {});
            }
            if (path === "/v1/hello") return send(200, { message: "hello" });
            if (path !== "/v1/echo") return send(404, {});
            let raw = "";
            req.on("data", (c: Buffer) => (raw += c.toString())).on("end", () => {
                try {
                    send(200, { echo: JSON.parse(raw) as unknown });
                } catch {
                    send(400, {});
                }
            });
        },
    );
    return new Promise((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, received, close: () => server.close() })),
    );
}

/** A listener that takes the connection and drops it: a refusal that says nothing about TLS or Host checks. */
function resetter(): Promise<{ port: number; close: () => void }> {
    const server = net.createServer((s) => s.destroy());
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })));
}

// Realistic ways to compare a bearer token wrongly. Each is refused by the gate below.
const bugs: Record<string, { flaws: Flaws; refusedBy: string[] }> = {
    "compares only the common prefix (timingSafeEqual over the shorter length)": {
        flaws: {
            authorize: bearerWith((given, key) => {
                const [g, k] = [Buffer.from(given), Buffer.from(key)];
                const n = Math.min(g.length, k.length);
                return n > 0 && timingSafeEqual(g.subarray(0, n), k.subarray(0, n));
            }),
        },
        refusedBy: [
            "near-miss-doubled", "near-miss-doubled-of-previous", "near-miss-extended-by-1", "near-miss-extended-by-1-of-previous",
            "near-miss-first-char", "near-miss-first-char-of-previous", "near-miss-prefix-half", "near-miss-prefix-half-of-previous",
            "near-miss-truncated-by-1", "near-miss-truncated-by-1-of-previous", "oversized-credential",
        ],
    },
    "accepts a token that starts with the credential": {
        flaws: { authorize: bearerWith((given, key) => given.startsWith(key)) },
        refusedBy: ["near-miss-doubled", "near-miss-doubled-of-previous", "near-miss-extended-by-1", "near-miss-extended-by-1-of-previous", "oversized-credential"],
    },
    "accepts a prefix of the credential (key.startsWith(given))": {
        flaws: { authorize: bearerWith((given, key) => given.length > 0 && key.startsWith(given)) },
        refusedBy: [
            "near-miss-first-char", "near-miss-first-char-of-previous", "near-miss-prefix-half", "near-miss-prefix-half-of-previous",
            "near-miss-truncated-by-1", "near-miss-truncated-by-1-of-previous",
        ],
    },
    "compares case-insensitively": {
        flaws: { authorize: bearerWith((given, key) => given.toLowerCase() === key.toLowerCase()) },
        refusedBy: ["near-miss-case-swapped", "near-miss-case-swapped-of-previous"],
    },
    "trims the token before comparing": {
        flaws: { authorize: bearerWith((given, key) => same(given.trim(), key)) },
        refusedBy: ["near-miss-nbsp-padded", "near-miss-nbsp-padded-of-previous"],
    },
    "URL-decodes the token before comparing": {
        flaws: { authorize: bearerWith((given, key) => same(decodeURIComponent(given), key)) },
        refusedBy: ["near-miss-percent-encoded", "near-miss-percent-encoded-of-previous"],
    },
    "accepts any scheme (takes the second word)": {
        flaws: {
            authorize: (req, accepted) => {
                const token = (req.headers.authorization ?? "").split(" ")[1];
                if (!token) return "missing";
                return accepted.some((k) => same(token, k)) ? "ok" : "wrong";
            },
        },
        refusedBy: ["scheme-basic", "scheme-lowercase-bearer", "scheme-token"],
    },
    "accepts the credential in X-Api-Key too": {
        flaws: {
            authorize: (req, accepted) => {
                const key = req.headers["x-api-key"];
                return typeof key === "string" && accepted.some((k) => same(key, k)) ? "ok" : correct(req, accepted);
            },
        },
        refusedBy: ["scheme-api-key-header"],
    },
    "looks for the credential anywhere in the header": {
        flaws: { authorize: (req, accepted) => (accepted.some((k) => (req.headers.authorization ?? "").includes(k)) ? "ok" : correct(req, accepted)) },
        refusedBy: [
            "header-comma-list", "near-miss-doubled", "near-miss-doubled-of-previous", "near-miss-extended-by-1", "near-miss-extended-by-1-of-previous",
            "near-miss-nbsp-padded", "near-miss-nbsp-padded-of-previous", "near-miss-quoted", "near-miss-quoted-of-previous",
            "oversized-credential", "scheme-basic", "scheme-glued", "scheme-lowercase-bearer", "scheme-missing", "scheme-token",
        ],
    },
    "lets the last of two Authorization fields win": {
        flaws: {
            authorize: (req, accepted) => {
                const all = req.rawHeaders.filter((_, i) => i % 2 === 1 && /^authorization$/i.test(req.rawHeaders[i - 1]!));
                const last = all.at(-1) ?? "";
                return last.startsWith("Bearer ") && accepted.some((k) => same(last.slice(7), k)) ? "ok" : correct(req, accepted);
            },
        },
        refusedBy: ["header-duplicated"],
    },
    "accepts any unsigned JWT": {
        flaws: { authorize: (req, accepted) => (/^Bearer eyJ[^.]+\.[^.]+\.$/.test(req.headers.authorization ?? "") ? "ok" : correct(req, accepted)) },
        refusedBy: ["jwt-alg-none"],
    },
    "still accepts a revoked credential": { flaws: { alsoAccepts: [REVOKED] }, refusedBy: ["revoked-credential"] },
    "authenticates only paths that start with /v1/, then normalizes": { flaws: { authByPathPrefix: true }, refusedBy: ["path-dot-segment", "path-double-slash"] },
    "does not authenticate HEAD": { flaws: { headUnguarded: true }, refusedBy: ["method-head-unauthenticated"] },
    "compares the previous credential by prefix only": {
        flaws: {
            authorize: (req, accepted) => {
                const given = (req.headers.authorization ?? "").replace(/^Bearer /, "");
                return given.length > 0 && PREVIOUS.startsWith(given) ? "ok" : correct(req, accepted);
            },
        },
        refusedBy: ["near-miss-first-char-of-previous", "near-miss-prefix-half-of-previous", "near-miss-truncated-by-1-of-previous"],
    },
};

describe("synthetic transactions", () => {
    let ca: IssuedCertificate;
    let cert: IssuedCertificate;
    before(async () => {
        ca = await createCertificateAuthority("probe test CA", 30);
        cert = await issueServerCertificate(ca, ["localhost"], 1);
    });

    const endpoint = (port: number) => ({ host: "127.0.0.1", port, serverName: "localhost", caPem: ca.certPem });
    const run = async (flaws: Flaws, credential = TOKEN, credentials: KnownCredentials = known, probes = suite) => {
        const server = await api(cert, flaws);
        try {
            return { report: await runProbeSuite(endpoint(server.port), probes, credential, credentials), received: server.received };
        } finally {
            server.close();
        }
    };
    const failed = (report: ProbeReport) => report.results.filter((r) => !r.ok).map((r) => r.name).sort();

    it("all pass on a correct API, adversarial probes included; no result carries a credential or a part of one", async () => {
        const { report, received } = await run({});
        assert.ok(report.passed, summarize(report));
        const names = report.results.map((r) => r.name);
        for (const name of ["tls-legacy-version", "near-miss-truncated-by-1", "near-miss-flipped-middle-of-previous", "scheme-basic", "revoked-credential", "header-duplicated"]) {
            assert.ok(names.includes(name), `${name} ran`);
        }
        assert.ok(report.results.filter((r) => r.kind === "negative").length > 50, "the adversarial cases run for both accepted credentials");
        const text = JSON.stringify(report) + summarize(report);
        const partials = [TOKEN, PREVIOUS, REVOKED, ...received].flatMap((v) => [v, v.replace(/^\w+ /, "").trim()]).filter((v) => v.length >= 8);
        assert.ok(received.length > 40, "the API saw the adversarial values");
        for (const value of partials) assert.ok(!text.includes(value), `a probe result carries a value sent to the API (${value.length} chars)`);
    });

    for (const [bug, { flaws, refusedBy }] of Object.entries(bugs)) {
        it(`refuses an API that ${bug}`, async () => {
            const { report } = await run(flaws);
            assert.equal(report.passed, false, `the gate let it through: ${summarize(report)}`);
            assert.deepEqual(failed(report), [...refusedBy].sort());
        });
    }

    it("an API that serves anonymous callers fails every unauthenticated probe", async () => {
        const { report } = await run({ authorize: (req, accepted) => (req.headers.authorization ? correct(req, accepted) : "ok") });
        assert.deepEqual(failed(report), ["hello-unauthenticated", "method-head-unauthenticated", "path-dot-segment", "path-double-slash", "path-trailing-slash", "scheme-api-key-header"]);
    });

    it("a case the spec skips by name is reported as skipped, not run: an API accepting `bearer` (RFC 9110 allows it) passes", async () => {
        const scheme = /^bearer (.*)$/is;
        const flaws: Flaws = {
            authorize: (req, accepted) => {
                const given = scheme.exec(req.headers.authorization ?? "")?.[1];
                return given === undefined ? "missing" : accepted.some((k) => same(given, k)) ? "ok" : "wrong";
            },
        };
        assert.deepEqual(failed((await run(flaws)).report), ["scheme-lowercase-bearer"]);
        const { report } = await run(flaws, TOKEN, known, suiteOf({ adversarial: { skip: ["scheme-lowercase-bearer"] } }));
        assert.ok(report.passed, summarize(report));
        assert.deepEqual(report.results.filter((r) => r.skipped).map((r) => r.name), ["scheme-lowercase-bearer"]);
    });

    it("without a revoked credential the revocation case says it was not probed", async () => {
        const { report } = await run({}, TOKEN, {});
        assert.ok(report.passed, summarize(report));
        const revoked = report.results.filter((r) => r.name.startsWith("revoked-credential"));
        assert.deepEqual(revoked.map((r) => [r.skipped, r.detail]), [[true, "not probed: this target passed no revoked credential"]]);
        assert.ok(!report.results.some((r) => r.name.endsWith("-of-previous")), "no grace credential, no near misses of it");
    });

    it("an API that answers any Host fails the wrong-host probe", async () => {
        assert.deepEqual(failed((await run({ anyHost: true })).report), ["tls-wrong-host"]);
    });

    it("the wrong-host probe passes only on 421: a 404 or a dropped connection is no proof", async () => {
        assert.deepEqual(failed((await run({ wrongHost: "404" })).report), ["tls-wrong-host"]);
        const { report } = await run({ wrongHost: "reset" });
        assert.deepEqual(failed(report), ["tls-wrong-host"]);
        assert.match(summarize(report), /tls-wrong-host: Host wrong-host\.invalid got no answer \(expected 421\)/);
    });

    it("a listener that accepts TLS 1.0/1.1 fails the legacy-version probe", async () => {
        assert.deepEqual(failed((await run({ legacyTls: true })).report), ["tls-legacy-version"]);
    });

    it("the legacy-version probe passes only on a TLS refusal: a reset or a closed port is no proof", async () => {
        const dropper = await resetter();
        try {
            const report = await runProbeSuite(endpoint(dropper.port), suite, TOKEN);
            const legacy = report.results.find((r) => r.name === "tls-legacy-version");
            assert.equal(legacy?.ok, false, legacy?.detail);
            assert.ok(report.results.every((r) => !r.ok || r.skipped), "nothing passes against a listener that drops every connection");
        } finally {
            dropper.close();
        }
        const closed = await runProbeSuite(endpoint(dropper.port), suite, TOKEN);
        assert.equal(closed.results.find((r) => r.name === "tls-legacy-version")?.ok, false);
    });

    it("a caller with the wrong credential fails every positive probe", async () => {
        const { report } = await run({}, "stale-credential-0123456789", {});
        assert.deepEqual(failed(report), ["echo-authenticated", "hello-authenticated"]);
        assert.match(summarize(report), /answered 403, expected 200/);
    });

    it("a certificate the client does not trust fails the positive probes", async () => {
        const other = await createCertificateAuthority("someone else", 30);
        const server = await api(cert, {});
        try {
            const report = await runProbeSuite({ host: "127.0.0.1", port: server.port, serverName: "localhost", caPem: other.certPem }, suite, TOKEN);
            assert.ok(!report.passed);
            assert.ok(report.results.filter((r) => r.kind === "positive").every((r) => !r.ok));
        } finally {
            server.close();
        }
    });
});
