// Step 1 of the changeover on Kubernetes: the spec names a tag (a moving pointer); a generation runs the image the
// tag pointed at when it was built, pinned as `repository@sha256:...`. The lookup sits behind ImageResolver so a
// test (or a deployer with its own registry client) supplies one; the default asks the registry itself, with the
// OCI distribution API (the Docker Registry HTTP API v2): a HEAD on the tag's manifest returns its digest.

export interface ResolvedImage {
    /** `sha256:<64 hex>`: the content address of the manifest (or index) the tag points at. */
    digest: string;
    /** When the image was built (RFC 3339), or "unknown" when the registry does not say. */
    createdAt: string;
}

export interface ImageResolver {
    resolve(repository: string, tag: string): Promise<ResolvedImage>;
}

export interface PinnedImage {
    /** What the Deployment runs: `repository@sha256:...`, immutable. */
    reference: string;
    repository: string;
    tag: string;
    digest: string;
    createdAt: string;
}

export async function pinImage(resolver: ImageResolver, repository: string, tag: string): Promise<PinnedImage> {
    const { digest, createdAt } = await resolver.resolve(repository, tag);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
        throw new Error(`image ${repository}:${tag} resolved to "${digest}", not a sha256 digest (hint: check the resolver and the registry)`);
    }
    return { reference: `${repository}@${digest}`, repository, tag, digest, createdAt };
}

/** Where the project's probe runner is found by default: beside the API's image, in the same registry. */
export const probeRunner = { path: "repave/probe-runner", tag: "24" } as const;

/**
 * The image the gate Job and monitor CronJob run, pinned by digest: `probeImage` as configured (a tag is resolved
 * like the API's), else the project's probe runner in the API image's registry (pulled with the same
 * imagePullSecrets). Never Docker Hub by default: an API image without a registry of its own, or a registry without
 * the probe runner, is refused here with a hint - before anything is registered - instead of a pull that hangs
 * (ErrImagePull) or reaches the internet.
 */
export async function pinProbeImage(resolver: ImageResolver, apiRepository: string, probeImage: string | undefined, where: string): Promise<string> {
    if (probeImage) {
        const at = probeImage.indexOf("@");
        if (at >= 0) return probeImage;
        const colon = probeImage.lastIndexOf(":");
        const pinned = await pinImage(resolver, probeImage.slice(0, colon), probeImage.slice(colon + 1)).catch((error: unknown) => {
            throw new Error(`${where}.probeImage: ${probeImage} cannot be resolved to a digest: ${(error as Error).message} (hint: push it there, or name it by digest)`);
        });
        return pinned.reference;
    }
    const { registry } = parseRepository(apiRepository);
    const push = "push the project's probe runner there (scripts/kubernetes/build-images.sh builds it as an OCI layout; cluster.sh up pushes it to the embedded registry)";
    if (registry === dockerHub) {
        throw new Error(
            `${where}.probeImage: not set, and the API's image ${apiRepository} names no registry to find the probe runner in (the default is never Docker Hub) (hint: set probeImage to an image with Node.js >= 22.18 in your registry, by tag or digest)`,
        );
    }
    const repository = `${registry}/${probeRunner.path}`;
    const pinned = await pinImage(resolver, repository, probeRunner.tag).catch((error: unknown) => {
        throw new Error(`${where}.probeImage: not set, and the default ${repository}:${probeRunner.tag} is not in the registry: ${(error as Error).message} (hint: ${push}, or set probeImage to an image with Node.js >= 22.18)`);
    });
    return pinned.reference;
}

const dockerHub = "registry-1.docker.io";

/** Splits `ghcr.io/acme/orders` into registry and name; Docker Hub names get their implicit registry and `library/`. */
export function parseRepository(repository: string): { registry: string; name: string } {
    const [first, ...rest] = repository.split("/");
    if (first && rest.length > 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
        return { registry: first, name: rest.join("/") };
    }
    return { registry: dockerHub, name: rest.length > 0 ? repository : `library/${repository}` };
}

const manifestTypes = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

interface Manifest {
    manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[];
    config?: { digest: string };
}

export interface RegistryResolverOptions {
    /**
     * For private repositories: sent to the registry's token service (Bearer challenge), or to the registry itself
     * (Basic challenge), e.g. `Basic base64(user:password)`. Default: the registry's entry in the Docker client
     * config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, key `auths.<registry>.auth`), as
     * `docker login`, `skopeo login --authfile` or a CI step write it.
     */
    authorization?: string;
    /** Which image of a multi-platform index dates the image. Default linux/amd64. */
    platform?: { os: string; architecture: string };
    timeoutMs?: number;
}

