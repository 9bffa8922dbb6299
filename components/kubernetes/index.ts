// repave:kubernetes:StatelessApi - the Kubernetes target: a Deployment per generation behind stable Services, repaved
// by red/green changeover on every deploy. The model (spec, generation identity, probes, ordering rules) is shared
// (components/changeover.ts); this file wires the Kubernetes roles in changeover order:
//
//   1 image       the tag resolved to a digest, pinned as repository@sha256:...            image.ts
//   2 front door  the CA repave signs with (no cert-manager) and the probes ConfigMap       mint.ts, probe-job.ts
//   - credential  the stable Secret callers read (`current`), read as it is now            credential.ts
//   3 generation  credential + certificate Secrets, Deployment, PodDisruptionBudget         generation.ts
//   4 test route  the preview Service selects the candidate                                frontdoor.ts
//   5 gate        a Job running the probes against the preview Service (or ProbeGate)       probe-job.ts, ../gate.ts
//   6 switch      production Service selector (+ Ingress TLS Secret) -> gated generation     frontdoor.ts
//   - bake        a Job probing production for keepWarmSeconds; on failure: selector back   probe-job.ts
//   7 promote     the stable Secret's `current` -> the new credential (`previous` -> live)  credential.ts
//   8 monitor     a CronJob running the positive probes against production, with `current`  probe-job.ts
//   9 retire      the engine deletes the old generation after the update; its pods drain (preStop)
import * as pulumi from "@pulumi/pulumi";
import { beginChangeover, InitializeHandoff } from "../changeover.ts";
import { ProbeGate, scanInputs } from "../gate.ts";
import { checkScan } from "../scan.ts";
import { SpecError, type StatelessApiSpec } from "../spec.ts";
import { checkKubernetesArgs, generationShapeOf, type KubernetesArgs, type KubernetesArgsInput } from "./config.ts";
import { createCredentialReference, promoteCredential, readLiveCredential } from "./credential.ts";
import { createPreviewService, createProductionRoute } from "./frontdoor.ts";
import { createGeneration, labelKeys } from "./generation.ts";
import { pinImage, pinProbeImage, RegistryResolver, type ImageResolver } from "./image.ts";
import { graceCredential, MintedCa } from "./mint.ts";
import { createBakeAccess, createBakeJob, createGateJob, createMonitor, createProbeConfigMap, probeServerName } from "./probe-job.ts";

export type { KubernetesArgs, KubernetesArgsInput } from "./config.ts";
export { parseKubernetesConfig } from "./config.ts";
export { RegistryResolver, type ImageResolver, type ResolvedImage } from "./image.ts";

export interface StatelessApiArgs {
    /** The validated spec (components/spec.ts); `image.source` must be `container`. */
    readonly spec: StatelessApiSpec;
    /** Kubernetes settings (components/kubernetes/config.ts); every field has a default. Validated first. */
    readonly kubernetes?: KubernetesArgsInput;
    /** Resolves the spec's tag to a digest. Default: the registry's HTTP API (RegistryResolver). */
    readonly imageResolver?: ImageResolver;
    /** Identifies this deploy (default: REPAVE_DEPLOY_ID, else the time): `every-deploy` repaves once per id. */
    readonly deployId?: string;
}

interface Facts {
    url: string;
    testUrl: string;
    generation: pulumi.Output<string>;
    imageId: string;
    imageCreatedAt: string;
    certificate: pulumi.Output<string>;
    certNotAfter: pulumi.Output<string | null>;
    credentialCreatedAt: pulumi.Output<string>;
    credential: pulumi.Output<string>;
    caCertPem: pulumi.Output<string> | null;
}

/** Checks spec and args together; every problem by path, before any resource is registered (I7). */
function validate(name: string, args: StatelessApiArgs): KubernetesArgs {
    const checked = checkKubernetesArgs(args.spec, args.kubernetes, { spec: `${name}.spec`, args: `${name}.kubernetes` });
    if (checked.problems.length > 0 || !checked.args) throw new SpecError(checked.problems);
    return checked.args;
}

const handoff = new InitializeHandoff<{ name: string; spec: StatelessApiSpec; target: KubernetesArgs; resolver: ImageResolver; deployId: string | undefined }>();

export class StatelessApi extends pulumi.ComponentResource<Facts> {
    /** Production URL: the Ingress's first domain, or the production Service inside the cluster. */
    declare readonly url: pulumi.Output<string>;
    /** The preview Service: the candidate answers here before it takes traffic. */
    declare readonly testUrl: pulumi.Output<string>;
    /** The generation serving production after this update (the one the gate passed). */
    declare readonly generation: pulumi.Output<string>;
    /** The pinned image: `repository@sha256:...`. */
    declare readonly imageId: pulumi.Output<string>;
    declare readonly imageCreatedAt: pulumi.Output<string>;
    /** Name of the generation's TLS Secret (the cert-manager Certificate has the same name). */
    declare readonly certificate: pulumi.Output<string>;
    declare readonly certNotAfter: pulumi.Output<string | null>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    /** Secret: the live generation's bearer credential, for callers of the API. */
    declare readonly credential: pulumi.Output<string>;
    /** The CA clients trust when repave mints the certificates (null with cert-manager). */
    declare readonly caCertPem: pulumi.Output<string | null>;

