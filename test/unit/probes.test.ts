// The probe runner against real TLS servers on loopback: each probe must pass on a correct API and fail on the
// defect it exists to catch.
import assert from "node:assert/strict";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { before, describe, it } from "node:test";
import { runProbeSuite, summarize } from "../../components/probes.ts";
import { createCertificateAuthority, issueServerCertificate, type IssuedCertificate } from "../../components/local/pki.ts";
import { parseApiSpecs } from "../../components/spec.ts";

const TOKEN = "correct-horse";
const suite = parseApiSpecs([{ name: "probe", image: { source: "local-builds", path: "." } }])[0]!.probes;

interface Flaws {
    anonymousAllowed?: boolean;
    anyHost?: boolean;
    legacyTls?: boolean;
}

function api(cert: IssuedCertificate, flaws: Flaws): Promise<{ port: number; close: () => void }> {
    const server = https.createServer(
        {
            cert: cert.certPem,
            key: cert.keyPem,
            ...(flaws.legacyTls ? { minVersion: "TLSv1" as const, ciphers: "DEFAULT@SECLEVEL=0" } : { minVersion: "TLSv1.2" as const }),
        },
        (req, res) => {
            const send = (status: number, body: object) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
            if (!flaws.anyHost && req.headers.host !== "localhost") return send(421, { error: "misdirected" });
            const auth = req.headers.authorization;
            if (!flaws.anonymousAllowed && !auth) return send(401, {});
            if (auth && auth !== `Bearer ${TOKEN}`) return send(403, {});
            if (req.url === "/v1/hello") return send(200, { message: "hello" });
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
        server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })),
    );
}

describe("synthetic transactions", () => {
    let ca: IssuedCertificate;
    let cert: IssuedCertificate;
    before(async () => {
        ca = await createCertificateAuthority("probe test CA", 30);
        cert = await issueServerCertificate(ca, ["localhost"], 1);
    });

    const run = async (flaws: Flaws, credential = TOKEN) => {
        const server = await api(cert, flaws);
        try {
            return await runProbeSuite({ host: "127.0.0.1", port: server.port, serverName: "localhost", caPem: ca.certPem }, suite, credential);
        } finally {
            server.close();
        }
    };
    const failed = (report: Awaited<ReturnType<typeof run>>) => report.results.filter((r) => !r.ok).map((r) => r.name).sort();

    it("all pass on a correct API", async () => {
        const report = await run({});
        assert.ok(report.passed, summarize(report));
        assert.ok(report.results.some((r) => r.kind === "negative" && r.name === "tls-legacy-version"));
    });

    it("an API that serves anonymous callers fails the unauthenticated probe", async () => {
        assert.deepEqual(failed(await run({ anonymousAllowed: true })), ["hello-unauthenticated"]);
    });

    it("an API that answers any Host fails the wrong-host probe", async () => {
        assert.deepEqual(failed(await run({ anyHost: true })), ["tls-wrong-host"]);
    });

    it("a listener that accepts TLS 1.0/1.1 fails the legacy-version probe", async () => {
        assert.deepEqual(failed(await run({ legacyTls: true })), ["tls-legacy-version"]);
    });

    it("a caller with the wrong credential fails every positive probe", async () => {
        const report = await run({}, "stale-credential");
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
