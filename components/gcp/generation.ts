// Everything a GCP repave rebuilds (the "generation" role): its identity and credential, the instance template that
// pins the image, the regional managed instance group, the health check, the backend service and the certificate.
// Each resource keeps one logical name and carries the generation id in its physical name, with
// generationOptions (create-before-delete, replacementTrigger = generation id): the engine creates the candidate
// beside the live generation and deletes the old one only at the end of a successful update, after the switch.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { generationOptions, type Changeover, type LiveCredential } from "../changeover.ts";
import { createGenerationCertificate, type CertificateAuthority } from "./certificates.ts";
import type { GcpArgs } from "./config.ts";
import { GenerationCredential, graceCredential } from "./credential.ts";
import type { PinnedImage } from "./image.ts";
import { Retirement } from "./retirement.ts";

/**
 * Name limits tighter than the RFC 1035 63 characters of every other Compute Engine name (changeover's default):
 *   serviceAccountId  6-30  IAM API: projects.serviceAccounts.create, accountId
 *   baseInstanceName  1-58  Compute API: instanceGroupManagers, baseInstanceName (instances add "-xxxx")
 */
export const GCP_NAME_MAX = { serviceAccountId: 30, baseInstanceName: 58 } as const;

/** The load balancer's health checkers and Google front ends (documented source ranges). */
export const loadBalancerSourceRanges = ["130.211.0.0/22", "35.191.0.0/16"];

export interface GcpGeneration {
    serviceAccount: gcp.serviceaccount.Account;
    credential: GenerationCredential;
    secret: gcp.secretmanager.Secret;
    secretVersion: gcp.secretmanager.SecretVersion;
    secretAccess: gcp.secretmanager.SecretIamMember;
    /** The credential callers held when this generation was built (its own on a first generation): accepted too. */
    previousSecret: gcp.secretmanager.Secret;
    previousVersion: gcp.secretmanager.SecretVersion;
    previousAccess: gcp.secretmanager.SecretIamMember;
    template: gcp.compute.InstanceTemplate;
    healthCheck: gcp.compute.HealthCheck;
    group: gcp.compute.RegionInstanceGroupManager;
    backend: gcp.compute.BackendService;
    /** The same instances behind the test route, with the front door's Cloud Armor allow-list. */
    testBackend: gcp.compute.BackendService;
    /** Certificate Manager certificate, issued through the front door's DNS authorizations (or CA pool). */
    certificate: gcp.certificatemanager.Certificate;
    retirement: Retirement;
}

/** GCP labels: lower-case keys without ':' (changeover.tags uses `repave:api`). */
export function gcpLabels(tags: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(tags).map(([k, v]) => [k.replace(/[^a-z0-9_-]/g, "-"), v.toLowerCase().replace(/[^a-z0-9_-]/g, "-")]));
}

/** The network tag the front door's firewall rule admits health checks and load-balancer traffic to. */
export const networkTag = (api: string): string => `repave-${api}`;

