// The lock objects of a stack whose state is in an S3 (or S3-compatible) bucket, read and removed through the S3
// API, so `repave recover` can judge a killed run there as it does on a file backend: the DIY backend keeps one
// object per update under `.pulumi/locks/<org>/<project>/<stack>/` (pkg/backend/diy/lock.go).
//
// Two calls only (ListObjectsV2, GetObject; DeleteObject for a dead lock a cancel left), signed with AWS Signature
// Version 4 by node:crypto: the project depends on no AWS SDK, and these few lines are all recover needs. The
// credentials are the engine's own environment variables; with none there (a profile, an instance role), the locks
// are unreadable from here and recover asks for --force, as before. Credentials never appear in messages.
import { createHash, createHmac } from "node:crypto";

/** Where a `s3://bucket[/prefix]?endpoint=…&use_path_style=…&disable_https=…&region=…` backend keeps its objects. */
export interface S3Backend {
    bucket: string;
    /** Key prefix from the URL's path or `prefix=` ("" or ending in "/"). */
    prefix: string;
    region: string;
    /** Scheme and host (with port) of the service, e.g. `http://127.0.0.1:9000`. */
    origin: string;
    pathStyle: boolean;
}

export function parseS3Backend(url: string | undefined, env: NodeJS.ProcessEnv = process.env): S3Backend | undefined {
    if (!url?.startsWith("s3://")) return undefined;
    const u = new URL(url);
    const q = u.searchParams;
    const region = q.get("region") ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1";
    const endpoint = q.get("endpoint");
    const scheme = q.get("disable_https") === "true" ? "http://" : "https://";
    const origin = endpoint ? new URL(/^[a-z]+:\/\//.test(endpoint) ? endpoint : `${scheme}${endpoint}`).origin : `https://s3.${region}.amazonaws.com`;
    const prefix = [u.pathname, q.get("prefix") ?? ""].map((p) => p.replace(/^\/+|\/+$/g, "")).filter(Boolean).join("/");
    return { bucket: u.hostname, prefix: prefix ? `${prefix}/` : "", region, origin, pathStyle: q.get("use_path_style") === "true" || q.get("s3ForcePathStyle") === "true" };
}

interface Credentials {
    accessKey: string;
    secretKey: string;
    sessionToken?: string;
}

export function envCredentials(env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
    const accessKey = env["AWS_ACCESS_KEY_ID"];
    const secretKey = env["AWS_SECRET_ACCESS_KEY"];
    if (!accessKey || !secretKey) return undefined;
    return { accessKey, secretKey, ...(env["AWS_SESSION_TOKEN"] ? { sessionToken: env["AWS_SESSION_TOKEN"] } : {}) };
}

/** RFC 3986 encoding, as SigV4's canonical request wants it. */
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const hmac = (key: string | Buffer, s: string) => createHmac("sha256", key).update(s).digest();

/** One signed request (SigV4, unsigned-body-free: every call here has an empty body). */
async function s3Call(b: S3Backend, creds: Credentials, method: "GET" | "DELETE", key: string, query: Record<string, string> = {}): Promise<Response> {
    const base = new URL(b.pathStyle ? b.origin : b.origin.replace("://", `://${b.bucket}.`));
    const object = key.split("/").map(encode).join("/");
    const path = b.pathStyle ? `/${encode(b.bucket)}${key ? `/${object}` : ""}` : `/${object}`;
    const search = Object.keys(query).sort().map((k) => `${encode(k)}=${encode(query[k]!)}`).join("&");
    const now = new Date().toISOString().replace(/[-:]|\.\d{3}/g, ""); // 20261126T173100Z
    const day = now.slice(0, 8);
    const payload = sha256("");
    const headers: Record<string, string> = { host: base.host, "x-amz-content-sha256": payload, "x-amz-date": now, ...(creds.sessionToken ? { "x-amz-security-token": creds.sessionToken } : {}) };
    const names = Object.keys(headers).sort();
    const canonical = [method, path, search, ...names.map((n) => `${n}:${headers[n]}`), "", names.join(";"), payload].join("\n");
    const scope = `${day}/${b.region}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", now, scope, sha256(canonical)].join("\n");
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${creds.secretKey}`, day), b.region), "s3"), "aws4_request");
    const signature = createHmac("sha256", signingKey).update(toSign).digest("hex");
    const { host: _host, ...sent } = headers; // fetch sets Host from the URL: the same value as signed
    const response = await fetch(`${base.origin}${path}${search ? `?${search}` : ""}`, {
        method,
        headers: { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}` },
        signal: AbortSignal.timeout(15_000),
    });
    if (!response.ok) {
        // The service's error code only (e.g. AccessDenied, NoSuchBucket): never the request's headers.
        const code = /<Code>([^<]*)<\/Code>/.exec(await response.text())?.[1];
        throw new Error(`S3 ${method} ${b.bucket}/${key}: HTTP ${response.status}${code ? ` ${code}` : ""}`);
    }
    return response;
}

const unescapeXml = (s: string) => s.replace(/&(lt|gt|quot|apos|amp);/g, (_m, e: string) => ({ lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" })[e]!);

/** The lock objects under `dir` (a key prefix ending in "/"): key and parsed JSON content each. */
export async function s3Locks<T>(b: S3Backend, creds: Credentials, dir: string): Promise<Array<{ key: string; owner: T }>> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
        const xml = await (await s3Call(b, creds, "GET", "", { "list-type": "2", prefix: `${b.prefix}${dir}`, ...(token ? { "continuation-token": token } : {}) })).text();
        keys.push(...[...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => unescapeXml(m[1]!)));
        token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? "") || undefined : undefined;
    } while (token);
    const locks = keys.filter((k) => k.endsWith(".json"));
    return Promise.all(locks.map(async (key) => ({ key, owner: (await (await s3Call(b, creds, "GET", key)).json()) as T })));
}

export async function deleteS3Object(b: S3Backend, creds: Credentials, key: string): Promise<void> {
    await s3Call(b, creds, "DELETE", key);
}
