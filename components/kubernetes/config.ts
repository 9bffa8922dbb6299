// The Kubernetes target's own settings and the checks a spec must pass before it builds anything. spec.ts's schema
// is strict and knows only the `local` block, so these live under their own stack key, `repave:kubernetes`, keyed
// by API name. Every problem is reported at once, by path, with a hint, as a SpecError.
import { z } from "zod";
import { describeIssue, parsePerApiConfig, type StatelessApiSpec } from "../spec.ts";

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "must be a DNS label: a-z, 0-9 and '-', at most 63 characters" });
const dnsSubdomain = z
    .string()
    .regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, { message: "must be a Kubernetes object name (lower-case DNS subdomain)" });
const serviceType = z.enum(["ClusterIP", "NodePort", "LoadBalancer"]);
/** A Kubernetes resource quantity such as 100m, 0.5, 128Mi or 1G. */
const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/, { message: "must be a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi" });

export const kubernetesArgsSchema = z.strictObject({
    namespace: dnsLabel.default("default"),
    /** The port both Services listen on (the pods serve TLS on spec.port). */
    servicePort: z.number().int().min(1).max(65535).default(443),
    serviceType: serviceType.default("ClusterIP"),
    previewServiceType: serviceType.default("ClusterIP"),
    /** A cert-manager issuer mints each generation's certificate; without it repave mints them from its own CA. */
    certManager: z
        .strictObject({
            issuerName: dnsSubdomain,
            issuerKind: z.enum(["Issuer", "ClusterIssuer"]).default("ClusterIssuer"),
        })
        .optional(),
    /** An Ingress in front of the production Service; its TLS secret moves to each gated generation's. */
    ingress: z
        .strictObject({
            className: dnsSubdomain.optional(),
            annotations: z.record(z.string(), z.string()).default({}),
        })
        .optional(),
    /**
     * false (default): the gate is a Job in the cluster, probing the preview Service. true: the gate runs the same
     * probes from the deploying machine (ProbeGate), which must then reach the preview Service (previewAddress,
     * or previewServiceType LoadBalancer, or a deployer inside the cluster).
     */
    gateFromDeployer: z.boolean().default(false),
    previewAddress: z.string().min(1).optional(),
    /**
     * Secrets (type kubernetes.io/dockerconfigjson, in `namespace`) the API pods, the gate Job and the monitor pull
     * their images with, for a private registry.
     */
    imagePullSecrets: z.array(dnsSubdomain).default([]),
    /** The ServiceAccount the API pods run as (its token is never mounted). Default: the namespace's `default`. */
    serviceAccountName: dnsSubdomain.optional(),
    /**
     * Image of the gate Job and the monitor CronJob: any Node.js >= 22.18 (it runs TypeScript by stripping types),
     * `repository:tag` (resolved to its digest like the API's image) or `repository@sha256:...`. Default: the
     * project's own probe runner beside the API's image, `<the API image's registry>/repave/probe-runner:24`
     * (scripts/kubernetes/build-images.sh builds it; never an image from Docker Hub).
     */
    probeImage: z
        .string()
        .regex(/^[a-z0-9][a-z0-9._:/-]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})$/, {
            message: "must be an image reference with a tag or a digest: repository:tag or repository@sha256:<64 hex>",
        })
        .optional(),
    /**
     * The API pods' numeric user and group (runAsNonRoot needs a numeric user: an image whose USER is a name is
     * refused by the kubelet). Default 65532, the usual non-root uid of minimal images (the sample API's).
     */
    runAsUser: z.number().int().min(1).max(2147483647).default(65532),
    runAsGroup: z.number().int().min(1).max(2147483647).default(65532),
    /**
     * The API container's resources. Requests always (a namespace with a ResourceQuota on requests refuses a pod
     * without them, and the scheduler needs them); limits only when given (a quota on limits.* needs them).
     */
    resources: z
        .strictObject({
            requests: z.strictObject({ cpu: quantity.default("100m"), memory: quantity.default("128Mi") }).prefault({}),
            limits: z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() }).prefault({}),
        })
        .prefault({}),
    /** How long the gate retries while the candidate settles behind the preview Service. */
    gateSettleSeconds: z.number().int().min(0).max(3600).default(120),
    /**
     * Where a failed monitor run is reported, besides the failed Job's Warning Event: a key of a Secret in
     * `namespace` holding a webhook URL (a secret: such URLs carry their token); the runner POSTs a JSON alert
     * with a Slack-style `text` there.
     */
    alertWebhook: z.strictObject({ secretName: dnsSubdomain, key: z.string().regex(/^[-._a-zA-Z0-9]+$/, { message: "must be a Secret key" }).default("url") }).optional(),
    /** Schedule of the monitor CronJob (five cron fields). */
    monitorSchedule: z
        .string()
        .regex(/^(@(hourly|daily|weekly|monthly|yearly)|(\S+\s+){4}\S+)$/, { message: "must be a cron schedule such as */5 * * * *" })
        .default("*/5 * * * *"),
});

