// The local front door's control process: the local stand-in for an ALB with two listeners (production and test).
// Traffic goes through an HAProxy it starts and drives (data-path.ts); this process holds what HAProxy does not:
// the admin API on a Unix socket with a rotating token, the routes (persisted, so a restart serves them again),
// and the per-generation view of HAProxy's counters that the drain and the I1 guard read.
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import * as tls from "node:tls";
import { timingSafeEqual } from "node:crypto";
import { HaproxyDataPath, type RouteName, type RouteSpec } from "./data-path.ts";
import { deadlinesFromEnv, serversPerSlot } from "./haproxy-config.ts";
import { findHaproxy } from "./runtime-api.ts";

export type { BackendCheck, RouteName, RouteSpec } from "./data-path.ts";

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

function env(name: string): string {
    const v = process.env[name];
    if (!v) {
        console.error(`front door: ${name} is required`);
        process.exit(2);
    }
    return v;
}

async function main(): Promise<void> {
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
    const startedAt = new Date().toISOString();
    const haproxy = findHaproxy();
    if ("missing" in haproxy) {
        console.error(`front door: ${haproxy.missing}`);
        process.exit(4);
    }
    const info = join(stateDir, "frontdoor.json");
    const writeInfo = (proxyPid: number) => {
        writeFileSync(`${info}.tmp`, JSON.stringify({ pid: process.pid, adminSocket, startedAt, proxyPid }), { mode: 0o600 });
        renameSync(`${info}.tmp`, info);
    };
    const dataPath = new HaproxyDataPath(haproxy.path, stateDir, ports, deadlinesFromEnv(process.env), (pid) => writeInfo(pid));

    const applyRoute = async (name: RouteName, spec: RouteSpec | null) => {
        // Throws on a bad certificate/key pair before anything changes.
        if (spec) tls.createSecureContext({ cert: spec.certPem, key: spec.keyPem });
        await dataPath.setRoute(name, spec);
        routes[name] = spec;
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

    const snapshot = async (): Promise<FrontDoorState> => {
        const view = (r: RouteSpec | null) =>
            r && { generation: r.generation, backends: r.backends, certSerial: r.certSerial, domains: r.domains };
        return { pid: process.pid, startedAt, routes: { production: view(routes.production), test: view(routes.test) }, ...(await dataPath.traffic()) };
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
        const fail = (err: Error) => send(500, { error: err.message });
        const body = (then: (raw: string) => void) => {
            let raw = "";
            req.setEncoding("utf8");
            req.on("data", (c: string) => (raw += c));
            req.on("end", () => then(raw));
        };
        const match = /^\/routes\/(production|test)$/.exec(req.url ?? "");
        if (req.method === "GET" && req.url === "/state") return void snapshot().then((s) => send(200, s), fail);
        if (req.method === "PUT" && req.url === "/admin-token") {
            if (!given.equals(tokens[0]!)) return send(403, { error: "only the current token rotates the token" });
            return body((raw) => {
                const next = (JSON.parse(raw || "{}") as { token?: string }).token ?? "";
                if (!/^[0-9a-f]{64}$/.test(next)) return send(400, { error: "a token is 64 hex characters" });
                // The caller's token becomes the previous one: the one before it stops working now.
                tokens = [Buffer.from(next), given];
                persistTokens();
                send(200, { rotated: true });
            });
        }
        if (match && req.method === "DELETE") {
            return void applyRoute(match[1] as RouteName, null).then(() => (persist(), snapshot())).then((s) => send(200, s), fail);
        }
        if (match && req.method === "PUT") {
            return body((raw) => {
                let spec: RouteSpec;
                try {
                    spec = JSON.parse(raw) as RouteSpec;
                    if (!spec.generation || !Array.isArray(spec.backends) || spec.backends.length === 0) {
                        return send(400, { error: "a route needs a generation and at least one backend" });
                    }
                    if (spec.backends.length > serversPerSlot) {
                        return send(400, { error: `the local front door routes at most ${serversPerSlot} backends per generation (got ${spec.backends.length})` });
                    }
                    tls.createSecureContext({ cert: spec.certPem, key: spec.keyPem });
                } catch (err) {
                    return send(400, { error: (err as Error).message });
                }
                applyRoute(match[1] as RouteName, spec).then(() => (persist(), snapshot())).then((s) => send(200, s), fail);
            });
        }
        send(404, { error: "not found" });
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

    let stopping = false;
    process.on("SIGTERM", () => {
        if (stopping) return;
        stopping = true;
        admin.close();
        admin.closeIdleConnections();
        // HAProxy lets in-flight requests finish (hard-stop-after bounds it), then this process ends.
        void dataPath.stop().finally(() => process.exit(0));
    });

    try {
        await dataPath.start();
        if (existsSync(routesFile)) {
            const saved = JSON.parse(readFileSync(routesFile, "utf8")) as Record<RouteName, RouteSpec | null>;
            for (const name of ["production", "test"] as const) if (saved[name]) await applyRoute(name, saved[name]);
        }
        await listenAdmin();
        writeInfo(dataPath.pid!);
    } catch (err) {
        console.error(`front door: cannot start: ${(err as Error).message}`);
        await dataPath.stop(1000).catch(() => undefined);
        process.exit(3);
    }
}

void main();
