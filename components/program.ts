// The repave program as a function: reads the stack's `repave:apis` (and its target's block), refuses a bad config
// before registering anything, and builds one StatelessApi per entry on the stack's target. This repository's
// index.ts is three lines around it; so is a project that installs the package (see the README).
import * as pulumi from "@pulumi/pulumi";
import { ImageLedger, PluginImageLedger, type LedgerImage } from "./image-ledger.ts";
import { parseApiSpecs, SpecError, type StatelessApiSpec } from "./spec.ts";
import { StatelessApi as LocalStatelessApi } from "./local/index.ts";

const targets = ["local", "aws", "gcp", "kubernetes"] as const;
export type Target = (typeof targets)[number];

/** Config problems become a RunError: the message (every problem, by path) is the point, not a stack trace. */
function refuseBadConfig<T>(read: () => T): T {
    try {
        return read();
    } catch (err) {
        if (err instanceof SpecError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

/**
 * `repave rollback` pins an API to the image its previous generation ran (REPAVE_IMAGE_PINS={"api":{"id":...,
 * "version":...}}, as the API's image ledger recorded it; a plain string is a local build's version): a rollback is
 * a new, gated generation of a known-good image - never a shortcut around the gate. Each target pins by what names
 * one image immutably: a local build by version, an AMI by id, a GCE image by self-link, a container by digest.
 */
export function applyImagePins(specs: StatelessApiSpec[], pinsJson = process.env["REPAVE_IMAGE_PINS"]): StatelessApiSpec[] {
    const pins = JSON.parse(pinsJson ?? "{}") as Record<string, string | LedgerImage>;
    return specs.map((spec): StatelessApiSpec => {
        const pin = pins[spec.name];
        if (!pin) return spec;
        const { id, version } = typeof pin === "string" ? { id: "", version: pin } : pin;
        const image = spec.image;
        switch (image.source) {
            case "local-builds":
                return { ...spec, image: { ...image, version } };
            case "aws-ami":
            case "gcp-image-family":
            case "container":
                if (!id) throw new pulumi.RunError(`REPAVE_IMAGE_PINS: ${spec.name} runs ${image.source} images, pinned by id; the pin names none`);
                return { ...spec, image: { ...image, pinned: id } };
        }
    });
}

/** What every target reports per API, in one shape: `pulumi stack output endpoints` and the driver read it. */
export interface Endpoint {
    url: pulumi.Output<string>;
    testUrl: pulumi.Output<string>;
    generation: pulumi.Output<string>;
    previousGeneration?: pulumi.Output<string | null>;
    previousImageVersion?: pulumi.Output<string | null>;
    /** The image served before the current one, from the API's ImageLedger: what `repave rollback` pins. */
    previousImage?: pulumi.Output<LedgerImage | null>;
    imageVersion: pulumi.Output<string>;
    imageHash: pulumi.Output<string>;
    imageCreatedAt: pulumi.Output<string>;
    certSerial: pulumi.Output<string>;
    certNotAfter: pulumi.Output<string | null | undefined>;
    credentialCreatedAt: pulumi.Output<string>;
    generationCreatedAt: pulumi.Output<string>;
    capacity?: pulumi.Output<number>;
    frontDoorUrn?: pulumi.Output<string>;
}

interface Deployed {
    /** The API's component: what its image ledger waits for. */
    component: pulumi.Resource;
    endpoint: Endpoint;
    credential: pulumi.Output<string>;
    caCertPem?: pulumi.Output<string | null>;
    /** repave's provider plugin, where the target runs it: it then serves the image ledger too. */
    plugin?: pulumi.ProviderResource;
}

/**
 * `repave:protectFrontDoor: true` protects each API's front door (load balancer, listeners, maps, DNS, stable
 * secret, monitor) and nothing a repave rebuilds: the stack can then not be destroyed by accident, and still
 * repaves. The cloud targets support it; elsewhere it is refused rather than silently ignored.
 */
export function frontDoorProtection(config: pulumi.Config, target: Target): boolean {
    const protect = refuseBadConfig(() => {
        const value = config.getObject<unknown>("protectFrontDoor") ?? false;
        if (typeof value !== "boolean") throw new SpecError([`repave:protectFrontDoor: expected true or false, got ${JSON.stringify(value)}`]);
        return value;
    });
    if (protect && target !== "aws" && target !== "gcp") {
        throw new pulumi.RunError(`repave:protectFrontDoor: the ${target} target does not support it yet (aws and gcp do); nothing was changed`);
    }
    return protect;
}

// Cloud targets load their provider SDKs only when selected: @pulumi/aws alone takes seconds to load.
async function deploy(config: pulumi.Config, target: Target, specs: StatelessApiSpec[]): Promise<Record<string, Deployed>> {
    const protectFrontDoor = frontDoorProtection(config, target);
    switch (target) {
        case "local":
            return Object.fromEntries(
                specs.map((spec) => {
                    const api = new LocalStatelessApi(spec.name, { spec });
                    const endpoint: Endpoint = {
                        url: api.url,
                        testUrl: api.testUrl,
                        generation: api.generation,
                        previousGeneration: api.previousGeneration,
                        previousImageVersion: api.previousImageVersion,
                        imageVersion: api.imageVersion,
                        imageHash: api.imageHash,
                        imageCreatedAt: api.imageCreatedAt,
                        certSerial: api.certSerial,
                        certNotAfter: api.certNotAfter,
                        credentialCreatedAt: api.credentialCreatedAt,
                        generationCreatedAt: api.generationCreatedAt,
                        capacity: api.capacity,
                        frontDoorUrn: api.frontDoorUrn,
                    };
                    return [spec.name, { component: api, endpoint, credential: api.credential, caCertPem: api.caCertPem, plugin: api.plugin }];
                }),
            );
        case "aws": {
            const { parseAwsTargetArgs, StatelessApi: AwsStatelessApi } = await import("./aws/index.ts");
            const aws = refuseBadConfig(() => parseAwsTargetArgs(config.getObject<unknown>("aws")));
            return Object.fromEntries(
                specs.map((spec) => {
                    const api = new AwsStatelessApi(spec.name, { spec, aws, protectFrontDoor });
                    return [spec.name, { component: api, endpoint: cloudEndpoint(api, api.imageName, api.certificateArn), credential: pulumi.output("(in Secrets Manager)") }];
                }),
            );
        }
        case "gcp": {
            const { parseGcpConfig, StatelessApi: GcpStatelessApi } = await import("./gcp/index.ts");
            const gcp = refuseBadConfig(() => parseGcpConfig(config.getObject<unknown>("gcp"), specs));
            return Object.fromEntries(
                specs.map((spec) => {
                    const api = new GcpStatelessApi(spec.name, { spec, gcp: gcp[spec.name]!, protectFrontDoor });
                    return [spec.name, { component: api, endpoint: cloudEndpoint(api, api.imageName, api.certificate), credential: api.credential }];
                }),
            );
        }
        case "kubernetes": {
            const { parseKubernetesConfig, StatelessApi: KubernetesStatelessApi } = await import("./kubernetes/index.ts");
            const k8s = refuseBadConfig(() => parseKubernetesConfig(config.getObject<unknown>("kubernetes"), specs));
            return Object.fromEntries(
                specs.map((spec) => {
                    const api = new KubernetesStatelessApi(spec.name, { spec, kubernetes: k8s[spec.name]! });
                    return [spec.name, { component: api, endpoint: cloudEndpoint(api, api.imageId, api.certificate), credential: api.credential, caCertPem: api.caCertPem }];
                }),
            );
        }
    }
}

/** Cloud targets report image and certificate by their cloud ids; a generation's credential is minted with it. */
function cloudEndpoint(
    api: { url: pulumi.Output<string>; testUrl: pulumi.Output<string>; generation: pulumi.Output<string>; imageId: pulumi.Output<string>; imageCreatedAt: pulumi.Output<string>; certNotAfter: pulumi.Output<string | null | undefined>; credentialCreatedAt: pulumi.Output<string> },
    imageVersion: pulumi.Output<string>,
    certificate: pulumi.Output<string>,
): Endpoint {
    return {
        url: api.url,
        testUrl: api.testUrl,
        generation: api.generation,
        imageVersion,
        imageHash: api.imageId,
        imageCreatedAt: api.imageCreatedAt,
        certSerial: certificate,
        certNotAfter: api.certNotAfter,
        credentialCreatedAt: api.credentialCreatedAt,
        generationCreatedAt: api.credentialCreatedAt,
    };
}

/** The stack outputs the `repave` driver reads: export them from the program as they are. */
export interface RepaveOutputs {
    endpoints: Record<string, Endpoint>;
    /** Secret: each API's live credential, for its callers. */
    credentials: pulumi.Output<Record<string, string>>;
    caCertPem: pulumi.Output<string | null> | undefined;
}

/**
 * Reads `repave:target` and `repave:apis` from the stack's config and deploys every API on that target. A bad
 * config is refused (a RunError listing every problem by path) before any resource is registered.
 */
export async function repaveProgram(config: pulumi.Config = new pulumi.Config("repave")): Promise<RepaveOutputs> {
    const target = refuseBadConfig(() => {
        const value = config.get("target") ?? "local";
        if (!(targets as readonly string[]).includes(value)) {
            throw new SpecError([`repave:target: "${value}" is not one of ${targets.join(", ")} (hint: set repave:target to local for the embedded target)`]);
        }
        return value as Target;
    });
    const specs = applyImagePins(refuseBadConfig(() => parseApiSpecs(config.getObject<unknown>("apis"))));
    const apis = await deploy(config, target, specs);
    for (const [name, api] of Object.entries(apis)) {
        // After the whole API (gate, switch, bake): a candidate that failed never becomes "previous".
        const current = { current: pulumi.all([api.endpoint.imageHash, api.endpoint.imageVersion]).apply(([id, version]) => ({ id, version })) };
        const ledger = api.plugin
            ? new PluginImageLedger(`${name}-image-ledger`, current, { dependsOn: [api.component], provider: api.plugin })
            : new ImageLedger(`${name}-image-ledger`, current, { dependsOn: [api.component] });
        api.endpoint.previousImage = ledger.previous;
    }
    return {
        endpoints: Object.fromEntries(Object.entries(apis).map(([name, api]) => [name, api.endpoint])),
        credentials: pulumi.secret(Object.fromEntries(Object.entries(apis).map(([name, api]) => [name, api.credential]))),
        caCertPem: Object.values(apis)[0]?.caCertPem,
    };
}