/** The default resolver: the registry's HTTP API with anonymous (or `authorization`) bearer tokens. Never used in tests. */
export class RegistryResolver implements ImageResolver {
    private readonly options: RegistryResolverOptions;
    constructor(options: RegistryResolverOptions = {}) {
        this.options = options;
    }

    async resolve(repository: string, tag: string): Promise<ResolvedImage> {
        const { registry, name } = parseRepository(repository);
        const base = `https://${registry}/v2/${name}`;
        this.registry = registry;
        const head = await this.request(`${base}/manifests/${encodeURIComponent(tag)}`, "HEAD", name);
        const digest = head.headers.get("docker-content-digest");
        if (!digest) throw new Error(`registry ${registry} did not return a digest for ${repository}:${tag} (HTTP ${head.status})`);
        return { digest, createdAt: await this.createdAt(base, name, digest).catch(() => "unknown") };
    }

    /** The build time in the image config (for an index: of the chosen platform's image). */
    private async createdAt(base: string, name: string, digest: string): Promise<string> {
        let manifest = (await (await this.request(`${base}/manifests/${digest}`, "GET", name)).json()) as Manifest;
        if (manifest.manifests) {
            const { os, architecture } = this.options.platform ?? { os: "linux", architecture: "amd64" };
            const chosen = manifest.manifests.find((m) => m.platform?.os === os && m.platform.architecture === architecture) ?? manifest.manifests[0];
            if (!chosen) return "unknown";
            manifest = (await (await this.request(`${base}/manifests/${chosen.digest}`, "GET", name)).json()) as Manifest;
        }
        if (!manifest.config) return "unknown";
        const config = (await (await this.request(`${base}/blobs/${manifest.config.digest}`, "GET", name)).json()) as { created?: string };
        return config.created ?? "unknown";
    }

    /** The `authorization` header that worked per repository name (`Bearer <token>` or `Basic <user:password>`). */
    private tokens = new Map<string, string>();
    private registry = "";

    /** The caller's authorization, else the Docker client config's entry for the registry. */
    private credentials(): string | undefined {
        if (this.options.authorization) return this.options.authorization;
        const { readFileSync } = process.getBuiltinModule("node:fs");
        const path = process.getBuiltinModule("node:path");
        const dir = process.env["DOCKER_CONFIG"] ?? path.join(process.env["HOME"] ?? "", ".docker");
        try {
            const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as { auths?: Record<string, { auth?: string }> };
            const auths = config.auths ?? {};
            const entry = auths[this.registry] ?? auths[`https://${this.registry}`];
            return entry?.auth ? `Basic ${entry.auth}` : undefined;
        } catch {
            return undefined;
        }
    }

    private async request(url: string, method: "GET" | "HEAD", name: string): Promise<Response> {
        const send = (authorization?: string) =>
            fetch(url, {
                method,
                headers: { accept: manifestTypes, ...(authorization ? { authorization } : {}) },
                signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
            });
        let response = await send(this.tokens.get(name));
        const challenge = response.headers.get("www-authenticate");
        if (response.status === 401 && challenge?.startsWith("Bearer ")) {
            const token = `Bearer ${await this.token(challenge, name)}`;
            this.tokens.set(name, token);
            response = await send(token);
        } else if (response.status === 401 && challenge?.toLowerCase().startsWith("basic")) {
            // A registry with its own htpasswd (distribution's `auth.htpasswd`): the credentials go to it directly.
            const basic = this.credentials();
            if (!basic) throw new Error(`${method} ${url}: HTTP 401, the registry asks for a password (hint: docker login ${this.registry}, or pass RegistryResolver({ authorization }))`);
            this.tokens.set(name, basic);
            response = await send(basic);
        }
        if (!response.ok) throw new Error(`${method} ${url}: HTTP ${response.status}`);
        return response;
    }

    private async token(challenge: string, name: string): Promise<string> {
        const params: Record<string, string> = {};
        for (const [, key, value] of challenge.slice("Bearer ".length).matchAll(/(\w+)="([^"]*)"/g)) if (key && value !== undefined) params[key] = value;
        if (!params["realm"]) throw new Error(`registry auth challenge without realm: ${challenge}`);
        const url = new URL(params["realm"]);
        if (params["service"]) url.searchParams.set("service", params["service"]);
        url.searchParams.set("scope", params["scope"] ?? `repository:${name}:pull`);
        const authorization = this.credentials();
        const response = await fetch(url, {
            headers: authorization ? { authorization } : {},
            signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
        });
        if (!response.ok) throw new Error(`registry token for ${name}: HTTP ${response.status}`);
        const body = (await response.json()) as { token?: string; access_token?: string };
        const token = body.token ?? body.access_token;
        if (!token) throw new Error(`registry token for ${name}: no token in the answer`);
        return token;
    }
}
