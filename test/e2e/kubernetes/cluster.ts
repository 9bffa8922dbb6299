// The Kubernetes target's real-engine tests: a stack of the same harness as the local target's (test/e2e/harness.ts),
// deployed with the real pulumi-kubernetes provider onto a real cluster (KUBECONFIG, e.g. the embedded one that
// scripts/kubernetes/cluster.sh starts) and a real registry with authentication. Without a cluster the suites are
// reported as skipped, never as passed.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { LocalStack, repoRoot } from "../harness.ts";

/** What `cluster.sh env` exports (or the same variables for another cluster and registry). */
export interface ClusterEnv {
    kubeconfig: string;
    registry: string;
    registryUser: string;
    registryPassword: string;
    registryCa: string;
    /** `<registry>/repave/<name>:<tag> sha256:<digest>` per line. */
    images: Map<string, string>;
}

/** Why the Kubernetes suites cannot run here, or null when they can. */
export function skipReason(): string | null {
    if (process.env["REPAVE_K8S_SKIP"]) return process.env["REPAVE_K8S_SKIP"];
    const missing = ["KUBECONFIG", "REPAVE_REGISTRY", "REPAVE_REGISTRY_USER", "REPAVE_REGISTRY_PASSWORD_FILE", "REPAVE_REGISTRY_CA", "REPAVE_CLUSTER_IMAGES"].filter(
        (k) => !process.env[k],
    );
    return missing.length > 0 ? `no cluster: ${missing.join(", ")} not set (run npm run test:kubernetes, or eval "$(bash scripts/kubernetes/cluster.sh env)")` : null;
}

/**
 * A suite of the Kubernetes tests: without a cluster, one test of that name reported as SKIPPED with the reason
 * (a skipped describe() would count as neither passed nor skipped in the summary).
 */
export function suite(name: string, fn: () => void): void {
    const reason = skipReason();
    if (reason) it(name, { skip: reason }, () => undefined);
    else describe(name, fn);
}

export function clusterEnv(): ClusterEnv {
    const e = (k: string) => process.env[k]!;
    const images = new Map<string, string>();
    for (const line of readFileSync(e("REPAVE_CLUSTER_IMAGES"), "utf8").split("\n")) {
        const [ref, digest] = line.trim().split(/\s+/);
        if (ref && digest) images.set(ref, digest);
    }
    return {
        kubeconfig: e("KUBECONFIG"),
        registry: e("REPAVE_REGISTRY"),
        registryUser: e("REPAVE_REGISTRY_USER"),
        registryPassword: readFileSync(e("REPAVE_REGISTRY_PASSWORD_FILE"), "utf8").trim(),
        registryCa: e("REPAVE_REGISTRY_CA"),
        images,
    };
}

/** REPAVE_KUBECTL (the embedded cluster's own kubectl: test:kubernetes sets it), else the one on PATH. */
function kubectlBinary(): string {
    const named = process.env["REPAVE_KUBECTL"];
    return named && existsSync(named) ? named : "kubectl";
}
let kubectlPath: string | undefined;

