// sample-api: a stateless API. The local target runs it as processes serving plain HTTP on a free loopback port
// behind its front door (the defaults: port 0 on 127.0.0.1, the port written to REPAVE_PORT_FILE). In a pod it
// listens on REPAVE_PORT (on REPAVE_HOST, default 0.0.0.0 when a port is given) and serves HTTPS itself when
// REPAVE_TLS_CERT_FILE and REPAVE_TLS_KEY_FILE are set. It reads its generation's credential from the environment
// and drains on SIGTERM.
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";

// This generation's credential, and the previous generation's during the overlap: callers that have not yet
// fetched the new one keep working through a changeover (rotation with a grace period, not a cliff).
const credential = Buffer.from(process.env.REPAVE_CREDENTIAL ?? "");
const previous = Buffer.from(process.env.REPAVE_PREVIOUS_CREDENTIAL ?? "");
const generation = process.env.REPAVE_GENERATION ?? "unknown";
const version = process.env.REPAVE_IMAGE_VERSION ?? "unknown";
if (credential.length === 0) {
  console.error("REPAVE_CREDENTIAL is required");
  process.exit(2);
}

function authorized(req) {
  const header = req.headers.authorization ?? "";
  if (!header.startsWith("Bearer ")) return "missing";
  const given = Buffer.from(header.slice(7));
  const matches = (key) => key.length > 0 && given.length === key.length && timingSafeEqual(given, key);
  return matches(credential) || matches(previous) ? "ok" : "wrong";
}

const maxBody = 64 * 1024;

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

// Only origin-form targets ("/path?query", RFC 9112 section 3.2.1) are requests for this API. The target is
// appended to a fixed origin, never resolved against it: "//host:port" or "http://..." must not be parsed as
// another authority (that threw, and one such request killed the process).
function parseTarget(target) {
  if (typeof target !== "string" || !target.startsWith("/")) return null;
  try {
    return new URL(`http://api.invalid${target}`);
  } catch {
    return null;
  }
}

// The app contract: the health path answers without a Host check and without a credential - load balancers and
// kubelets probe it by address and cannot all send the API's name. Every other path refuses a Host it does not
// serve (421) when the target says which names it serves (REPAVE_DOMAINS; the local front door checks Host itself).
const healthPath = process.env.HEALTH_PATH || "/healthz";
const domains = (process.env.REPAVE_DOMAINS ?? "").split(",").filter(Boolean);

function servesHost(header) {
  const host = (header ?? "").toLowerCase().replace(/^\[([^\]]*)\](:\d+)?$/, "$1").replace(/:\d+$/, "");
  return domains.some((d) => (d.startsWith("*.") ? host.endsWith(d.slice(1)) && !host.slice(0, 1 - d.length).includes(".") : host === d));
}

function handle(req, res) {
  const url = parseTarget(req.url);
  if (url === null) return send(res, 400, { error: "bad request target" });
  if (url.pathname === healthPath) return send(res, 200, { status: "ok", generation, version });
  if (domains.length > 0 && !servesHost(req.headers.host)) return send(res, 421, { error: "misdirected request" });
  const auth = authorized(req);
  if (auth === "missing") return send(res, 401, { error: "authentication required" });
  if (auth === "wrong") return send(res, 403, { error: "forbidden" });
  if (req.method === "GET" && url.pathname === "/v1/hello") {
    const delay = Math.min(Math.max(Number(url.searchParams.get("delayMs") ?? 0) || 0, 0), 5000);
    setTimeout(() => send(res, 200, { message: "hello", generation, version }), delay);
    return;
  }
  if (req.method === "POST" && url.pathname === "/v1/echo") {
    // Bodies are bounded: a caller cannot make the process hold more than maxBody bytes.
    let raw = "";
    let tooLarge = false;
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      if (tooLarge) return;
      raw += chunk;
      if (raw.length > maxBody) {
        tooLarge = true;
        send(res, 413, { error: `body larger than ${maxBody} bytes` });
      }
    });
    req.on("end", () => {
      if (tooLarge) return;
      try {
        send(res, 200, { echo: JSON.parse(raw), generation });
      } catch {
        send(res, 400, { error: "body must be JSON" });
      }
    });
    return;
  }
  send(res, 404, { error: "not found" });
}

const listenPort = Number(process.env.REPAVE_PORT || 0);
const listenHost = process.env.REPAVE_HOST || (listenPort > 0 ? "0.0.0.0" : "127.0.0.1");
const certFile = process.env.REPAVE_TLS_CERT_FILE;
const keyFile = process.env.REPAVE_TLS_KEY_FILE;
// After SIGTERM every response says `Connection: close`: a keep-alive client is told to reconnect (to a pod still
// serving) on its next answer instead of having an idle socket closed under a request it is sending.
let draining = false;
const onRequest = (req, res) => {
  if (draining) res.setHeader("connection", "close");
  // A request never kills the process: an unexpected error answers 500 and is logged, and the server goes on.
  try {
    handle(req, res);
  } catch (err) {
    console.error(`request ${req.method} failed: ${err?.stack ?? err}`);
    if (!res.headersSent) send(res, 500, { error: "internal error" });
    else res.destroy();
  }
};
const server =
  certFile && keyFile
    ? createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: "TLSv1.2" }, onRequest)
    : createHttpServer(onRequest);
server.keepAliveTimeout = 65_000;

server.listen(listenPort, listenHost, () => {
  // Atomic: the supervisor never reads a half-written port file.
  const file = process.env.REPAVE_PORT_FILE;
  if (!file) return;
  writeFileSync(`${file}.tmp`, String(server.address().port));
  renameSync(`${file}.tmp`, file);
});

// How long a draining process keeps idle keep-alive connections open, so busy clients get their `Connection: close`
// first: none on loopback behind the local front door (the default), a few seconds behind a Service (REPAVE_PORT).
const idleCloseMs = Number(process.env.REPAVE_IDLE_CLOSE_MS ?? (listenPort > 0 ? 5000 : 0));

process.on("SIGTERM", () => {
  // Drain: stop accepting, let in-flight requests finish, then exit.
  draining = true;
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  if (idleCloseMs > 0) {
    // server.close() closes idle connections at once: call it only after busy clients had their answers. A pod
    // out of its Service's endpoints gets no new connections meanwhile.
    setTimeout(stop, idleCloseMs).unref();
    setTimeout(() => process.exit(0), idleCloseMs + 30_000).unref();
  } else {
    stop();
    setTimeout(() => process.exit(0), 30_000).unref();
  }
});
