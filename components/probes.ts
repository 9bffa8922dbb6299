// Synthetic transactions: one runner for the gate (test route, before traffic moves), the bake window and the
// continuous monitor (production route, after). Positive probes prove the API works for a rightful caller;
// negative probes prove it refuses everyone else, down to the TLS handshake, including the adversarial requests
// built here at run time from the real credentials. No Pulumi here: this code also runs inside provider
// processes, CronJobs and canaries, which ship this file with only `statusMatches` from spec.ts: keep it so.
import { randomBytes } from "node:crypto";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { statusMatches, type AdversarialCase, type Probe } from "./spec.ts";

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
    /** Says what was sent and what came back; never a credential or a part of one. */
    detail: string;
    ms: number;
    /** An adversarial case the spec skips by name, or one that does not apply: reported, not run. */
    skipped?: true;
}

export interface ProbeReport {
    passed: boolean;
    results: ProbeResult[];
}

export interface ProbeSuite {
    positive: readonly Probe[];
    negative: readonly Probe[];
    /** Adversarial cases the spec skips by name (`probes.adversarial.skip`); every other case runs. */
    adversarial?: { skip: readonly AdversarialCase[] } | undefined;
}

/**
 * Credentials besides the candidate's own that the target knows. Used in memory to build requests, never
 * reported: results name the case, not the value.
 */
export interface KnownCredentials {
    /** The grace credential the candidate also accepts (the live generation's): its near misses must fail too. */
    previous?: string | null | undefined;
    /** Credentials past their grace period (two generations old): each must be refused. */
    revoked?: readonly string[] | undefined;
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

/**
 * A wrong Host must be answered 421 Misdirected Request (RFC 9110 15.5.20), never served. Only that answer counts:
 * a reset or a timeout says nothing about the Host check (the listener may simply be down).
 */
async function wrongHostProbe(endpoint: Endpoint, credential: string): Promise<ProbeResult> {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    const probe: Probe = {
        name: "tls-wrong-host",
        method: "GET",
        path: "/v1/hello",
        auth: "valid",
        contentType: "application/json",
        expectStatus: 421,
    };
    try {
        const answer = await request(endpoint, probe, credential, "wrong-host.invalid");
        const ok = answer.status === 421;
        const detail = ok ? `Host wrong-host.invalid -> 421` : `Host wrong-host.invalid answered ${answer.status}, expected 421`;
        return { name: probe.name, kind: "negative", ok, status: answer.status, detail, ms: ms() };
    } catch (err) {
        return { name: probe.name, kind: "negative", ok: false, detail: `Host wrong-host.invalid got no answer (expected 421): ${(err as Error).message}`, ms: ms() };
    }
}

/**
 * Errors that mean the server refused the legacy handshake: an alert it sent (protocol_version, handshake_failure,
 * ...), or a ServerHello for a version the client did not offer. Not a reset, a refused connection, a timeout, a
 * plain-text answer, or the client failing on its own (no protocols available).
 */
const legacyRefusal = /^ERR_SSL_((TLSV1|SSLV3)_ALERT_[A-Z_]+|UNSUPPORTED_PROTOCOL)$/;

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
        socket.setTimeout(requestTimeoutMs, () => done(false, `no TLS answer within ${requestTimeoutMs} ms (expected a handshake refusal)`));
        socket.once("secureConnect", () => done(false, `server accepted ${socket.getProtocol()}`));
        socket.once("error", (err: NodeJS.ErrnoException) => {
            const code = err.code ?? "";
            done(legacyRefusal.test(code), `${legacyRefusal.test(code) ? "refused" : "no handshake refusal for"} TLS <= 1.1: ${code} ${err.message.split("\n")[0]}`);
        });
    });
}

// ---------------------------------------------------------------------------------------------- adversarial

/** The refusals each kind of adversarial request may get. A 2xx, 3xx, 5xx or a broken connection never counts. */
const AUTH = [401, 403];
/** Malformed by HTTP's own rules (NUL, folded lines, a duplicated singleton field): 400 from the parser, or the auth refusal. */
const PARSE = [400, 401, 403];
const PATH = [400, 401, 403, 404];
const SIZE = [400, 401, 403, 413, 431];
const METHOD = [401, 403, 404, 405];