export function kubectl(args: string[], input?: string): { code: number; out: string } {
    kubectlPath ??= kubectlBinary();
    const r = spawnSync(kubectlPath, args, { encoding: "utf8", input, env: process.env, timeout: 60_000 });
    return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

export function kubectlJson<T>(args: string[]): T {
    const r = kubectl([...args, "-o", "json"]);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.out}`);
    return JSON.parse(r.out) as T;
}

/** The registry's HTTP API (OCI distribution), with the cluster's user: tags, manifests and one-layer image edits. */
export class Registry {
    private readonly env: ClusterEnv;
    constructor(env: ClusterEnv) {
        this.env = env;
    }

    private url(path: string): string {
        return `https://${this.env.registry}/v2/${path}`;
    }

    private headers(extra: Record<string, string> = {}): Record<string, string> {
        return { authorization: `Basic ${Buffer.from(`${this.env.registryUser}:${this.env.registryPassword}`).toString("base64")}`, ...extra };
    }

    async manifest(name: string, reference: string): Promise<{ digest: string; body: string }> {
        const r = await fetch(this.url(`${name}/manifests/${reference}`), { headers: this.headers({ accept: "application/vnd.oci.image.manifest.v1+json" }) });
        if (!r.ok) throw new Error(`GET manifest ${name}:${reference}: HTTP ${r.status}`);
        return { digest: r.headers.get("docker-content-digest")!, body: await r.text() };
    }

    /** Points `tag` at the manifest `body` (a tag move: the next deploy resolves a new digest). */
    async putManifest(name: string, tag: string, body: string): Promise<string> {
        const r = await fetch(this.url(`${name}/manifests/${tag}`), { method: "PUT", headers: this.headers({ "content-type": "application/vnd.oci.image.manifest.v1+json" }), body });
        if (!r.ok) throw new Error(`PUT manifest ${name}:${tag}: HTTP ${r.status} ${await r.text()}`);
        return r.headers.get("docker-content-digest")!;
    }

    async tag(name: string, from: string, to: string): Promise<string> {
        return this.putManifest(name, to, (await this.manifest(name, from)).body);
    }

    async blob(name: string, digest: string): Promise<Buffer> {
        const r = await fetch(this.url(`${name}/blobs/${digest}`), { headers: this.headers() });
        if (!r.ok) throw new Error(`GET blob ${digest}: HTTP ${r.status}`);
        return Buffer.from(await r.arrayBuffer());
    }

    async upload(name: string, data: Buffer): Promise<string> {
        const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
        const start = await fetch(this.url(`${name}/blobs/uploads/`), { method: "POST", headers: this.headers() });
        if (start.status !== 202) throw new Error(`POST upload: HTTP ${start.status}`);
        const location = new URL(start.headers.get("location")!, `https://${this.env.registry}`);
        location.searchParams.set("digest", digest);
        const put = await fetch(location, { method: "PUT", headers: this.headers({ "content-type": "application/octet-stream" }), body: data });
        if (put.status !== 201) throw new Error(`PUT blob: HTTP ${put.status} ${await put.text()}`);
        return digest;
    }

    /**
     * Tags `to` as image `from` plus one layer holding `files` (path in the image -> content): a new build of the
     * same app (a new digest), e.g. with a patched server. Returns the new manifest's digest.
     */
    async addLayer(name: string, from: string, to: string, files: Record<string, string>): Promise<string> {
        const manifest = JSON.parse((await this.manifest(name, from)).body) as { config: { digest: string; size: number }; layers: { digest: string; size: number; mediaType: string }[] };
        const config = JSON.parse((await this.blob(name, manifest.config.digest)).toString("utf8")) as { rootfs: { diff_ids: string[] } };
        const tarball = tar(files);
        const layer = gzipSync(tarball);
        const layerDigest = await this.upload(name, layer);
        config.rootfs.diff_ids.push(`sha256:${createHash("sha256").update(tarball).digest("hex")}`);
        const configBytes = Buffer.from(JSON.stringify(config));
        const configDigest = await this.upload(name, configBytes);
        manifest.config = { ...manifest.config, digest: configDigest, size: configBytes.length };
        manifest.layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layer.length });
        return this.putManifest(name, to, JSON.stringify(manifest));
    }
}