    constructor(name: string, args: StatelessApiArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = validate(name, args);
        handoff.put({ name, spec: args.spec, target, resolver: args.imageResolver ?? new RegistryResolver(), deployId: args.deployId });
        super("repave:kubernetes:StatelessApi", name, {}, opts);

        // The digest lookup is asynchronous and the generation id depends on it: the roles are wired in
        // initialize(), once it resolved, and a consumer's dependsOn on this component waits for all of them. It runs
        // in previews too, so a preview shows the generation a deploy would build.
        const facts = this.getData();
        const fact = <K extends keyof Facts>(key: K) => pulumi.output(facts.then((f) => f[key])) as pulumi.Output<pulumi.Unwrap<Facts[K]>>;

        this.url = fact("url");
        this.testUrl = fact("testUrl");
        this.generation = fact("generation");
        this.imageId = fact("imageId");
        this.imageCreatedAt = fact("imageCreatedAt");
        this.certificate = fact("certificate");
        this.certNotAfter = fact("certNotAfter");
        this.credentialCreatedAt = fact("credentialCreatedAt");
        this.credential = pulumi.secret(fact("credential"));
        this.caCertPem = fact("caCertPem");
        this.registerOutputs({
            url: this.url,
            testUrl: this.testUrl,
            generation: this.generation,
            imageId: this.imageId,
            imageCreatedAt: this.imageCreatedAt,
            certificate: this.certificate,
            certNotAfter: this.certNotAfter,
            credentialCreatedAt: this.credentialCreatedAt,
        });
    }

    protected override async initialize(): Promise<Facts> {
        const { name, spec, target, resolver, deployId } = handoff.take();
        return this.changeover(name, spec, target, resolver, deployId);
    }

