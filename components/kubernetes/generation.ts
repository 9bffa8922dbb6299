// Everything a Kubernetes repave rebuilds (the "generation" role): the credential Secret, the certificate (a
// cert-manager Certificate, or a TLS Secret repave minted), the Deployment that runs the pinned image, and its
// PodDisruptionBudget. Each keeps one logical name and carries the generation id in its object name and labels,
// with generationOptions (create-before-delete): the candidate runs beside the live generation, which the engine
// deletes only at the end of a successful update, after the production Service moved (I1, I3).
import * as kubernetes from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { generationOptions, type Changeover } from "../changeover.ts";
import type { KubernetesArgs } from "./config.ts";
import type { PinnedImage } from "./image.ts";
import { GenerationSecrets, graceCredential, type MintedCa } from "./mint.ts";

export const labelKeys = { api: "repave.dev/api", generation: "repave.dev/generation" } as const;

/** Kubernetes labels for a generation (changeover.tags' `repave:` keys are not valid label keys). */
export function generationLabels(changeover: Changeover): Record<string, string> {
    return {
        [labelKeys.api]: changeover.spec.name,
        [labelKeys.generation]: changeover.identity.id,
        "app.kubernetes.io/name": changeover.spec.name,
        "app.kubernetes.io/managed-by": "repave",
    };
}

/** The name the probes ask for (SNI and Host): a wildcard domain gets a concrete name under it. */
export const probeServerName = (domain: string): string => (domain.startsWith("*.") ? `repave-probe.${domain.slice(2)}` : domain);

/** Where the pods find their certificate and key (the API serves TLS itself; see README). */
export const tlsMountPath = "/var/run/repave/tls";

export interface KubernetesGeneration {
    secrets: GenerationSecrets;
    credentialSecret: kubernetes.core.v1.Secret;
    /** The cert-manager Certificate, or the TLS Secret repave minted. */
    certificate: kubernetes.apiextensions.CustomResource | kubernetes.core.v1.Secret;
    /** The name of the Secret holding tls.crt / tls.key (and ca.crt when the issuer provides it). */
    tlsSecretName: pulumi.Output<string>;
    deployment: kubernetes.apps.v1.Deployment;
    /** Only at capacity > 1 (see below). */
    disruptionBudget: kubernetes.policy.v1.PodDisruptionBudget | undefined;
}