/** A ustar archive of regular files (and their parent folders), owned by root, mode 0644. */
function tar(files: Record<string, string>): Buffer {
    const blocks: Buffer[] = [];
    const header = (path: string, size: number, type: "0" | "5") => {
        const h = Buffer.alloc(512);
        h.write(path, 0, 100);
        h.write(type === "5" ? "0000755\0" : "0000644\0", 100);
        h.write("0000000\0", 108);
        h.write("0000000\0", 116);
        h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
        h.write("00000000000\0", 136);
        h.write("        ", 148);
        h.write(type, 156);
        h.write("ustar\0", 257);
        h.write("00", 263);
        let sum = 0;
        for (const b of h) sum += b;
        h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
        return h;
    };
    const dirs = new Set<string>();
    for (const path of Object.keys(files)) {
        const parts = path.split("/").slice(0, -1);
        for (let i = 1; i <= parts.length; i++) dirs.add(`${parts.slice(0, i).join("/")}/`);
    }
    for (const dir of [...dirs].sort()) blocks.push(header(dir, 0, "5"));
    for (const [path, content] of Object.entries(files)) {
        const data = Buffer.from(content);
        blocks.push(header(path, data.length, "0"), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
    blocks.push(Buffer.alloc(1024));
    return Buffer.concat(blocks);
}

/**
 * The harness's stack on the Kubernetes target: the program of this repository with `repave:target: kubernetes`,
 * in a namespace of its own holding the registry's pull Secret; the production Service is a NodePort.
 */
export class KubernetesStack extends LocalStack {
    namespace = "";
    kubernetesArgs: Record<string, unknown> = {};

    /** Sets a variable for this stack's later pulumi and repave runs (e.g. REPAVE_DEPLOY_ID). */
    setEnv(key: string, value: string | undefined): void {
        if (value === undefined) delete this.env[key];
        else this.env[key] = value;
    }

    /** A registry tag of this stack's own (`e2e-<suffix>`): tests move it to make a new build appear. */
    namespaceTag(): string {
        return `e2e-${this.dir.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, "x")}`;
    }

    /** Makes the namespace and pull Secret, installs the provider into this stack's PULUMI_HOME, writes config. */
    async prepare(cluster: ClusterEnv, repository: string, tag: string): Promise<void> {
        this.namespace = this.namespaceTag();
        const ns = kubectl(["create", "namespace", this.namespace]);
        if (ns.code !== 0) throw new Error(ns.out);
        const secret = kubectl([
            "-n",
            this.namespace,
            "create",
            "secret",
            "docker-registry",
            "registry",
            `--docker-server=${cluster.registry}`,
            `--docker-username=${cluster.registryUser}`,
            `--docker-password=${cluster.registryPassword}`,
        ]);
        if (secret.code !== 0) throw new Error(secret.out);
        const provider = spawnSync("bash", [join(repoRoot, "scripts/kubernetes/provider.sh")], { encoding: "utf8", env: { ...process.env, PULUMI_HOME: this.env["PULUMI_HOME"] } });
        if (provider.status !== 0) throw new Error(`provider.sh: ${provider.stderr}`);
        // The program resolves tag -> digest against the registry: its CA and the Docker client config's login.
        const dockerConfig = join(this.dir, ".docker");
        mkdirSync(dockerConfig, { recursive: true });
        const auth = Buffer.from(`${cluster.registryUser}:${cluster.registryPassword}`).toString("base64");
        writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ auths: { [cluster.registry]: { auth } } }), { mode: 0o600 });
        this.env["DOCKER_CONFIG"] = dockerConfig;
        this.env["NODE_EXTRA_CA_CERTS"] = cluster.registryCa;
        this.env["KUBECONFIG"] = cluster.kubeconfig;

        // No probeImage: the gate Jobs and the monitor run the default, the project's probe runner beside the API's
        // image in this registry (<registry>/repave/probe-runner:24), resolved to its digest by the program.
        if (![...cluster.images.keys()].some((ref) => ref.endsWith("/repave/probe-runner:24"))) throw new Error("no probe-runner:24 image in REPAVE_CLUSTER_IMAGES");
        this.api = {
            name: "hello",
            image: { source: "container", repository, tag },
            port: 8443,
            capacity: 2,
            certificate: { domains: ["localhost"], lifetimeDays: 7 },
            drainSeconds: 5,
            keepWarmSeconds: 1,
            healthCheck: { intervalSeconds: 1, timeoutSeconds: 2, healthyThreshold: 1, graceSeconds: 60 },
            probes: { intervalSeconds: 1 },
            scan: { allowMissingReport: true },
        };
        this.kubernetesArgs = {
            namespace: this.namespace,
            serviceType: "NodePort",
            imagePullSecrets: ["registry"],
            gateSettleSeconds: 60,
        };
        this.writeConfig();
    }

    override writeConfig(rawApis?: string, rawKubernetes?: string): void {
        if (!this.namespace) return; // create() writes config before prepare(): nothing to deploy yet
        const apis = rawApis ?? JSON.stringify([this.api]);
        const k8s = rawKubernetes ?? JSON.stringify({ hello: this.kubernetesArgs });
        writeFileSync(join(this.dir, "stacks", `Pulumi.${this.stack}.yaml`), `config:\n  repave:target: kubernetes\n  repave:apis: ${apis}\n  repave:kubernetes: ${k8s}\n`);
    }

    /** The production Service's NodePort (answers on 127.0.0.1 and the node address). */
    nodePort(service = "hello"): number {
        const svc = kubectlJson<{ spec: { ports: { nodePort?: number }[] } }>(["-n", this.namespace, "get", "service", service]);
        const port = svc.spec.ports[0]?.nodePort;
        if (!port) throw new Error(`service ${service} has no nodePort`);
        return port;
    }

    /** Objects of `kind` in the namespace carrying the API's label (and matching `fields`, if given), by name. */
    names(kind: string, selector = "repave.dev/api=hello", fields?: string): string[] {
        const list = kubectlJson<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(["-n", this.namespace, "get", kind, "-l", selector, ...(fields ? ["--field-selector", fields] : [])]);
        return list.items.map((i) => i.metadata.name).sort();
    }

    override async cleanup(): Promise<void> {
        await this.pulumi(["destroy", "--yes", "--skip-preview", "--stack", this.stack]);
        if (this.namespace) kubectl(["delete", "namespace", this.namespace, "--wait=false"]);
        await super.cleanup();
    }
}

/** One verified HTTPS request through the production NodePort: status, serving generation and certificate serial. */
export function call(port: number, caPem: string, credential: string, host = "127.0.0.1"): Promise<{ status: number; generation: string; serial: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(
            { host, port, path: "/v1/hello", servername: "localhost", ca: caPem, agent: false, headers: { host: "localhost", authorization: `Bearer ${credential}` } },
            (res) => {
                const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase();
                let body = "";
                res.on("data", (d: Buffer) => (body += d.toString()));
                res.on("end", () => {
                    let generation = "";
                    try {
                        generation = String((JSON.parse(body) as { generation?: string }).generation ?? "");
                    } catch {
                        // not JSON
                    }
                    resolve({ status: res.statusCode ?? 0, generation, serial });
                });
            },
        );
        req.on("error", reject);
        req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    });
}