export type KubernetesArgsInput = z.input<typeof kubernetesArgsSchema>;
export type KubernetesArgs = z.output<typeof kubernetesArgsSchema>;

const hints: Record<string, string> = {
    namespace: "write an existing namespace, e.g. default or orders",
    servicePort: "use a port between 1 and 65535, e.g. 443",
    serviceType: "choose ClusterIP, NodePort or LoadBalancer",
    previewServiceType: "choose ClusterIP, NodePort or LoadBalancer",
    issuerName: "write the name of a cert-manager Issuer or ClusterIssuer",
    issuerKind: "choose Issuer or ClusterIssuer",
    className: "write an IngressClass name such as nginx",
    probeImage: "name an image with Node.js >= 22.18 by tag or digest, e.g. the project's probe runner pushed to your registry (scripts/kubernetes/build-images.sh), or leave it out for <the API image's registry>/repave/probe-runner:24",
    runAsUser: "a numeric uid other than 0, e.g. 65532",
    runAsGroup: "a numeric gid other than 0, e.g. 65532",
    cpu: "a quantity such as 100m or 0.5",
    memory: "a quantity such as 128Mi or 1Gi",
    imagePullSecrets: "list the names of kubernetes.io/dockerconfigjson Secrets in the namespace",
    serviceAccountName: "write the name of an existing ServiceAccount",
    gateSettleSeconds: "a whole number of seconds, at most 3600",
    monitorSchedule: "write five cron fields, e.g. */5 * * * *",
    secretName: "write the name of a Secret in the namespace holding the webhook URL",
};

/**
 * What a Kubernetes generation is built from beyond the shared spec (generationShape): every field is an input of
 * its Deployment, Secrets, Certificate or gate Jobs (drain in preStop and the grace period, the issuer, where it
 * runs and with what, how the gate reaches it). It goes into the generation id, so a change is a new generation,
 * never an in-place change of the live Deployment (I1) - under `pinned`/`max-age` too.
 */
export function generationShapeOf(spec: StatelessApiSpec, target: KubernetesArgs, probeImage: string): Record<string, unknown> {
    const { namespace, servicePort, certManager, gateFromDeployer, imagePullSecrets, serviceAccountName, gateSettleSeconds, runAsUser, runAsGroup, resources } = target;
    return {
        namespace,
        servicePort,
        certManager: certManager ?? null,
        gateFromDeployer,
        imagePullSecrets,
        serviceAccountName: serviceAccountName ?? null,
        // The pinned reference (a digest), so a new build of the probe runner behind the same tag is a new gate too.
        probeImage,
        gateSettleSeconds,
        runAsUser,
        runAsGroup,
        resources,
        drainSeconds: spec.drainSeconds,
    };
}

/** Validates one API's Kubernetes args against its spec; returns the parsed args or the problems, by path. */
export function checkKubernetesArgs(spec: StatelessApiSpec, raw: unknown, where: { spec: string; args: string }): { args?: KubernetesArgs; problems: string[] } {
    const problems: string[] = [];
    if (spec.image.source !== "container") {
        problems.push(
            `${where.spec}.image.source: the kubernetes target runs container images, not ${spec.image.source} (hint: set image.source to container with repository and tag)`,
        );
    }
    const parsed = kubernetesArgsSchema.safeParse(raw ?? {});
    if (!parsed.success) {
        problems.push(...parsed.error.issues.map((i) => describeIssue(where.args, i, hints)));
        return { problems };
    }
    const args = parsed.data;
    if (args.previewAddress && !args.gateFromDeployer) {
        problems.push(`${where.args}.previewAddress: only the deployer's gate uses it (hint: set gateFromDeployer: true, or remove previewAddress)`);
    }
    return { args, problems };
}

/**
 * Validates the stack's `repave:kubernetes` block (a map from API name to its args; an API may be left out to take
 * every default) against the already validated `repave:apis`. Throws a SpecError listing every problem.
 */
export function parseKubernetesConfig(
    raw: unknown,
    specs: readonly StatelessApiSpec[],
    configKey = "repave:kubernetes",
    apisKey = "repave:apis",
): Record<string, KubernetesArgs> {
    return parsePerApiConfig(raw, specs, checkKubernetesArgs, {
        configKey,
        apisKey,
        required: false,
        missingHint: `key ${configKey} by API name, e.g. ${configKey}: { ${specs[0]?.name ?? "orders"}: { namespace: orders } }`,
    });
}