export function createGeneration(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: KubernetesArgs,
    image: PinnedImage,
    ca: MintedCa | undefined,
    live: pulumi.Output<string | null>,
): KubernetesGeneration {
    const { spec, identity } = changeover;
    const opts = (extra: pulumi.CustomResourceOptions = {}) => generationOptions(parent, changeover, extra);
    const labels = generationLabels(changeover);
    const metadata = (suffix?: string) => ({ name: changeover.name(suffix), namespace: target.namespace, labels });
    const seconds = (s: number) => Math.max(1, Math.ceil(s));
    const selector = { [labelKeys.api]: spec.name, [labelKeys.generation]: identity.id };

    // Credential (and, without cert-manager, key + certificate) minted when this generation is created.
    const secrets = new GenerationSecrets(
        `${name}-secrets`,
        {
            api: spec.name,
            generation: identity.id,
            domains: spec.certificate.domains,
            lifetimeDays: spec.certificate.lifetimeDays,
            ca: ca ? pulumi.secret({ certPem: ca.certPem, keyPem: ca.keyPem }) : null,
            previous: live,
        },
        opts(),
    );
    // Its own credential and the one callers held when it was built (its own again on a first generation), pinned
    // here for its life: a pod that restarts after the promotion reads the same two.
    const credentialSecret = new kubernetes.core.v1.Secret(
        `${name}-credential`,
        {
            metadata: metadata("credential"),
            type: "Opaque",
            stringData: { credential: pulumi.secret(secrets.credential), previous: graceCredential(secrets) },
        },
        opts(),
    );

    // Certificate: a new key pair per generation either way. cert-manager's rotationPolicy Always makes it mint a
    // new private key even if a Secret of that name existed; the provider waits for the Certificate to be Ready.
    // cert-manager never deletes the Secret it writes (unless the whole cluster runs it with
    // --enable-certificate-owner-ref, which repave cannot count on), so a retired generation would leave its
    // private key behind. repave creates that Secret itself, empty: cert-manager's issuer writes the key and
    // certificate into it (a server-side apply with force), and the engine deletes it with the generation - after
    // the Certificate, which depends on it, so cert-manager cannot write it again.
    const certManagerSecret = target.certManager
        ? new kubernetes.core.v1.Secret(
              `${name}-certificate-secret`,
              { metadata: metadata("tls"), type: "kubernetes.io/tls", stringData: { "tls.crt": "", "tls.key": "" } },
              opts(),
          )
        : undefined;
    const certificate = target.certManager
        ? new kubernetes.apiextensions.CustomResource(
              `${name}-certificate`,
              {
                  apiVersion: "cert-manager.io/v1",
                  kind: "Certificate",
                  metadata: { ...metadata("tls"), annotations: { "pulumi.com/waitFor": "condition=Ready" } },
                  spec: {
                      secretName: changeover.name("tls"),
                      secretTemplate: { labels },
                      dnsNames: spec.certificate.domains,
                      duration: `${spec.certificate.lifetimeDays * 24}h`,
                      privateKey: { rotationPolicy: "Always", algorithm: "ECDSA", size: 256 },
                      issuerRef: { name: target.certManager.issuerName, kind: target.certManager.issuerKind, group: "cert-manager.io" },
                  },
              },
              opts({ dependsOn: certManagerSecret ? [certManagerSecret] : [] }),
          )
        : new kubernetes.core.v1.Secret(
              `${name}-certificate`,
              {
                  metadata: metadata("tls"),
                  type: "kubernetes.io/tls",
                  stringData: {
                      "tls.crt": secrets.certPem.apply((pem) => pem ?? ""),
                      "tls.key": pulumi.secret(secrets.keyPem.apply((pem) => pem ?? "")),
                      "ca.crt": ca ? ca.certPem : "",
                  },
              },
              opts(),
          );
    const tlsSecretName = certificate instanceof kubernetes.core.v1.Secret ? certificate.metadata.name : certificate.metadata.apply(() => changeover.name("tls"));

    const health = {
        httpGet: { path: spec.healthCheck.path, port: "https", scheme: "HTTPS", httpHeaders: [{ name: "Host", value: probeServerName(spec.certificate.domains[0]!) }] },
        periodSeconds: seconds(spec.healthCheck.intervalSeconds),
        timeoutSeconds: seconds(spec.healthCheck.timeoutSeconds),
    };
    // Compute: the pinned image, ready only when spec.healthCheck passes spec.healthyThreshold times; on deletion
    // each pod waits spec.drainSeconds (preStop) so endpoints drop it before it stops taking requests (I6).
    const deployment = new kubernetes.apps.v1.Deployment(
        `${name}-deployment`,
        {
            metadata: { ...metadata(), annotations: { "repave.dev/image-tag": `${image.repository}:${image.tag}`, "repave.dev/image-created-at": image.createdAt } },
            spec: {
                replicas: spec.capacity,
                selector: { matchLabels: selector },
                progressDeadlineSeconds: seconds(spec.healthCheck.graceSeconds),
                template: {
                    metadata: { labels },
                    spec: {
                        automountServiceAccountToken: false,
                        ...(target.serviceAccountName ? { serviceAccountName: target.serviceAccountName } : {}),
                        ...(target.imagePullSecrets.length > 0 ? { imagePullSecrets: target.imagePullSecrets.map((n) => ({ name: n })) } : {}),
                        terminationGracePeriodSeconds: Math.ceil(spec.drainSeconds) + 30,
                        // A numeric user: with runAsNonRoot alone the kubelet refuses an image whose USER is a name
                        // (it cannot verify a name is not root) and one without USER (root).
                        securityContext: { runAsNonRoot: true, runAsUser: target.runAsUser, runAsGroup: target.runAsGroup, seccompProfile: { type: "RuntimeDefault" } },
                        // Spread the generation's pods over nodes and zones, but never leave one unscheduled for it
                        // (ScheduleAnyway): a single-node cluster, or capacity above the node count, still deploys.
                        topologySpreadConstraints: ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((topologyKey) => ({
                            maxSkew: 1,
                            topologyKey,
                            whenUnsatisfiable: "ScheduleAnyway",
                            labelSelector: { matchLabels: selector },
                        })),
                        containers: [
                            {
                                name: "api",
                                image: image.reference,
                                ports: [{ name: "https", containerPort: spec.port }],
                                resources: {
                                    requests: target.resources.requests,
                                    ...(Object.keys(target.resources.limits).length > 0 ? { limits: target.resources.limits } : {}),
                                },
                                env: [
                                    { name: "REPAVE_GENERATION", value: identity.id },
                                    { name: "REPAVE_PORT", value: String(spec.port) },
                                    { name: "REPAVE_DOMAINS", value: spec.certificate.domains.join(",") },
                                    { name: "HEALTH_PATH", value: spec.healthCheck.path },
                                    { name: "REPAVE_TLS_CERT_FILE", value: `${tlsMountPath}/tls.crt` },
                                    { name: "REPAVE_TLS_KEY_FILE", value: `${tlsMountPath}/tls.key` },
                                    { name: "REPAVE_CREDENTIAL", valueFrom: { secretKeyRef: { name: credentialSecret.metadata.name, key: "credential" } } },
                                    { name: "REPAVE_PREVIOUS_CREDENTIAL", valueFrom: { secretKeyRef: { name: credentialSecret.metadata.name, key: "previous" } } },
                                ],
                                // One check, three uses: ready for traffic, alive (a wedged pod is restarted:
                                // repair), started (liveness waits until the pod first answered). The kubelet
                                // probes the pod IP, so the probe names the API as Host; the contract exempts the
                                // health path from the Host check anyway.
                                readinessProbe: { ...health, successThreshold: spec.healthCheck.healthyThreshold, failureThreshold: 3 },
                                livenessProbe: { ...health, failureThreshold: 3 },
                                startupProbe: { ...health, failureThreshold: Math.max(1, Math.ceil(spec.healthCheck.graceSeconds / seconds(spec.healthCheck.intervalSeconds))) },
                                ...(spec.drainSeconds > 0 ? { lifecycle: { preStop: { sleep: { seconds: Math.ceil(spec.drainSeconds) } } } } : {}),
                                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                                volumeMounts: [
                                    { name: "tls", mountPath: tlsMountPath, readOnly: true },
                                    { name: "tmp", mountPath: "/tmp" },
                                ],
                            },
                        ],
                        volumes: [
                            { name: "tls", secret: { secretName: tlsSecretName } },
                            { name: "tmp", emptyDir: {} },
                        ],
                    },
                },
            },
        },
        opts({ dependsOn: [certificate], customTimeouts: { create: `${seconds(spec.healthCheck.graceSeconds) + 300}s` } }),
    );

    // Voluntary disruptions (node drains) take at most one pod of the generation at a time. At capacity 1 there is
    // no budget: maxUnavailable 1 would protect nothing, and minAvailable 1 would block every drain of that node
    // forever (the eviction API refuses, `kubectl drain` retries until someone deletes the budget). A drain then
    // stops the one pod and the Deployment starts another elsewhere: capacity 1 accepts that gap by definition.
    const disruptionBudget =
        spec.capacity > 1
            ? new kubernetes.policy.v1.PodDisruptionBudget(`${name}-disruption-budget`, { metadata: metadata(), spec: { maxUnavailable: 1, selector: { matchLabels: selector } } }, opts())
            : undefined;

    return { secrets, credentialSecret, certificate, tlsSecretName, deployment, disruptionBudget };
}
