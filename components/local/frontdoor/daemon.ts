// The local front door: a TLS-terminating reverse proxy on two fixed loopback ports (production and test) with
// an admin API that moves a route - backends and certificate together - in one step. It is the local stand-in
// for an ALB with two listeners. Routes are chosen per request, so keep-alive clients follow a switch at once,
// and requests already in flight finish on the generation that took them.
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { join } from "node:path";
import * as tls from "node:tls";
import { timingSafeEqual } from "node:crypto";
import { connect, type AddressInfo } from "node:net";

export type RouteName = "production" | "test";

/** The active health check of a route's backends (the spec's healthCheck); without one, a TCP connect. */
export interface BackendCheck {
    path: string;
    intervalSeconds: number;
    timeoutSeconds: number;
    healthyThreshold: number;
}

export interface RouteSpec {
    generation: string;
    backends: string[];
    certPem: string;
    keyPem: string;
    certSerial: string;
    domains: string[];
    healthCheck?: BackendCheck;
}

export interface FrontDoorState {
    pid: number;
    startedAt: string;
    routes: Record<RouteName, { generation: string; backends: string[]; certSerial: string; domains: string[] } | null>;
    /** Requests being served right now, by generation: what a drain waits on. */
    inflight: Record<string, number>;
    served: Record<string, number>;
    failed: Record<string, number>;
    /** Each routed backend's active health: "down" backends get no requests until they pass again. */
    health: Record<string, "up" | "down">;
}

/** The connection was reset (or broke on write) before the backend answered anything. */
const resetBeforeAnswer = (err: NodeJS.ErrnoException) => err.code === "ECONNRESET" || err.code === "EPIPE";
const hopByHop = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

function env(name: string): string {
    const v = process.env[name];
    if (!v) {
        console.error(`front door: ${name} is required`);
        process.exit(2);
    }
    return v;
}

