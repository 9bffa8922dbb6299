// repave:local:StatelessApi - the embedded target: real processes, real TLS and real traffic on loopback, no
// cloud account. The model (spec, generation identity, probes, ordering) is shared; this file only maps it.
import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";
import { frontDoorOptions, switchOptions } from "../changeover.ts";
import { currentDeployId, generationIdentity } from "../generation.ts";
import { durationMs, type StatelessApiSpec } from "../spec.ts";
import { resolveLatestBuild } from "./image.ts";
import { CertificateAuthority, FrontDoor, Gate, Generation, LocalProvider, Switch } from "./resources.ts";

export interface StatelessApiArgs {
    /** The validated spec (see components/spec.ts); `image.source` must be `local-builds`. */
    readonly spec: StatelessApiSpec;
    /**
     * Where the front door keeps its routes, logs and processes' files, relative to the project (or absolute).
     * Default: `.repave/local/<stack>/<api>`. Declared as given: the provider resolves it, so a moved checkout keeps
     * its resources (their identity is the API's name and ports, never a path).
     */
    readonly stateDir?: string;
    /** Identifies this deploy (default: REPAVE_DEPLOY_ID, else the time): `every-deploy` repaves once per id. */
    readonly deployId?: string;
}

export class StatelessApi extends pulumi.ComponentResource {
    /** Production URL (stable across repaves). */
    declare readonly url: pulumi.Output<string>;
    /** Test listener URL: the candidate answers here before it takes traffic. */
    declare readonly testUrl: pulumi.Output<string>;
    /** The generation serving production after this update. */
    declare readonly generation: pulumi.Output<string>;
    declare readonly previousGeneration: pulumi.Output<string | null>;
    declare readonly previousImageVersion: pulumi.Output<string | null>;
    declare readonly imageVersion: pulumi.Output<string>;
    declare readonly imageHash: pulumi.Output<string>;
    declare readonly imageCreatedAt: pulumi.Output<string>;
    declare readonly certSerial: pulumi.Output<string>;
    declare readonly certNotAfter: pulumi.Output<string>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    declare readonly generationCreatedAt: pulumi.Output<string>;
    declare readonly capacity: pulumi.Output<number>;
    declare readonly caCertPem: pulumi.Output<string>;
    /** Secret: the bearer credential of the live generation, for callers of the API. */
    declare readonly credential: pulumi.Output<string>;
    declare readonly frontDoorUrn: pulumi.Output<string>;
    /** repave's provider plugin serving this API's resources (the program's image ledger uses it too). */
    declare readonly plugin: pulumi.ProviderResource;

