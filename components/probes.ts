// Synthetic transactions: one runner for the gate (test route, before traffic moves), the bake window and the
// continuous monitor (production route, after). Positive probes prove the API works for a rightful caller;
// negative probes prove it refuses everyone else, down to the TLS handshake. No Pulumi here: this code also runs
// inside provider processes, CronJobs and canaries.
import { randomBytes } from "node:crypto";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { statusMatches, type Probe } from "./spec.ts";

export interface Endpoint {
    host: string;
    port: number;
    /** The name the client asks for (SNI and Host): the certificate must cover it. */
    serverName: string;
    /** PEM bundle the client trusts (the local CA; the public roots when undefined). */
    caPem?: string | undefined;
}

export interface ProbeResult {
    name: string;
    kind: "positive" | "negative";
    ok: boolean;
    status?: number;
    detail: string;
    ms: number;
}

export interface ProbeReport {
    passed: boolean;
    results: ProbeResult[];
}

export interface ProbeSuite {
    positive: readonly Probe[];
    negative: readonly Probe[];
}

interface HttpAnswer {
    status: number;
    body: string;
}

const requestTimeoutMs = 5_000;

function request(endpoint: Endpoint, probe: Probe, credential: string, hostHeader?: string): Promise<HttpAnswer> {
    const headers: Record<string, string> = { host: hostHeader ?? endpoint.serverName, connection: "close" };
    if (probe.auth === "valid") headers["authorization"] = `Bearer ${credential}`;
    if (probe.auth === "invalid") headers["authorization"] = `Bearer invalid-${randomBytes(12).toString("hex")}`;
    if (probe.body !== undefined) {
        headers["content-type"] = probe.contentType;
        headers["content-length"] = String(Buffer.byteLength(probe.body));
    }
    return new Promise((resolve, reject) => {
        const req = https.request(
            {
                host: endpoint.host,
                port: endpoint.port,
                servername: net.isIP(endpoint.serverName) ? undefined : endpoint.serverName,
                ca: endpoint.caPem,
                method: probe.method,
                path: probe.path,
                headers,
                agent: false,
                timeout: requestTimeoutMs,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c.length + body.length > 65_536 ? "" : c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
        req.on("error", reject);
        req.end(probe.body);
    });
}

function expectText(expect: Probe["expectStatus"]): string {
    return Array.isArray(expect) ? expect.join("|") : String(expect);
}

async function runHttpProbe(
    endpoint: Endpoint,
    probe: Probe,
    kind: "positive" | "negative",
    credential: string,
): Promise<ProbeResult> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    try {
        const answer = await request(endpoint, probe, credential);
        const statusOk = statusMatches(answer.status, probe.expectStatus);
        const bodyOk = probe.expectBodyContains === undefined || answer.body.includes(probe.expectBodyContains);
        const ok = statusOk && bodyOk;
        const detail = ok
            ? `${probe.method} ${probe.path} -> ${answer.status}`
            : !statusOk
              ? `${probe.method} ${probe.path} (auth: ${probe.auth}) answered ${answer.status}, expected ${expectText(probe.expectStatus)}`
              : `${probe.method} ${probe.path} answered ${answer.status} without "${probe.expectBodyContains}" in its body`;
        return { name: probe.name, kind, ok, status: answer.status, detail, ms: ms() };
    } catch (err) {
        return { name: probe.name, kind, ok: false, detail: `${probe.method} ${probe.path} failed: ${(err as Error).message}`, ms: ms() };
    }
}

/** A wrong Host must be refused (421/4xx), never served: the front door answers only for its certificate's names. */
async function wrongHostProbe(endpoint: Endpoint, credential: string): Promise<ProbeResult> {
    const started = performance.now();
    const probe: Probe = {
        name: "tls-wrong-host",
        method: "GET",
        path: "/v1/hello",
        auth: "valid",
        contentType: "application/json",
        expectStatus: "4xx",
    };
    try {
        const answer = await request(endpoint, probe, credential, "wrong-host.invalid");
        const ok = answer.status >= 400 && answer.status < 500;
        return {
            name: probe.name,
            kind: "negative",
            ok,
            status: answer.status,
            detail: ok ? `Host wrong-host.invalid -> ${answer.status}` : `Host wrong-host.invalid was served (${answer.status})`,
            ms: Math.round(performance.now() - started),
        };
    } catch (err) {
        return { name: probe.name, kind: "negative", ok: true, detail: `refused: ${(err as Error).message}`, ms: Math.round(performance.now() - started) };
    }
}

/** Legacy TLS (1.0/1.1) must fail the handshake. The client deliberately allows it, so only the server can say no. */
function legacyTlsProbe(endpoint: Endpoint): Promise<ProbeResult> {
    const started = performance.now();
    return new Promise((resolve) => {
        const done = (ok: boolean, detail: string) => {
            socket.destroy();
            resolve({ name: "tls-legacy-version", kind: "negative", ok, detail, ms: Math.round(performance.now() - started) });
        };
        const socket = tls.connect({
            host: endpoint.host,
            port: endpoint.port,
            servername: net.isIP(endpoint.serverName) ? undefined : endpoint.serverName,
            minVersion: "TLSv1",
            maxVersion: "TLSv1.1",
            ciphers: "DEFAULT@SECLEVEL=0",
            rejectUnauthorized: false,
        });
        socket.setTimeout(requestTimeoutMs, () => done(true, "no handshake with TLS <= 1.1 (timed out)"));
        socket.once("secureConnect", () => done(false, `server accepted ${socket.getProtocol()}`));
        socket.once("error", (err: Error) => done(true, `refused TLS <= 1.1: ${err.message.split("\n")[0]}`));
    });
}

/**
 * Runs every probe of the suite against one endpoint. Negative probes include the built-in TLS refusals
 * (legacy protocol, wrong host) whatever the spec lists.
 */
export async function runProbeSuite(endpoint: Endpoint, suite: ProbeSuite, credential: string): Promise<ProbeReport> {
    const results = await Promise.all([
        ...suite.positive.map((p) => runHttpProbe(endpoint, p, "positive", credential)),
        ...suite.negative.map((p) => runHttpProbe(endpoint, p, "negative", credential)),
        wrongHostProbe(endpoint, credential),
        legacyTlsProbe(endpoint),
    ]);
    return { passed: results.every((r) => r.ok), results };
}

/** Positive probes only: what the bake window and the continuous monitor repeat against production. */
export async function runPositive(endpoint: Endpoint, suite: ProbeSuite, credential: string): Promise<ProbeReport> {
    const results = await Promise.all(suite.positive.map((p) => runHttpProbe(endpoint, p, "positive", credential)));
    return { passed: results.every((r) => r.ok), results };
}

export function summarize(report: ProbeReport): string {
    const failed = report.results.filter((r) => !r.ok);
    if (failed.length === 0) return `${report.results.length} probes passed`;
    return `${failed.length} of ${report.results.length} probes failed: ${failed.map((r) => `${r.kind} ${r.name}: ${r.detail}`).join("; ")}`;
}