export function createGeneration(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    image: PinnedImage,
    live: LiveCredential | null,
    authority: CertificateAuthority,
    testAllowList: gcp.compute.SecurityPolicy,
): GcpGeneration {
    const { spec, identity } = changeover;
    const opts = (extra: pulumi.CustomResourceOptions = {}) => generationOptions(parent, changeover, extra);
    const labels = gcpLabels(changeover.tags);
    const project = target.project;
    const seconds = (s: number) => Math.max(1, Math.ceil(s));

    // Identity: one service account per generation, so a generation's instances can read only their own secrets.
    // Account ids are at most 30 characters: the API part of the name is cut to fit.
    const serviceAccount = new gcp.serviceaccount.Account(
        `${name}-service-account`,
        {
            project,
            accountId: changeover.name(undefined, GCP_NAME_MAX.serviceAccountId),
            displayName: `repave ${spec.name} generation ${identity.id}`,
        },
        opts(),
    );

    // Credentials: this generation's own, minted once, and the one callers hold now (the store's `latest`), both in
    // secrets of this generation's own, kept only there and as Pulumi secrets (I8). A first generation has no
    // previous credential: its second secret holds its own (Secret Manager refuses an empty payload).
    const credential = new GenerationCredential(
        `${name}-credential`,
        { api: spec.name, generation: identity.id, previous: live ? pulumi.secret(live.current) : null },
        opts(),
    );
    const member = pulumi.interpolate`serviceAccount:${serviceAccount.email}`;
    const holder = (suffix: string, data: pulumi.Input<string>) => {
        const secret = new gcp.secretmanager.Secret(`${name}-${suffix}-secret`, { project, secretId: changeover.name(suffix), replication: { auto: {} }, labels }, opts());
        const version = new gcp.secretmanager.SecretVersion(`${name}-${suffix}-version`, { secret: secret.name, secretData: pulumi.secret(data) }, opts());
        // Least privilege: accessor on this generation's secret only, for this generation's account only.
        const access = new gcp.secretmanager.SecretIamMember(
            `${name}-${suffix}-access`,
            { project, secretId: secret.secretId, role: "roles/secretmanager.secretAccessor", member },
            opts(),
        );
        return { secret, version, access };
    };
    const own = holder("credential", credential.value);
    const previous = holder("previous", graceCredential(credential));

    // Compute: the template pins the image by self-link; the instances learn their generation, port and secret
    // from metadata (see README: what the image must do).
    const template = new gcp.compute.InstanceTemplate(
        `${name}-instance-template`,
        {
            project,
            name: changeover.name(),
            machineType: target.machineType,
            disks: [{ sourceImage: image.selfLink, boot: true, autoDelete: true }],
            networkInterfaces: [{ network: target.network, ...(target.subnetwork ? { subnetwork: target.subnetwork } : {}) }],
            serviceAccount: { email: serviceAccount.email, scopes: ["cloud-platform"] },
            tags: [networkTag(spec.name)],
            labels,
            metadata: {
                "repave-api": spec.name,
                "repave-generation": identity.id,
                "repave-port": String(spec.port),
                "repave-health-path": spec.healthCheck.path,
                "repave-domains": spec.certificate.domains.join(","),
                "repave-credential-secret": own.version.name,
                "repave-previous-credential-secret": previous.version.name,
                // A new service account's accessor grant takes a while to apply everywhere (IAM docs, "Access change
                // propagation": typically 2 minutes, up to 7 or more): the image retries its secret reads this long
                // before it gives up, so a first boot does not fail and get autohealed in a loop.
                "repave-secret-wait-seconds": "600",
                "block-project-ssh-keys": "TRUE",
                "enable-oslogin": "TRUE",
            },
        },
        opts({ dependsOn: [own.access, previous.access] }),
    );

    // Health: GCP wants the timeout no longer than the interval, in whole seconds. The checker sends the API's name
    // as Host (unset, it sends the load balancer's IP: compute API, HealthCheck.httpHealthCheck.host), so even an
    // app that checks Host on its health path too stays healthy; the contract exempts that path anyway.
    const interval = seconds(spec.healthCheck.intervalSeconds);
    const healthCheck = new gcp.compute.HealthCheck(
        `${name}-health-check`,
        {
            project,
            name: changeover.name(),
            checkIntervalSec: interval,
            timeoutSec: Math.min(seconds(spec.healthCheck.timeoutSeconds), interval),
            healthyThreshold: spec.healthCheck.healthyThreshold,
            unhealthyThreshold: 2,
            httpHealthCheck: { port: spec.port, requestPath: spec.healthCheck.path, host: spec.certificate.domains[0]! },
        },
        opts(),
    );

    // Capacity: the candidate starts with spec.capacity instances (>= the live one's, which has the same spec) and
    // the create waits until the group is STABLE, so the gate never probes a half-built generation.
    const group = new gcp.compute.RegionInstanceGroupManager(
        `${name}-instance-group`,
        {
            project,
            region: target.region,
            name: changeover.name(),
            baseInstanceName: changeover.name(undefined, GCP_NAME_MAX.baseInstanceName),
            versions: [{ name: identity.id, instanceTemplate: template.selfLinkUnique }],
            targetSize: spec.capacity,
            namedPorts: [{ name: "http", port: spec.port }],
            autoHealingPolicies: { healthCheck: healthCheck.selfLink, initialDelaySec: seconds(spec.healthCheck.graceSeconds) },
            waitForInstances: true,
            waitForInstancesStatus: "STABLE",
        },
        opts({ customTimeouts: { create: `${seconds(spec.healthCheck.graceSeconds) + 900}s` } }),
    );

    // The backend service is what the URL maps point at: the test route before the gate, production after.
    // Connection draining gives in-flight requests spec.drainSeconds when instances leave it (I6).
    const backendArgs = (suffix: string | undefined, securityPolicy: pulumi.Input<string> | undefined): gcp.compute.BackendServiceArgs => ({
        project,
        name: changeover.name(suffix),
        loadBalancingScheme: "EXTERNAL_MANAGED",
        protocol: "HTTP",
        portName: "http",
        timeoutSec: 30,
        connectionDrainingTimeoutSec: Math.round(spec.drainSeconds),
        healthChecks: healthCheck.selfLink,
        backends: [{ group: group.instanceGroup, balancingMode: "UTILIZATION", capacityScaler: 1 }],
        logConfig: { enable: true, sampleRate: 1 },
        ...(securityPolicy ? { securityPolicy } : {}),
    });
    const backend = new gcp.compute.BackendService(`${name}-backend-service`, backendArgs(undefined, undefined), opts());
    // The test route's own backend (same instances, same health check) carries the test allow-list: Cloud Armor
    // is set per backend service, and production's must stay open to clientele.
    const testBackend = new gcp.compute.BackendService(`${name}-test-backend-service`, backendArgs("test", testAllowList.selfLink), opts());

    // Certificate: one per generation (I5), never replaced in place while a map entry names it (pulumi/pulumi#6350):
    // a new name per generation, the test map's entry takes it before the gate, the production map's entry moves to
    // it in the switch, and the old one is deleted after the update, by then unreferenced (certificates.ts).
    const certificate = createGenerationCertificate(name, parent, changeover, target, authority, labels);

    const retirement = new Retirement(
        `${name}-retirement`,
        {
            api: spec.name,
            generation: identity.id,
            backendService: backend.selfLink,
            waitSeconds: target.propagationSeconds + Math.ceil(spec.drainSeconds),
        },
        opts(),
    );

    return {
        serviceAccount,
        credential,
        secret: own.secret,
        secretVersion: own.version,
        secretAccess: own.access,
        previousSecret: previous.secret,
        previousVersion: previous.version,
        previousAccess: previous.access,
        template,
        healthCheck,
        group,
        backend,
        testBackend,
        certificate,
        retirement,
    };
}