type Header = readonly [string, string];
interface Attack {
    name: string;
    /** What was sent, in words: the only description a result carries. */
    what: string;
    expect: readonly number[];
    headers: readonly Header[];
    method?: string;
    path?: string;
}

/** A different character of the same class (a -> b, Z -> A, 9 -> 0), so a flip is never just a case change. */
function flip(ch: string): string {
    const code = ch.charCodeAt(0);
    for (const [lo, hi] of [[97, 122], [65, 90], [48, 57]] as const) {
        if (code >= lo && code <= hi) return String.fromCharCode(code === hi ? lo : code + 1);
    }
    return ch === "A" ? "B" : "A";
}
const flipAt = (c: string, i: number) => c.slice(0, i) + flip(c.charAt(i)) + c.slice(i + 1);
const swapCase = (c: string) => [...c].map((ch) => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase())).join("");
const bearer = (value: string): Header[] => [["Authorization", `Bearer ${value}`]];

type NearMissCase = Extract<AdversarialCase, `near-miss-${string}`>;

/**
 * Near misses of a credential: what a broken comparison (prefix, startsWith, includes, case-insensitive, trim,
 * decode-before-compare, C-string) or a lenient parser lets through. Built at run time from the real credential:
 * each value is a partial secret, so it exists only in this process and on the wire.
 */
