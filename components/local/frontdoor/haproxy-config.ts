// The HAProxy configuration of the local front door: written once when HAProxy starts, never reloaded. Everything a
// changeover moves lives in maps, certificate files and dynamic servers that the runtime API changes in place
// (runtime-api.ts), so a route or certificate move never resets a client's keep-alive connection.
import { join } from "node:path";

/** Backends a generation's servers are put in; a route names one through the routes map. */
export const slotCount = 6;
export const slotName = (i: number) => `slot${i}`;
/**
 * Server slots per backend. Static (server-template), not `add server`: HAProxy 2.6 never reuses a connection to a
 * dynamic server, and a new upstream connection per request cost twice the CPU and most of the added latency.
 */
export const serversPerSlot = 32;

/** Deadlines, in ms; the REPAVE_FD_*_MS environment of whoever starts the front door tunes them (tests shorten them). */
export interface Deadlines {
    /** `timeout http-request`: the request's headers - and, with http-buffer-request, its body up to one buffer. */
    headers: number;
    /** `timeout client`: the longest a client may stay silent when it should talk (TLS handshake, body) or read. */
    client: number;
    /** `timeout server`: the longest a backend may stay silent once it has the request (then 504). */
    upstream: number;
}

export function deadlinesFromEnv(env: NodeJS.ProcessEnv): Deadlines {
    const ms = (name: string, fallback: number) => Number(env[`REPAVE_FD_${name}_MS`] ?? fallback);
    return { headers: ms("HEADERS_TIMEOUT", 15_000), client: ms("HANDSHAKE_TIMEOUT", 10_000), upstream: ms("UPSTREAM_TIMEOUT", 60_000) };
}

/** Files in the 0700 state folder that HAProxy reads (maps, certificates) and the runtime socket it listens on. */
export function files(stateDir: string) {
    return {
        config: join(stateDir, "haproxy.cfg"),
        socket: join(stateDir, "haproxy.sock"),
        pid: join(stateDir, "haproxy.pid"),
        // route name -> slot
        routes: join(stateDir, "routes.map"),
        // "<slot>/<host>" -> 1 for every domain of the slot's generation
        hosts: join(stateDir, "hosts.map"),
        // slot -> generation (the x-repave-generation header)
        generations: join(stateDir, "generations.map"),
        // slot -> health-check path
        checks: join(stateDir, "checks.map"),
        cert: (route: "production" | "test") => join(stateDir, `${route}.pem`),
    };
}

// TLS 1.2+ with AEAD ciphers only (GCM, ChaCha20-Poly1305), for ECDSA and RSA keys alike.
const ciphers = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"].join(":");
const suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

export function renderConfig(stateDir: string, ports: { production: number; test: number }, d: Deadlines, watchdog: string): string {
    const f = files(stateDir);
    const listener = (route: "production" | "test") => `
frontend ${route}
    bind 127.0.0.1:${ports[route]} ssl crt ${f.cert(route)} alpn http/1.1
    http-request set-var(txn.slot) str(${route}),map(${f.routes})
    http-request return status 503 content-type text/plain string "no generation is routed here" unless { var(txn.slot) -m found }
    # Origin-form targets only: absolute-form, authority-form (CONNECT) and "*" never reach a backend.
    http-request deny deny_status 400 unless { url_beg / }
    # One Host only (RFC 9112 3.2): a backend or a log might read another of several.
    http-request deny deny_status 400 if { req.hdr_cnt(host) gt 1 }
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
    http-request return status 421 content-type text/plain string "misdirected request" unless { var(txn.host) -m str 127.0.0.1 } || { var(txn.slot),concat(/,txn.host),map(${f.hosts}) -m found }
    http-request set-header x-forwarded-proto https
    http-response set-header x-repave-generation %[var(txn.slot),map(${f.generations})]
    use_backend %[var(txn.slot)]
`;
    const slot = (i: number) => `
backend ${slotName(i)}
    option httpchk
    http-check send meth GET uri-lf %[str(${slotName(i)}),map(${f.checks},/healthz)] ver HTTP/1.1 hdr host localhost
    http-check expect status 200
    # Static check timing (2.6 cannot change it at runtime, and a reload would reset clients): every 0.5 s, 0.5 s
    # to answer, two failures out, two passes back; a refused connection takes a server out at once.
    timeout check 500
    server-template p 1-${serversPerSlot} 127.0.0.1:1 disabled check inter 500 fastinter 200 downinter 500 rise 2 fall 2 observe layer4 error-limit 1 on-error mark-down
    server-template b 1-${serversPerSlot} 127.0.0.1:1 disabled backup
    # Never replay a request with a body, nor one whose method is not idempotent (a failed connect is retried:
    # nothing was sent).
    http-request disable-l7-retry if { req.hdr(content-length) -m found } || { req.hdr(transfer-encoding) -m found }
    http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS
`;
    return `# Written by the front door daemon (daemon.ts) at HAProxy's start; changed only through the runtime API.
global
    stats socket ${f.socket} mode 600 level admin
    pidfile ${f.pid}
    nbthread 1
    # Thousands of idle TLS clients, within a user's default limit of 20,000 files (two per connection).
    maxconn 8000
    # A stopping front door lets in-flight requests finish, for 10 s at most.
    hard-stop-after 10s
    log stderr format raw local0 info
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
    ssl-default-bind-ciphers ${ciphers}
    ssl-default-bind-ciphersuites ${suites}

defaults
    mode http
    log global
    option httplog
    # Only errors and 5xx are logged: a failed request is never silent, a served one costs nothing.
    option dontlog-normal
    option forwardfor
    # A client that goes away releases its request on the backend at once.
    option abortonclose
    # The body (up to a buffer) arrives within the headers deadline, before a backend is chosen.
    option http-buffer-request
    timeout connect 2s
    timeout client ${d.client}
    timeout http-request ${d.headers}
    timeout http-keep-alive 10s
    timeout server ${d.upstream}
    timeout queue 5s
    balance roundrobin
    # Retry once, on another backend (redispatch), only when nothing was sent or a fresh connection was reset
    # before any answer (a backend killed between accepting and answering); see disable-l7-retry in the slots.
    retries 1
    option redispatch 1
    retry-on conn-failure empty-response
    http-reuse safe
    # A backend that does not answer is out of rotation when its checks fail; when every one of a generation's
    # backends is down, its backup twins (the same addresses, unchecked) take the requests: failing open, a wrong
    # verdict never turns a slow API into no API.
    option allbackups
${listener("production")}${listener("test")}${Array.from({ length: slotCount }, (_, i) => slot(i)).join("")}
program watchdog
    command ${watchdog}
`;
}