    private async changeover(name: string, spec: StatelessApiSpec, target: KubernetesArgs, resolver: ImageResolver, deployId: string | undefined): Promise<Facts> {
        if (spec.image.source !== "container") throw new Error("unreachable: validated above");

        // 1. Resolve the tag to a digest and pin it: the generation id is derived from it.
        // `repave rollback` pins the digest a previous generation ran: a registry resolves a digest as it does a tag.
        const image = await pinImage(resolver, spec.image.repository, spec.image.pinned?.replace(/^.*@/, "") ?? spec.image.tag);
        // The probe runner too, by digest (the project's own beside the API's image unless probeImage names one).
        const probeImage = await pinProbeImage(resolver, spec.image.repository, target.probeImage, `${name}.kubernetes`);
        const changeover = beginChangeover(spec, image.reference, { deployId, shape: generationShapeOf(spec, target, probeImage) });
        // The image gate. The deployer-side gate checks it before its probes; the in-cluster gate Job cannot read
        // the pipeline's report, so this deploy refuses the image here, before the candidate exists.
        const scan = scanInputs(spec, image.reference);
        if (!target.gateFromDeployer) checkScan(scan.scan ?? null, scan.scanPolicy!, image.reference);
        const ns = target.namespace;

        // 2. Stable pieces: the CA (only when repave mints certificates) and the probe code the Jobs run.
        const ca = target.certManager ? undefined : new MintedCa(`${name}-ca`, { commonName: `repave CA (${spec.name})`, lifetimeDays: 3650 }, { parent: this });
        const probes = createProbeConfigMap(name, this, changeover, target);

        // The credential callers hold now (the stable Secret's `current`), read before anything changes: the
        // candidate accepts it too, so nobody is cut off at the switch (components/changeover.ts, LiveCredential).
        const reference = createCredentialReference(name, this, changeover, target);
        const { credential: held, generation: liveGeneration } = readLiveCredential(name, this, reference);

        // 3. The candidate generation beside the live one (create-before-delete: the live one is untouched, I1).
        //    Pulumi waits for the Deployment's rollout: every replica ready by the readiness probe (health).
        const candidate = createGeneration(name, this, changeover, target, image, ca, held);

        // 4. The test route: the preview Service selects the candidate; production does not move.
        const preview = createPreviewService(name, this, changeover, target, candidate);

        // 5. Gate: positive and negative probes through the preview Service. A failed gate fails the update here,
        //    with production still selecting the live generation (I2, I3).
        const serverName = probeServerName(spec.certificate.domains[0]!);
        const previewHost = `${changeover.stableName("preview")}.${ns}.svc`;
        let gates: pulumi.Resource[];
        let gatePassed: pulumi.Output<string>;
        if (target.gateFromDeployer) {
            const inputs = {
                api: spec.name,
                generation: changeover.identity.id,
                host: target.previewAddress ?? previewAddressOf(preview, target, `${previewHost}.cluster.local`),
                port: target.servicePort,
                serverName,
                caPem: ca ? ca.certPem : null,
                probes: { positive: spec.probes.positive, negative: spec.probes.negative },
                settleSeconds: target.gateSettleSeconds,
                ...scan,
            };
            const opts = { parent: this, dependsOn: [preview, candidate.deployment] };
            const probeGate = new ProbeGate(`${name}-gate`, { ...inputs, credential: pulumi.secret(candidate.secrets.credential) }, opts);
            // Callers still hold the live credential: the candidate must serve them too, before the switch.
            const grace = new ProbeGate(`${name}-gate-grace`, { ...inputs, credential: graceCredential(candidate.secrets) }, opts);
            gates = [probeGate, grace];
            gatePassed = bothPassed(probeGate.generation, grace.generation);
        } else {
            const run = {
                image: probeImage,
                host: previewHost,
                port: target.servicePort,
                serverName,
                credentialSecret: candidate.credentialSecret.metadata.name,
                credentialKey: "credential",
                tlsSecret: candidate.tlsSecretName,
                settleSeconds: target.gateSettleSeconds,
            };
            const after = [preview, candidate.deployment];
            const job = createGateJob(name, this, changeover, target, probes, run, after);
            const grace = createGateJob(name, this, changeover, target, probes, { ...run, credentialKey: "previous" }, after, "gate-grace");
            gates = [job, grace];
            // The Jobs' outputs resolve only once they completed: the switch reads the generation they gated.
            const passed = (j: typeof job) => j.metadata.apply((m) => m.labels?.[labelKeys.generation] ?? "");
            gatePassed = bothPassed(passed(job), passed(grace));
        }

        // 6. Switch: the production Service (and Ingress TLS) move to the generation the gate passed.
        const production = createProductionRoute(name, this, changeover, target, candidate, gatePassed, gates, liveGeneration);
        const switched = [production.service, ...(production.ingress ? [production.ingress] : [])];
        const live = <T>(value: pulumi.Input<T>) => pulumi.all([production.service.metadata, value]).apply(([, v]) => v as T);

        // 6b. Bake: production proven for keepWarmSeconds while the previous generation still runs; a failure moves
        //     the selector back to it and fails the update (before the promotion; the engine deletes nothing).
        const baked: pulumi.Resource[] = [];
        if (spec.keepWarmSeconds > 0) {
            const access = createBakeAccess(name, this, changeover, target);
            const bakeRun = {
                image: probeImage,
                host: `${changeover.stableName()}.${ns}.svc`,
                port: target.servicePort,
                serverName,
                credentialSecret: candidate.credentialSecret.metadata.name,
                credentialKey: "credential",
                tlsSecret: candidate.tlsSecretName,
            };
            baked.push(createBakeJob(name, this, changeover, target, probes, bakeRun, access, switched));
        }

        // 7. Promote: production accepts both credentials now; the stable Secret's `current` moves to the new one.
        const promotion = promoteCredential(name, this, changeover, reference, candidate.secrets, [...switched, ...baked]);

        // 8. Continuous monitor against production with what callers use (`current`, read at each run): its first
        //    create waits for the first promotion; later it follows the promotion without a change of its own.
        createMonitor(
            name,
            this,
            changeover,
            target,
            probes,
            {
                image: probeImage,
                generation: live(changeover.identity.id),
                host: `${changeover.stableName()}.${ns}.svc`,
                port: target.servicePort,
                serverName,
                credentialSecret: reference.metadata.name,
                credentialKey: "current",
                tlsSecret: live(candidate.tlsSecretName),
            },
            [promotion],
        );

        // 9. Retire: nothing to write. The old Deployment is a pending delete the engine runs after this update
        //    succeeded; each old pod sleeps drainSeconds in preStop, after endpoints dropped it, then stops (I6).
        return {
            url: production.ingress ? `https://${spec.certificate.domains[0]!}` : `https://${changeover.stableName()}.${ns}.svc:${target.servicePort}`,
            testUrl: `https://${previewHost}:${target.servicePort}`,
            generation: live(gatePassed),
            imageId: image.reference,
            imageCreatedAt: image.createdAt,
            certificate: candidate.tlsSecretName,
            certNotAfter: candidate.secrets.certNotAfter,
            credentialCreatedAt: candidate.secrets.credentialCreatedAt,
            credential: candidate.secrets.credential,
            caCertPem: ca ? ca.certPem : null,
        };
    }
}

/** The generation both gates passed; a disagreement is refused by the switch like any other generation. */
function bothPassed(a: pulumi.Output<string>, b: pulumi.Output<string>): pulumi.Output<string> {
    return pulumi.all([a, b]).apply(([x, y]) => (x === y ? x : `${x}|${y}`));
}

/** Where the deployer reaches the preview Service: its load-balancer address, or the in-cluster name. */
function previewAddressOf(preview: { status: pulumi.Output<{ loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } }> }, target: KubernetesArgs, inCluster: string): pulumi.Output<string> {
    return preview.status.apply((status) => {
        const ingress = target.previewServiceType === "LoadBalancer" ? status?.loadBalancer?.ingress?.[0] : undefined;
        return ingress?.ip ?? ingress?.hostname ?? inCluster;
    });
}