const nearMisses: Record<NearMissCase, { what: string; expect: readonly number[]; value: (c: string) => string }> = {
    "near-miss-prefix-half": { what: "its first half", expect: AUTH, value: (c) => c.slice(0, Math.ceil(c.length / 2)) },
    "near-miss-first-char": { what: "its first character only", expect: AUTH, value: (c) => c.slice(0, 1) },
    "near-miss-truncated-by-1": { what: "truncated by 1", expect: AUTH, value: (c) => c.slice(0, -1) },
    "near-miss-extended-by-1": { what: "extended by 1 character", expect: AUTH, value: (c) => `${c}A` },
    "near-miss-doubled": { what: "repeated twice", expect: AUTH, value: (c) => c + c },
    "near-miss-flipped-first": { what: "first character changed", expect: AUTH, value: (c) => flipAt(c, 0) },
    "near-miss-flipped-middle": { what: "middle character changed", expect: AUTH, value: (c) => flipAt(c, Math.floor(c.length / 2)) },
    "near-miss-flipped-last": { what: "last character changed", expect: AUTH, value: (c) => flipAt(c, c.length - 1) },
    "near-miss-case-swapped": { what: "with every letter's case swapped", expect: AUTH, value: swapCase },
    // NBSP survives HTTP's whitespace stripping (it is not OWS) but String.prototype.trim() removes it.
    "near-miss-nbsp-padded": { what: "padded with non-breaking spaces", expect: AUTH, value: (c) => `\u00a0${c}\u00a0` },
    // An obsolete line fold: RFC 9112 says reject (400) or unfold to a space; a parser that drops the fold sees the credential.
    "near-miss-obs-fold": { what: "followed by a folded continuation line", expect: PARSE, value: (c) => `${c}\r\n\tx` },
    "near-miss-null-terminated": { what: "followed by a NUL byte and more", expect: PARSE, value: (c) => `${c}\u0000x` },
    "near-miss-percent-encoded": {
        what: "percent-encoded byte by byte",
        expect: AUTH,
        value: (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
    },
    "near-miss-base64": { what: "base64-encoded", expect: AUTH, value: (c) => Buffer.from(c).toString("base64") },
    "near-miss-quoted": { what: "in double quotes", expect: AUTH, value: (c) => `"${c}"` },
};

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** The rightful request the attacks are variations of: the first positive probe a credential holder makes. */
function attackTarget(suite: ProbeSuite): Probe | undefined {
    return suite.positive.find((p) => p.auth === "valid");
}

/** Every adversarial request for this run, without the skipped ones (reported apart). */
function buildAttacks(credential: string, known: KnownCredentials, target: Probe): Attack[] {
    const accepted = [credential, known.previous].filter((c): c is string => typeof c === "string" && c.length > 0);
    const attacks: Attack[] = [];
    const whose = [
        { credential, suffix: "", owner: "the credential" },
        ...(known.previous ? [{ credential: known.previous, suffix: "-of-previous", owner: "the previous generation's credential (in its grace period)" }] : []),
    ];
    for (const { credential: c, suffix, owner } of whose) {
        for (const [id, m] of Object.entries(nearMisses)) {
            const value = m.value(c);
            // A transform that yields a credential the candidate rightly accepts is no near miss (e.g. no letters to swap).
            if (accepted.includes(value) || value.length === 0) continue;
            attacks.push({ name: `${id}${suffix}`, what: `near miss: ${owner} ${m.what}`, expect: m.expect, headers: bearer(value) });
        }
    }
    const wrong = nearMisses["near-miss-flipped-last"].value(credential);
    const [path, query] = [target.path.split("?")[0] ?? target.path, target.path.includes("?") ? target.path.slice(target.path.indexOf("?")) : ""];
    const jwt = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "admin", scope: "*", exp: 4102444800 })}.`;
    const fixed: Record<Exclude<AdversarialCase, NearMissCase | "revoked-credential">, Omit<Attack, "name">> = {
        "scheme-basic": { what: "the credential under the Basic scheme", expect: AUTH, headers: [["Authorization", `Basic ${credential}`]] },
        "scheme-basic-password": {
            what: "Basic auth with the credential as password",
            expect: AUTH,
            headers: [["Authorization", `Basic ${Buffer.from(`repave-probe:${credential}`).toString("base64")}`]],
        },
        "scheme-token": { what: "the credential under the Token scheme", expect: AUTH, headers: [["Authorization", `Token ${credential}`]] },
        "scheme-lowercase-bearer": { what: "the credential under a lower-case bearer scheme", expect: AUTH, headers: [["Authorization", `bearer ${credential}`]] },
        "scheme-missing": { what: "the credential with no scheme", expect: AUTH, headers: [["Authorization", credential]] },
        "scheme-glued": { what: "the credential glued to Bearer without a space", expect: AUTH, headers: [["Authorization", `Bearer${credential}`]] },
        "scheme-empty-bearer": { what: "Bearer with an empty credential", expect: AUTH, headers: [["Authorization", "Bearer "]] },
        "scheme-null-byte": { what: "Bearer followed by a NUL byte", expect: PARSE, headers: [["Authorization", "Bearer \u0000"]] },
        "scheme-api-key-header": { what: "the credential in X-Api-Key, no Authorization", expect: AUTH, headers: [["X-Api-Key", credential]] },
        "header-duplicated": {
            what: "two Authorization fields, a near miss first and the credential second",
            expect: PARSE,
            headers: [...bearer(wrong), ...bearer(credential)],
        },
        "header-comma-list": { what: "a near miss and the credential in one comma-separated field", expect: PARSE, headers: [["Authorization", `Bearer ${wrong}, Bearer ${credential}`]] },
        "jwt-alg-none": { what: "an unsigned JWT (alg none) claiming admin", expect: AUTH, headers: bearer(jwt) },
        "oversized-credential": { what: "the credential followed by 8 KiB", expect: SIZE, headers: bearer(`${credential}${"A".repeat(8192)}`) },
        "path-dot-segment": { what: "no credential, path with a ./ segment", expect: PATH, headers: [], path: `/.${path}${query}` },
        "path-double-slash": { what: "no credential, path with a doubled slash", expect: PATH, headers: [], path: `/${path}${query}` },
        "path-trailing-slash": { what: "no credential, path with a trailing slash", expect: PATH, headers: [], path: `${path.replace(/\/$/, "")}/${query}` },
        "method-head-unauthenticated": { what: "HEAD with no credential", expect: METHOD, headers: [], method: "HEAD" },
    };
    for (const [name, attack] of Object.entries(fixed)) attacks.push({ name, ...attack });
    (known.revoked ?? []).forEach((r, i) => {
        if (accepted.includes(r) || r.length === 0) return;
        attacks.push({ name: i === 0 ? "revoked-credential" : `revoked-credential-${i + 1}`, what: "a revoked credential (past its grace period)", expect: AUTH, headers: bearer(r) });
    });
    return attacks;
}

/** Sends one request byte for byte (Node's client refuses NUL, folds and duplicates) and reads its status line. */
function rawStatus(endpoint: Endpoint, target: Probe, attack: Attack): Promise<number> {
    const method = attack.method ?? target.method;
    const body = method === "HEAD" || target.body === undefined ? undefined : Buffer.from(target.body);
    const lines = [`${method} ${attack.path ?? target.path} HTTP/1.1`, `Host: ${endpoint.serverName}`, "Connection: close", ...attack.headers.map(([k, v]) => `${k}: ${v}`)];
    if (body) lines.push(`Content-Type: ${target.contentType}`, `Content-Length: ${body.length}`);
    const bytes = Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body ?? Buffer.alloc(0)]);
    return new Promise((resolve, reject) => {
        const socket = tls.connect({
            host: endpoint.host,
            port: endpoint.port,
            servername: net.isIP(endpoint.serverName) ? undefined : endpoint.serverName,
            ca: endpoint.caPem,
            ALPNProtocols: ["http/1.1"],
        });
        let head = "";
        socket.setTimeout(requestTimeoutMs, () => socket.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
        socket.once("secureConnect", () => socket.write(bytes));
        socket.on("data", (chunk: Buffer) => {
            head += chunk.toString("latin1");
            const end = head.indexOf("\r\n");
            if (end < 0 && head.length < 4096) return;
            const status = /^HTTP\/1\.[01] (\d{3})\b/.exec(head.slice(0, end < 0 ? 64 : end));
            socket.destroy();
            if (status) resolve(Number(status[1]));
            else reject(new Error("the answer is not HTTP/1.1"));
        });
        socket.once("error", reject);
        socket.once("close", () => reject(new Error("connection closed without an answer")));
    });
}

async function runAttack(endpoint: Endpoint, target: Probe, attack: Attack): Promise<ProbeResult> {
    const started = performance.now();
    const base = { name: attack.name, kind: "negative" as const };
    const expected = attack.expect.join("|");
    try {
        const status = await rawStatus(endpoint, target, attack);
        const ok = attack.expect.includes(status);
        const detail = ok ? `${attack.what} -> ${status}` : `${attack.what} answered ${status}, expected ${expected}`;
        return { ...base, ok, status, detail, ms: Math.round(performance.now() - started) };
    } catch (err) {
        return { ...base, ok: false, detail: `${attack.what} got no answer (expected ${expected}): ${(err as Error).message}`, ms: Math.round(performance.now() - started) };
    }
}

/** At most this many adversarial requests in flight: a gate must not look like a flood to the candidate. */
const attackConcurrency = 6;

async function runAdversarial(endpoint: Endpoint, suite: ProbeSuite, credential: string, known: KnownCredentials): Promise<ProbeResult[]> {
    const target = attackTarget(suite);
    if (!target) {
        return [{ name: "adversarial", kind: "negative", ok: false, detail: "no positive probe uses auth: valid, so there is no request to attack", ms: 0 }];
    }
    const skip = new Set<string>(suite.adversarial?.skip ?? []);
    // A case's variants (of the previous credential, a second revoked one) are skipped with the case.
    const caseOf = (name: string) => name.replace(/-of-previous$/, "").replace(/^(revoked-credential)-\d+$/, "$1");
    const attacks = buildAttacks(credential, known, target);
    const results: ProbeResult[] = attacks.map((a) => ({ name: a.name, kind: "negative", ok: true, skipped: true, detail: `skipped (probes.adversarial.skip): ${a.what}`, ms: 0 }));
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < attacks.length; i = next++) {
            if (!skip.has(caseOf(attacks[i]!.name))) results[i] = await runAttack(endpoint, target, attacks[i]!);
        }
    };
    await Promise.all(Array.from({ length: attackConcurrency }, worker));
    if (!known.revoked?.length) {
        results.push({ name: "revoked-credential", kind: "negative", ok: true, skipped: true, detail: "not probed: this target passed no revoked credential", ms: 0 });
    }
    return results;
}

/**
 * Runs every probe of the suite against one endpoint. Negative probes include the built-in TLS refusals
 * (legacy protocol, wrong host) and the adversarial requests, whatever the spec lists.
 */
export async function runProbeSuite(endpoint: Endpoint, suite: ProbeSuite, credential: string, known: KnownCredentials = {}): Promise<ProbeReport> {
    const results = await Promise.all([
        ...suite.positive.map((p) => runHttpProbe(endpoint, p, "positive", credential)),
        ...suite.negative.map((p) => runHttpProbe(endpoint, p, "negative", credential)),
        wrongHostProbe(endpoint, credential),
        legacyTlsProbe(endpoint),
        runAdversarial(endpoint, suite, credential, known),
    ]);
    const flat = results.flat();
    return { passed: flat.every((r) => r.ok), results: flat };
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