    constructor(name: string, args: StatelessApiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("repave:local:StatelessApi", name, {}, opts);
        const spec = args.spec;
        if (spec.image.source !== "local-builds") {
            throw new Error(`${spec.name}.image.source: the local target runs local-builds images, not ${spec.image.source}`);
        }
        const local = spec.local ?? { port: 8443, testPort: 8444, caRotation: "90d", adminTokenRotation: "30d" };
        const stateDir = args.stateDir ?? join(".repave", "local", pulumi.getStack(), spec.name);

        // 1. Resolve the latest patched image and pin it by content hash.
        const image = resolveLatestBuild(spec.image.path, spec.image.version);
        const identity = generationIdentity(spec, {
            imageId: image.hash,
            deployId: args.deployId ?? currentDeployId(),
            now: new Date(),
        });

        // repave's provider plugin, as an explicit provider: the stack's `repave:` config is the program's own and is
        // never handed to the plugin (a default provider of package `repave` would take that namespace as its own).
        const plugin = new LocalProvider(`${name}-plugin`, { parent: this });
        this.plugin = plugin;
        const parent = { parent: this, provider: plugin };
        const frontDoor = new FrontDoor(
            `${name}-front-door`,
            { api: spec.name, port: local.port, testPort: local.testPort, stateDir, adminTokenRotationSeconds: durationMs(local.adminTokenRotation) / 1000 },
            frontDoorOptions(this, { provider: plugin }),
        );
        // Rotates in place on a schedule, with overlap: its trust bundle (certPem) holds the signing CA and the next.
        const ca = new CertificateAuthority(`${name}-ca`, { commonName: `repave local CA (${spec.name})`, rotationSeconds: durationMs(local.caRotation) / 1000 }, frontDoorOptions(this, { provider: plugin }));
        const healthCheck = {
            path: spec.healthCheck.path,
            intervalSeconds: spec.healthCheck.intervalSeconds,
            timeoutSeconds: spec.healthCheck.timeoutSeconds,
            healthyThreshold: spec.healthCheck.healthyThreshold,
            graceSeconds: spec.healthCheck.graceSeconds,
        };

        // 2. The candidate generation: replaced (create-before-delete) whenever its identity changes.
        const generation = new Generation(
            `${name}-generation`,
            {
                api: spec.name,
                generation: identity.id,
                imageDir: image.dir,
                imageEntry: image.entry,
                imageHash: image.hash,
                imageVersion: image.version,
                imageCreatedAt: image.createdAt,
                capacity: spec.capacity,
                domains: spec.certificate.domains,
                certLifetimeDays: spec.certificate.lifetimeDays,
                caCertPem: ca.signingCertPem,
                caKeyPem: ca.keyPem,
                stateDir: frontDoor.stateDir,
                frontDoorToken: frontDoor.adminToken,
                healthCheck,
                drainSeconds: spec.drainSeconds,
            },
            { ...parent, deleteBeforeReplace: false },
        );

        const route = {
            api: spec.name,
            generation: generation.generation,
            imageVersion: generation.imageVersion,
            backends: generation.backends,
            certPem: generation.certPem,
            keyPem: generation.keyPem,
            certSerial: generation.certSerial,
            domains: generation.domains,
            credential: generation.credential,
            caCertPem: ca.certPem,
            stateDir: frontDoor.stateDir,
            frontDoorToken: frontDoor.adminToken,
        };
        const probes = { positive: spec.probes.positive, negative: spec.probes.negative, adversarial: spec.probes.adversarial };

        // 3-4. Health and synthetic transactions on the test listener, plus the image scan gate.
        const gate = new Gate(
            `${name}-gate`,
            {
                ...route,
                testPort: frontDoor.testPort,
                healthCheck,
                probes,
                imageHash: generation.imageHash,
                scan: image.scan,
                maxCritical: spec.scan.maxCritical,
                maxHigh: spec.scan.maxHigh ?? null,
                allowMissingReport: spec.scan.allowMissingReport,
            },
            parent,
        );

        // 5-6. Switch production to the candidate, then bake while the old generation is still warm.
        const traffic = new Switch(
            `${name}-switch`,
            {
                ...route,
                port: frontDoor.port,
                healthCheck,
                gatePassedGeneration: gate.generation,
                probes,
                keepWarmSeconds: spec.keepWarmSeconds,
                intervalSeconds: spec.probes.intervalSeconds,
            },
            switchOptions(this, gate, { provider: plugin }),
        );

        this.url = frontDoor.url;
        this.testUrl = frontDoor.testUrl;
        this.generation = traffic.generation;
        this.previousGeneration = traffic.previousGeneration;
        this.previousImageVersion = traffic.previousImageVersion;
        this.imageVersion = generation.imageVersion;
        this.imageHash = generation.imageHash;
        this.imageCreatedAt = pulumi.output(image.createdAt);
        this.certSerial = generation.certSerial;
        this.certNotAfter = generation.certNotAfter;
        this.credentialCreatedAt = generation.credentialCreatedAt;
        this.generationCreatedAt = generation.createdAt;
        this.capacity = generation.capacity;
        this.caCertPem = ca.certPem;
        this.credential = pulumi.secret(generation.credential);
        this.frontDoorUrn = frontDoor.urn;
        this.registerOutputs({
            url: this.url,
            testUrl: this.testUrl,
            generation: this.generation,
            previousGeneration: this.previousGeneration,
            previousImageVersion: this.previousImageVersion,
            imageVersion: this.imageVersion,
            imageHash: this.imageHash,
            imageCreatedAt: this.imageCreatedAt,
            certSerial: this.certSerial,
            certNotAfter: this.certNotAfter,
            credentialCreatedAt: this.credentialCreatedAt,
            generationCreatedAt: this.generationCreatedAt,
            capacity: this.capacity,
        });
    }
}