function main(): void {
    const stateDir = env("REPAVE_FD_STATE_DIR");
    // Admin tokens: the current one and, for one rotation, the one before it (resources deployed before a rotation
    // still hold the previous token in their state, e.g. an old generation retired at the end of that update).
    let tokens = [Buffer.from(env("REPAVE_FD_ADMIN_TOKEN"))];
    const adminSocket = join(stateDir, "admin.sock");
    const ports: Record<RouteName, number> = {
        production: Number(env("REPAVE_FD_PORT")),
        test: Number(env("REPAVE_FD_TEST_PORT")),
    };
    const routesFile = join(stateDir, "routes.json");
    const routes: Record<RouteName, RouteSpec | null> = { production: null, test: null };
    const inflight: Record<string, number> = {};
    const served: Record<string, number> = {};
    const failed: Record<string, number> = {};
    const startedAt = new Date().toISOString();
    const cursor: Record<RouteName, number> = { production: 0, test: 0 };
    // Pooled upstream connections are closed by the proxy after 30 s idle, before the backend's own keep-alive
    // timeout (65 s), so a request is never written to a connection the backend is closing.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 30_000 });
    const ms = (name: string, fallback: number) => Number(process.env[`REPAVE_FD_${name}_MS`] ?? fallback);
    const upstreamTimeoutMs = ms("UPSTREAM_TIMEOUT", 60_000);
    // Slow clients are bounded: TLS handshake, request headers and the whole request each have a deadline. Node
    // enforces the last two only when it sweeps its connections (every 30 s by default): a slow-header client held
    // its socket up to 45 s, so the sweep runs every second. A connection that never sends a request is held to
    // the headers deadline too (it counts from the connection's start).
    const listenerOptions: https.ServerOptions = {
        minVersion: "TLSv1.2",
        handshakeTimeout: ms("HANDSHAKE_TIMEOUT", 10_000),
        headersTimeout: ms("HEADERS_TIMEOUT", 15_000),
        requestTimeout: ms("REQUEST_TIMEOUT", 60_000),
        connectionsCheckingInterval: ms("CHECK_INTERVAL", 1_000),
    };
    const servers: Record<RouteName, https.Server> = {
        production: https.createServer(listenerOptions),
        test: https.createServer(listenerOptions),
    };

    // Active health checks: every routed backend is checked on its route's interval; two failures in a row take it
    // out of rotation, `healthyThreshold` passes bring it back. A route whose backends are all down keeps using all
    // of them (failing open: a wrong verdict must not turn a slow API into no API).
    const unhealthyThreshold = 2;
    const checks = new Map<string, { up: boolean; streak: number; timer: NodeJS.Timeout; check: BackendCheck | undefined }>();
    const probeAgent = new http.Agent({ keepAlive: false });
    const probe = (backend: string, check: BackendCheck | undefined): Promise<boolean> =>
        new Promise((resolve) => {
            const [host, port] = backend.split(":");
            const timeoutMs = (check?.timeoutSeconds ?? 2) * 1000;
            if (!check) {
                const socket = connect({ host, port: Number(port) });
                socket.setTimeout(timeoutMs, () => socket.destroy());
                socket.once("connect", () => (socket.destroy(), resolve(true)));
                socket.once("error", () => resolve(false));
                socket.once("close", () => resolve(false));
                return;
            }
            const req = http.get({ host, port: Number(port), path: check.path, agent: probeAgent, timeout: timeoutMs }, (res) => {
                res.resume();
                res.once("end", () => resolve(res.statusCode === 200));
                res.once("error", () => resolve(false));
            });
            req.once("timeout", () => req.destroy());
            req.once("error", () => resolve(false));
        });
    const watch = () => {
        const wanted = new Map<string, BackendCheck | undefined>();
        for (const r of [routes.production, routes.test]) for (const b of r?.backends ?? []) wanted.set(b, r!.healthCheck);
        for (const [b, c] of checks) {
            if (!wanted.has(b)) {
                clearTimeout(c.timer);
                checks.delete(b);
            }
        }
        for (const [b, check] of wanted) {
            const known = checks.get(b);
            if (known) {
                known.check = check;
                continue;
            }
            // A newly routed backend starts "up": the gate (or the deploy's own health wait) has just passed it.
            const entry = { up: true, streak: 0, timer: undefined as unknown as NodeJS.Timeout, check };
            const tick = async () => {
                const ok = await probe(b, entry.check);
                if (checks.get(b) !== entry) return;
                if (ok === entry.up) entry.streak = 0;
                else if (++entry.streak >= (entry.up ? unhealthyThreshold : entry.check?.healthyThreshold ?? 2)) {
                    entry.up = ok;
                    entry.streak = 0;
                    console.error(`front door: backend ${b} is ${ok ? "healthy again" : "failing health checks; out of rotation"}`);
                }
                // Unref'd: health checks never keep a stopping daemon alive.
                entry.timer = setTimeout(() => void tick(), (entry.check?.intervalSeconds ?? 1) * 1000).unref();
            };
            entry.timer = setTimeout(() => void tick(), (check?.intervalSeconds ?? 1) * 1000).unref();
            checks.set(b, entry);
        }
    };
    const markDown = (backend: string) => {
        const entry = checks.get(backend);
        if (entry?.up) {
            entry.up = false;
            entry.streak = 0;
            console.error(`front door: backend ${backend} refused a connection; out of rotation until it passes its health check`);
        }
    };
    const inRotation = (backends: string[]) => {
        const up = backends.filter((b) => checks.get(b)?.up !== false);
        return up.length > 0 ? up : backends;
    };

    const bump = (counter: Record<string, number>, gen: string, by: number) => {
        counter[gen] = (counter[gen] ?? 0) + by;
        if (counter === inflight && counter[gen] === 0) delete counter[gen];
    };

    const applyRoute = (name: RouteName, spec: RouteSpec | null) => {
        if (spec) {
            // Throws on a bad certificate/key pair before anything changes.
            tls.createSecureContext({ cert: spec.certPem, key: spec.keyPem });
            servers[name].setSecureContext({ cert: spec.certPem, key: spec.keyPem, minVersion: "TLSv1.2" });
        }
        routes[name] = spec;
        watch();
    };

    // Rotated tokens survive a restart of the daemon (repair adopts the state folder): 0600 in the 0700 folder.
    const tokensFile = join(stateDir, "admin-tokens.json");
    const persistTokens = () => {
        writeFileSync(`${tokensFile}.tmp`, JSON.stringify(tokens.map((t) => t.toString())), { mode: 0o600 });
        renameSync(`${tokensFile}.tmp`, tokensFile);
    };
    if (existsSync(tokensFile)) {
        const saved = (JSON.parse(readFileSync(tokensFile, "utf8")) as string[]).map((t) => Buffer.from(t));
        if (saved.some((t) => t.equals(tokens[0]!))) tokens = saved;
    }

    const persist = () => {
        writeFileSync(`${routesFile}.tmp`, JSON.stringify(routes), { mode: 0o600 });
        renameSync(`${routesFile}.tmp`, routesFile);
    };

    if (existsSync(routesFile)) {
        const saved = JSON.parse(readFileSync(routesFile, "utf8")) as Record<RouteName, RouteSpec | null>;
        applyRoute("production", saved.production);
        applyRoute("test", saved.test);
    }

    const proxy = (name: RouteName, req: http.IncomingMessage, res: http.ServerResponse) => {
        const route = routes[name];
        if (!route || route.backends.length === 0) {
            res.writeHead(503, { "content-type": "text/plain" }).end("no generation is routed here\n");
            return;
        }
        // Origin-form targets only ("/path?query"): absolute-form, authority-form (CONNECT) and "*" are not
        // requests for this API, and a backend must never be handed a target it could read as another authority.
        if (!(req.url ?? "").startsWith("/")) {
            res.writeHead(400, { "content-type": "text/plain", connection: "close" }).end("bad request target\n");
            return;
        }
        // One Host only (RFC 9112 3.2): Node keeps the first of several, a backend or a log might read another.
        let hosts = 0;
        for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === "host") hosts++;
        if (hosts > 1) {
            res.writeHead(400, { "content-type": "text/plain", connection: "close" }).end("more than one Host header\n");
            return;
        }
        const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
        if (!route.domains.includes(host) && host !== "127.0.0.1") {
            res.writeHead(421, { "content-type": "text/plain" }).end(`misdirected request: ${host || "(no host)"}\n`);
            return;
        }
        const gen = route.generation;
        bump(inflight, gen, 1);
        let finished = false;
        let current: http.ClientRequest | undefined;
        const finish = (ok: boolean) => {
            if (finished) return;
            finished = true;
            bump(inflight, gen, -1);
            bump(ok ? served : failed, gen, 1);
        };
        res.on("close", () => {
            finish(res.writableFinished && res.statusCode < 500);
            // A client that went away releases its upstream request at once (no socket held forever).
            if (!res.writableFinished) current?.destroy();
        });
        // A request with a body is streamed once and never replayed; one without a body may be retried on
        // another backend, but only when the connection failed before anything was sent, or was reset before any
        // answer (a pooled one; a fresh one for idempotent methods only), and such a replay happens once (below).
        const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
        const idempotent = req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS";
        const tried = new Set<string>();
        let replayed = false;
        const attempt = (triesLeft: number) => {
            // A retry goes to a backend this request has not tried yet (other requests move the cursor meanwhile).
            const rotation = inRotation(route.backends);
            const fresh = rotation.filter((b) => !tried.has(b));
            const pool = fresh.length > 0 ? fresh : route.backends.filter((b) => !tried.has(b));
            const backend = pool.length > 0 ? pool[cursor[name]++ % pool.length]! : rotation[cursor[name]++ % rotation.length]!;
            tried.add(backend);
            const [bhost, bport] = backend.split(":");
            const headers: http.OutgoingHttpHeaders = {};
            for (const [k, v] of Object.entries(req.headers)) if (!hopByHop.has(k)) headers[k] = v;
            headers["x-forwarded-proto"] = "https";
            headers["x-forwarded-for"] = req.socket.remoteAddress ?? "";
            let sent = false;
            const upstream = http.request(
                { host: bhost, port: Number(bport), method: req.method, path: req.url, headers, agent },
                (up) => {
                    const out: http.OutgoingHttpHeaders = { "x-repave-generation": gen };
                    for (const [k, v] of Object.entries(up.headers)) if (!hopByHop.has(k)) out[k] = v;
                    res.writeHead(up.statusCode ?? 502, out);
                    up.pipe(res);
                    // A backend that dies mid-response: the client gets an error now, not a hang, and the
                    // in-flight count is released (the drain waits on it).
                    up.on("close", () => {
                        if (!up.complete) res.destroy();
                    });
                },
            );
            current = upstream;
            upstream.on("socket", (socket) => {
                if (!socket.connecting) sent = true; // a pooled keep-alive connection: the request goes out on it
                else socket.once("connect", () => (sent = true));
            });
            upstream.setTimeout(upstreamTimeoutMs, () => upstream.destroy(Object.assign(new Error("upstream timed out"), { code: "ETIMEDOUT" })));
            upstream.on("error", (err: NodeJS.ErrnoException) => {
                // Refused: nothing listens there now (it died; its supervisor restarts it). Out of rotation at once,
                // back once the active checks pass - instead of every request finding it out again.
                if (err.code === "ECONNREFUSED") markDown(backend);
                if (res.headersSent) {
                    res.destroy(err);
                } else if ((!sent || (resetBeforeAnswer(err) && (upstream.reusedSocket || idempotent) && !replayed && route.backends.some((b) => !tried.has(b)))) && !hasBody && triesLeft > 1 && !res.destroyed) {
                    // Also retried, once: a reset before any answer of a pooled keep-alive connection - the backend
                    // closed it or died (the race Node documents for `reusedSocket`) - or, for an idempotent method,
                    // of a fresh one: a backend killed between accepting and answering (HAProxy's `retry-on
                    // empty-response` for the same reason). Only on another backend (none left: the client gets
                    // the error now, not after a restart), for a request without a body only.
                    // Once: a request that itself kills backends takes down two at most, and their supervisors
                    // restart them.
                    if (sent) replayed = true;
                    attempt(triesLeft - 1);
                } else if (!res.destroyed) {
                    const status = err.code === "ETIMEDOUT" ? 504 : 502;
                    // Every answer of the front door's own making is logged: a failed request is never silent.
                    console.error(`front door: ${status} for ${req.method} on ${gen} via ${backend} (${err.code ?? err.message}; ${sent ? "sent" : "not sent"}, ${upstream.reusedSocket ? "reused" : "fresh"} connection)`);
                    res.writeHead(status, { "content-type": "text/plain" }).end(`${status === 504 ? "gateway timeout" : "bad gateway"} (${err.code ?? err.message})\n`);
                }
            });
            // Every method's body is forwarded as it came: a Content-Length always travels with its body.
            if (hasBody) req.pipe(upstream);
            else upstream.end();
        };
        attempt(Math.min(3, route.backends.length));
    };

    const snapshot = (): FrontDoorState => {
        const view = (r: RouteSpec | null) =>
            r && { generation: r.generation, backends: r.backends, certSerial: r.certSerial, domains: r.domains };
        return {
            pid: process.pid,
            startedAt,
            routes: { production: view(routes.production), test: view(routes.test) },
            inflight: { ...inflight },
            served: { ...served },
            failed: { ...failed },
            health: Object.fromEntries([...checks].map(([b, c]) => [b, c.up ? "up" : "down"])),
        };
    };

    // The admin API listens on a Unix socket inside the 0700 state folder, never on a TCP port: after a crash no
    // other process can take over the address and receive the token, and only this user can reach it at all.
    const admin = http.createServer((req, res) => {
        const given = Buffer.from((req.headers.authorization ?? "").replace(/^Bearer /, ""));
        if (!tokens.some((t) => given.length === t.length && timingSafeEqual(given, t))) {
            res.writeHead(401).end();
            return;
        }
        const send = (status: number, body: unknown) => {
            res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        };
        const match = /^\/routes\/(production|test)$/.exec(req.url ?? "");
        if (req.method === "GET" && req.url === "/state") return send(200, snapshot());
        if (req.method === "PUT" && req.url === "/admin-token") {
            if (!given.equals(tokens[0]!)) return send(403, { error: "only the current token rotates the token" });
            let raw = "";
            req.setEncoding("utf8");
            req.on("data", (c: string) => (raw += c));
            req.on("end", () => {
                const next = (JSON.parse(raw || "{}") as { token?: string }).token ?? "";
                if (!/^[0-9a-f]{64}$/.test(next)) return send(400, { error: "a token is 64 hex characters" });
                // The caller's token becomes the previous one: the one before it stops working now.
                tokens = [Buffer.from(next), given];
                persistTokens();
                send(200, { rotated: true });
            });
            return;
        }
        if (match && req.method === "DELETE") {
            applyRoute(match[1] as RouteName, null);
            persist();
            return send(200, snapshot());
        }
        if (match && req.method === "PUT") {
            let raw = "";
            req.setEncoding("utf8");
            req.on("data", (c: string) => (raw += c));
            req.on("end", () => {
                try {
                    const spec = JSON.parse(raw) as RouteSpec;
                    if (!spec.generation || !Array.isArray(spec.backends) || spec.backends.length === 0) {
                        return send(400, { error: "a route needs a generation and at least one backend" });
                    }
                    applyRoute(match[1] as RouteName, spec);
                    persist();
                    send(200, snapshot());
                } catch (err) {
                    send(400, { error: (err as Error).message });
                }
            });
            return;
        }
        send(404, { error: "not found" });
    });

    const listen = (server: http.Server | https.Server, port: number) =>
        new Promise<number>((resolve, reject) => {
            server.once("error", reject);
            server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
        });
    const listenAdmin = () =>
        new Promise<void>((resolve, reject) => {
            rmSync(adminSocket, { force: true }); // a socket file left by a dead daemon
            admin.once("error", reject);
            admin.listen(adminSocket, () => {
                chmodSync(adminSocket, 0o600);
                resolve();
            });
        });

    (["production", "test"] as const).forEach((name) => {
        servers[name].on("request", (q, s) => proxy(name, q, s));
        // No tunnels and no protocol switches through an API's front door: refuse them in plain words.
        const refuse = (_req: http.IncomingMessage, socket: import("node:stream").Duplex) =>
            socket.end("HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        servers[name].on("connect", refuse);
        servers[name].on("upgrade", refuse);
    });
    Promise.all([listen(servers.production, ports.production), listen(servers.test, ports.test), listenAdmin()])
        .then(() => {
            const info = join(stateDir, "frontdoor.json");
            writeFileSync(`${info}.tmp`, JSON.stringify({ pid: process.pid, adminSocket, startedAt }), { mode: 0o600 });
            renameSync(`${info}.tmp`, info);
        })
        .catch((err: Error) => {
            console.error(`front door: cannot listen: ${err.message}`);
            process.exit(3);
        });

    process.on("SIGTERM", () => {
        for (const s of [servers.production, servers.test, admin]) {
            s.close();
            s.closeIdleConnections();
        }
        setTimeout(() => process.exit(0), 10_000).unref();
    });
}

main();
