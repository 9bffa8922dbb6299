// The GCP target's own settings (project, region, network, listener, TLS profile, monitor) and the checks a spec
// must pass before the GCP target builds anything. spec.ts's schema is strict and knows only the `local` block, so
// these live beside it under their own stack key, `repave:gcp`, keyed by API name. Every problem is reported at
// once, by path, with a hint, as a SpecError - the same shape as a bad `repave:apis`.
import { z } from "zod";
import { describeIssue, parsePerApiConfig, type StatelessApiSpec } from "../spec.ts";

export const gcpArgsSchema = z.strictObject({
    project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { message: "must be a GCP project id such as orders-prod-123" }),
    /** Region of the managed instance groups (the load balancer itself is global). */
    region: z.string().regex(/^[a-z]+-[a-z]+[0-9]+$/, { message: "must be a GCP region such as europe-west1" }),
    network: z.string().min(1).default("default"),
    subnetwork: z.string().min(1).optional(),
    machineType: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: "must be a machine type such as e2-small" }).default("e2-small"),
    /**
     * Port of the test listener: a second forwarding rule on the same global address. The global external
     * Application Load Balancer (EXTERNAL_MANAGED) takes any port; the classic one took only 443 for HTTPS.
     */
    testPort: z
        .number()
        .int()
        .min(1)
        .max(65535)
        .refine((p) => p !== 443, { message: "must differ from 443, the production listener on the same address" })
        .default(8443),
    /**
     * Who may always reach the test listener (a Cloud Armor allow-list on the test backend; everyone else gets 403).
     * Default nobody: with `gateFromRunner` the deploy allows the runner's own address for the gate.
     */
    testListenerCidrs: z
        .array(z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-f:]+\/\d{1,3}$/i, { message: "must be a CIDR such as 203.0.113.0/24" }))
        .max(10, { message: "Cloud Armor takes at most 10 ranges in one rule" })
        .default([]),
    /**
     * Allow the deploying machine's current address (REPAVE_RUNNER_IP, else looked up) through the test listener's
     * Cloud Armor policy for the gate, and remove it after the switch (default true). Needs gcloud on the runner.
     */
    gateFromRunner: z.boolean().default(true),
    /** Pre-configured SSL policy profile; the minimum TLS version is always 1.2. */
    sslPolicyProfile: z.enum(["MODERN", "RESTRICTED"]).default("MODERN"),
    /**
     * How long the gate retries the probes on the test listener: a new load-balancer backend takes minutes to be
     * served, and a fresh Google-managed certificate can take longer (up to an hour) to provision.
     */
    gateSettleSeconds: z.number().int().min(0).max(7200).default(1800),
    /**
     * How long a retired generation stays up after the switch before it is deleted: load-balancer configuration
     * takes a while to reach every Google front end. Added to spec.drainSeconds.
     */
    propagationSeconds: z.number().int().min(0).max(3600).default(120),
    uptimeCheckPeriod: z.enum(["60s", "300s", "600s", "900s"]).default("60s"),
    /**
     * Cloud DNS managed zone (in `project`) that holds the certificate domains: the DNS authorizations' CNAME records
     * are created there. Without it the records are printed (and exported as `dnsAuthorizationRecords`) for your DNS;
     * certificates are issued once they exist.
     */
    dnsZone: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { message: "must be a Cloud DNS managed zone name such as example-com" }).optional(),
    /**
     * A CA Service pool (projects/<p>/locations/<region>/caPools/<pool>) for private certificates, for an API whose
     * callers trust that CA. Unset: public Google-managed certificates, proven by DNS authorization.
     */
    caPool: z
        .string()
        .regex(/^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[a-z0-9-]+\/caPools\/[A-Za-z0-9_-]+$/, { message: "must be a CA pool id: projects/<project>/locations/<region>/caPools/<pool>" })
        .optional(),
    /** The pool's root certificate (PEM), required with `caPool`: the gate trusts it, as your callers must. */
    caRootPem: z.string().includes("-----BEGIN CERTIFICATE-----", { message: "must be a PEM certificate" }).optional(),
    /** Cloud Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) the alert notifies. */
    notificationChannels: z.array(z.string().startsWith("projects/", { message: "must be a channel id: projects/<project>/notificationChannels/<id>" })).default([]),
});

export type GcpArgsInput = z.input<typeof gcpArgsSchema>;
export type GcpArgs = z.output<typeof gcpArgsSchema>;

const hints: Record<string, string> = {
    project: "write the project id (not its name or number), e.g. orders-prod-123",
    region: "write a region, e.g. europe-west1",
    machineType: "write a machine type such as e2-small or n2-standard-2",
    testPort: "pick a free port other than 443, e.g. 8443",
    sslPolicyProfile: "choose MODERN (default) or RESTRICTED",
    gateSettleSeconds: "a whole number of seconds, at most 7200",
    propagationSeconds: "a whole number of seconds, at most 3600",
    uptimeCheckPeriod: "choose 60s, 300s, 600s or 900s",
    notificationChannels: "list channel ids from `gcloud beta monitoring channels list`",
    dnsZone: "write the zone's name (not its DNS name), from `gcloud dns managed-zones list`",
    caPool: "write the pool's full id, from `gcloud privateca pools list --format='value(name)'`",
    testListenerCidrs: "list up to 10 CIDRs, e.g. 10.0.0.0/16 for a runner in the VPC",
    caRootPem: "paste the pool's root CA certificate, from `gcloud privateca roots describe`",
};

