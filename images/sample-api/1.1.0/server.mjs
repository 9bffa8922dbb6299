// sample-api: a stateless API as the local target runs it. Each process serves plain HTTP on loopback behind the
// front door, reads its generation's credential from the environment, and drains on SIGTERM.
import { createServer } from "node:http";
import { writeFileSync, renameSync } from "node:fs";
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

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://api");
  if (url.pathname === "/healthz") return send(res, 200, { status: "ok", generation, version });
  const auth = authorized(req);
  if (auth === "missing") return send(res, 401, { error: "authentication required" });
  if (auth === "wrong") return send(res, 403, { error: "forbidden" });
  if (req.method === "GET" && url.pathname === "/v1/hello") {
    const delay = Math.min(Number(url.searchParams.get("delayMs") ?? 0), 5000);
    setTimeout(() => send(res, 200, { message: "hello", generation, version }), delay);
    return;
  }
  if (req.method === "POST" && url.pathname === "/v1/echo") {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      try {
        send(res, 200, { echo: JSON.parse(raw), generation });
      } catch {
        send(res, 400, { error: "body must be JSON" });
      }
    });
    return;
  }
  send(res, 404, { error: "not found" });
});
server.keepAliveTimeout = 65_000;

server.listen(0, "127.0.0.1", () => {
  // Atomic: the supervisor never reads a half-written port file.
  const file = process.env.REPAVE_PORT_FILE;
  writeFileSync(`${file}.tmp`, String(server.address().port));
  renameSync(`${file}.tmp`, file);
});

process.on("SIGTERM", () => {
  // Drain: stop accepting, let in-flight requests finish, then exit.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 30_000).unref();
});