/**
 * What a GCP generation is built from beyond the shared spec (generationShape): every field is an input of its
 * instance template, group, health check, backend service or retirement. It goes into the generation id, so a
 * change is a new generation: an instance template is immutable, and under `pinned`/`max-age` the same name with
 * another machine type or network would be a replacement under the same name (409 alreadyExists, I1).
 */
export function generationShapeOf(spec: StatelessApiSpec, target: GcpArgs): Record<string, unknown> {
    const { project, region, network, subnetwork, machineType, propagationSeconds, caPool } = target;
    // `certificates`: how the generation's certificate is issued. A Certificate Manager certificate's `managed`
    // block is ForceNew (terraform-provider-google resource_certificate_manager_certificate.go), so another issuer
    // under the same generation would be a replacement under the same name. It also makes the upgrade from compute
    // ManagedSslCertificates a new generation: its certificate is gated before production serves it.
    const certificates = caPool ? `certificate-manager/ca-pool/${caPool}` : "certificate-manager/dns-authorization";
    return { project, region, network, subnetwork: subnetwork ?? null, machineType, propagationSeconds, drainSeconds: spec.drainSeconds, certificates };
}

/** What the GCP target needs from a spec beyond spec.ts's own rules. `at` is the spec's path in the config. */
export function gcpSpecProblems(spec: StatelessApiSpec, at: string): string[] {
    const problems: string[] = [];
    if (spec.image.source !== "gcp-image-family") {
        problems.push(
            `${at}.image.source: the gcp target boots Compute Engine images, not ${spec.image.source} (hint: set image.source to gcp-image-family with family and project)`,
        );
    }
    spec.certificate.domains.forEach((domain, i) => {
        if (domain.startsWith("*.")) {
            problems.push(`${at}.certificate.domains[${i}]: Google-managed certificates cannot cover a wildcard (hint: list each public name, e.g. api.example.com)`);
        } else if (!domain.includes(".")) {
            problems.push(`${at}.certificate.domains[${i}]: ${domain} is not a public DNS name a Google-managed certificate can prove (hint: list the API's public names, e.g. api.example.com)`);
        }
    });
    if (spec.certificate.domains.length > 100) {
        problems.push(`${at}.certificate.domains: a Google-managed certificate covers at most 100 names (hint: split the API)`);
    }
    const first = spec.probes.positive[0];
    if (first && first.method !== "GET" && first.method !== "POST") {
        problems.push(
            `${at}.probes.positive[0].method: the uptime check repeats the first positive probe and sends only GET or POST, not ${first.method} (hint: put a GET or POST probe first)`,
        );
    }
    return problems;
}

/** Validates one API's GCP args; returns the parsed args or the problems found, by path. */
export function checkGcpArgs(spec: StatelessApiSpec, raw: unknown, where: { spec: string; args: string }): { args?: GcpArgs; problems: string[] } {
    const problems = gcpSpecProblems(spec, where.spec);
    if (raw === undefined || raw === null) {
        problems.push(`${where.args}: missing (hint: add project and region for ${spec.name})`);
        return { problems };
    }
    // Fields that only make sense together, checked on the raw block so they are listed with every other problem.
    const pair = raw as { caPool?: unknown; caRootPem?: unknown };
    const before = problems.length;
    if (pair.caPool !== undefined && pair.caRootPem === undefined) {
        problems.push(`${where.args}.caRootPem: is required with caPool: the gate must trust the private CA (hint: ${hints["caRootPem"]})`);
    }
    const access = raw as { testListenerCidrs?: unknown; gateFromRunner?: unknown };
    if (access.gateFromRunner === false && (!Array.isArray(access.testListenerCidrs) || access.testListenerCidrs.length === 0)) {
        problems.push(`${where.args}.testListenerCidrs: empty while gateFromRunner is false: the gate could not reach the test listener (hint: list the runner's CIDRs, or leave gateFromRunner at true)`);
    }
    if (pair.caRootPem !== undefined && pair.caPool === undefined) problems.push(`${where.args}.caRootPem: is only used with caPool (hint: remove it, or set caPool)`);
    const parsed = gcpArgsSchema.safeParse(raw);
    if (!parsed.success || problems.length > before) {
        if (!parsed.success) problems.push(...parsed.error.issues.map((i) => describeIssue(where.args, i, hints)));
        return { problems };
    }
    return { args: parsed.data, problems };
}

/**
 * Validates the stack's `repave:gcp` block (a map from API name to its GCP args) against the already validated
 * `repave:apis`. Throws a SpecError listing every problem, so a program calls it before it registers anything.
 */
export function parseGcpConfig(raw: unknown, specs: readonly StatelessApiSpec[], configKey = "repave:gcp", apisKey = "repave:apis"): Record<string, GcpArgs> {
    return parsePerApiConfig(raw, specs, checkGcpArgs, {
        configKey,
        apisKey,
        required: true,
        missingHint: `add ${configKey} with one entry per API name, each with project and region`,
    });
}
