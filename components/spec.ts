// The one StatelessApi spec every target accepts. A target adds only its own block (`local`, `aws`, ...);
// everything about generations, certificates, credentials, probes and the changeover is said here once.
import { z } from "zod";

const dnsName = z
    .string()
    .regex(/^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
        message: "must be a lower-case DNS name such as api.example.com",
    });

const duration = z.string().regex(/^\d+(s|m|h|d)$/, { message: "must be a duration such as 90s, 15m, 12h or 7d" });

const statusExpectation = z.union([
    z.number().int().min(100).max(599),
    z.enum(["2xx", "3xx", "4xx", "5xx"]),
    z.array(z.number().int().min(100).max(599)).min(1),
]);

/** One synthetic transaction: a request sent through the front door and what a correct API answers. */
export const probeSchema = z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: "must be kebab-case, e.g. hello-authenticated" }),
    method: z.enum(["GET", "POST", "PUT", "DELETE", "HEAD"]).default("GET"),
    path: z.string().startsWith("/", { message: "must start with /" }),
    /** valid: the generation's credential; none: no Authorization header; invalid: a wrong credential. */
    auth: z.enum(["valid", "none", "invalid"]).default("valid"),
    body: z.string().optional(),
    contentType: z.string().default("application/json"),
    expectStatus: statusExpectation,
    expectBodyContains: z.string().optional(),
});

/**
 * The adversarial requests the gate adds to every suite (components/probes.ts builds them at run time, from the
 * credentials it is given): near misses of a credential a caller could guess or truncate, other schemes, parser
 * tricks, and what a penetration tester tries first against bearer auth. Listed here so a spec can name one in
 * `probes.adversarial.skip`; probes.ts must implement exactly these (its table is typed by this list).
 */
export const adversarialCases = [
    "near-miss-prefix-half",
    "near-miss-first-char",
    "near-miss-truncated-by-1",
    "near-miss-extended-by-1",
    "near-miss-doubled",
    "near-miss-flipped-first",
    "near-miss-flipped-middle",
    "near-miss-flipped-last",
    "near-miss-case-swapped",
    "near-miss-nbsp-padded",
    "near-miss-obs-fold",
    "near-miss-null-terminated",
    "near-miss-percent-encoded",
    "near-miss-base64",
    "near-miss-quoted",
    "scheme-basic",
    "scheme-basic-password",
    "scheme-token",
    "scheme-lowercase-bearer",
    "scheme-missing",
    "scheme-glued",
    "scheme-empty-bearer",
    "scheme-null-byte",
    "scheme-api-key-header",
    "header-duplicated",
    "header-comma-list",
    "jwt-alg-none",
    "oversized-credential",
    "path-dot-segment",
    "path-double-slash",
    "path-trailing-slash",
    "method-head-unauthenticated",
    "revoked-credential",
] as const;
export type AdversarialCase = (typeof adversarialCases)[number];

const defaultPositive: ProbeInput[] = [
    { name: "hello-authenticated", path: "/v1/hello", auth: "valid", expectStatus: 200, expectBodyContains: "hello" },
    {
        name: "echo-authenticated",
        method: "POST",
        path: "/v1/echo",
        auth: "valid",
        body: '{"ping":"repave"}',
        expectStatus: 200,
        expectBodyContains: "repave",
    },
];
const defaultNegative: ProbeInput[] = [
    { name: "hello-unauthenticated", path: "/v1/hello", auth: "none", expectStatus: [401, 403] },
    { name: "hello-wrong-credential", path: "/v1/hello", auth: "invalid", expectStatus: [401, 403] },
    { name: "echo-malformed", method: "POST", path: "/v1/echo", auth: "valid", body: "{not json", expectStatus: "4xx" },
];

export const repavePolicySchema = z.discriminatedUnion("policy", [
    /** A new generation on every deploy: the default, and what the three Rs ask for. */
    z.strictObject({ policy: z.literal("every-deploy") }),
    /** A new generation when the image changes or the live one is older than maxAge. */
    z.strictObject({ policy: z.literal("max-age"), maxAge: duration }),
    /** Keep the generation until the image or the spec changes (e.g. to roll back to a known image). */
    z.strictObject({ policy: z.literal("pinned") }),
]);

export const imageSourceSchema = z.discriminatedUnion("source", [
    /** A folder of versioned builds (local target): the newest build marked patched wins. */
    z.strictObject({ source: z.literal("local-builds"), path: z.string().min(1), version: z.string().optional() }),
    /** An AMI: an SSM public parameter, or the most recent image matching owners and a name pattern. */
    z.strictObject({
        source: z.literal("aws-ami"),
        ssmParameter: z.string().startsWith("/").optional(),
        owners: z.array(z.string()).optional(),
        namePattern: z.string().optional(),
        /** One AMI by id, instead of the newest: set by `repave rollback` (REPAVE_IMAGE_PINS), not by hand. */
        pinned: z.string().regex(/^ami-[0-9a-f]+$/).optional(),
    }),
    /** A GCE image family, pinned by self-link. */
    z.strictObject({
        source: z.literal("gcp-image-family"),
        family: z.string().min(1),
        project: z.string().min(1),
        /** One image by self-link or name, instead of the family's newest: set by `repave rollback`. */
        pinned: z.string().min(1).optional(),
    }),
    /** A container image tag, pinned by registry digest at deploy time. */
    z.strictObject({
        source: z.literal("container"),
        repository: z.string().min(1),
        tag: z.string().default("latest"),
        /** One manifest by digest (`sha256:...`, or `repository@sha256:...`), instead of the tag's: set by `repave rollback`. */
        pinned: z.string().regex(/(^|@)sha256:[0-9a-f]{64}$/).optional(),
    }),
]);

export const statelessApiSpecSchema = z.strictObject({
    name: z.string().regex(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/, {
        message: "must be 3-24 characters of a-z, 0-9 and '-', starting with a letter (it prefixes cloud resource names)",
    }),
    image: imageSourceSchema,
    /** The port the API listens on inside each instance/pod (the local target lets the OS pick one per process). */
    port: z.number().int().min(1).max(65535).default(8080),
    healthCheck: z
        .strictObject({
            path: z.string().startsWith("/").default("/healthz"),
            intervalSeconds: z.number().positive().max(300).default(1),
            timeoutSeconds: z.number().positive().max(60).default(2),
            healthyThreshold: z.number().int().min(1).max(10).default(2),
            /** How long a generation may take to become healthy before the update fails. */
            graceSeconds: z.number().positive().max(3600).default(60),
        })
        .prefault({}),
    capacity: z.number().int().min(1).max(1000).default(2),
    certificate: z
        .strictObject({
            domains: z.array(dnsName).min(1).default(["localhost"]),
            lifetimeDays: z.number().int().min(1).max(397).default(30),
        })
        .prefault({}),
    credentials: z
        .strictObject({
            /** A bearer token minted per generation; the old one dies with its generation. */
            kind: z.literal("bearer").default("bearer"),
        })
        .prefault({}),
    probes: z
        .strictObject({
            positive: z.array(probeSchema).min(1).prefault(defaultPositive),
            negative: z.array(probeSchema).min(1).prefault(defaultNegative),
            /**
             * The adversarial negative probes run on every gate; a case may be skipped only by name, and the gate's
             * results still list it as skipped. Skip only what the API's contract allows (e.g. RFC 9110 makes the
             * scheme name case-insensitive, so an API may rightly accept `bearer`: scheme-lowercase-bearer).
             */
            adversarial: z.strictObject({ skip: z.array(z.enum(adversarialCases)).default([]) }).prefault({}),
            /** Production probes repeat on this interval during the bake window and in the continuous monitor. */
            intervalSeconds: z.number().positive().max(3600).default(1),
        })
        .prefault({}),
    /** Deregistration delay: the longest an old generation waits for in-flight requests before it stops. */
    drainSeconds: z.number().min(0).max(3600).default(10),
    /** Bake window after the switch: production probes run and any failure switches traffic back. */
    keepWarmSeconds: z.number().min(0).max(3600).default(2),
    repave: repavePolicySchema.prefault({ policy: "every-deploy" }),
    /** Image scan gate: the most findings of each severity a candidate may carry and still be promoted. */
    scan: z
        .strictObject({
            maxCritical: z.number().int().min(0).default(0),
            maxHigh: z.number().int().min(0).optional(),
            /**
             * The scanner's report for this deploy's image (repave's summary or Trivy JSON), which must name the
             * pinned image; local builds carry their own, bound to their content hash.
             */
            reportFile: z.string().min(1).optional(),
            /** Without a report the gate refuses the image (fail closed); true lets it through, said in the gate's outputs. */
            allowMissingReport: z.boolean().default(false),
        })
        .prefault({}),
    local: z
        .strictObject({
            /** Production listener of the front door (a stable loopback port). */
            port: z.number().int().min(1024).max(65535).default(8443),
            /** Test listener: the candidate answers here before it takes traffic. */
            testPort: z.number().int().min(1024).max(65535).default(8444),
            /** How long the local CA signs before its successor (published one period earlier) takes over. */
            caRotation: duration.default("90d"),
            /** How often the front door's admin token is replaced (the previous one works until the next rotation). */
            adminTokenRotation: duration.default("30d"),
        })
        .optional(),
});

export type ProbeInput = z.input<typeof probeSchema>;
export type Probe = z.output<typeof probeSchema>;
export type StatelessApiSpecInput = z.input<typeof statelessApiSpecSchema>;
export type StatelessApiSpec = z.output<typeof statelessApiSpecSchema>;
export type RepavePolicy = z.output<typeof repavePolicySchema>;
export type ImageSource = z.output<typeof imageSourceSchema>;

/** Hints by the last path segment: what to write instead. */
const hints: Record<string, string> = {
    name: "use a short kebab-case name such as orders-api",
    image: "set image.source to local-builds, aws-ami, gcp-image-family or container",
    source: "set image.source to local-builds, aws-ami, gcp-image-family or container",
    port: "use a port between 1 and 65535 (front-door ports on the local target: 1024-65535)",
    testPort: "use a free loopback port between 1024 and 65535, different from local.port",
    capacity: "use a whole number of instances from 1 to 1000",
    domains: "list DNS names the certificate covers, e.g. [api.example.com]",
    lifetimeDays: "certificates live 1-397 days; shorter is safer (rotate often)",
    maxAge: "write a duration such as 7d or 12h",
    policy: "choose every-deploy (default), max-age or pinned",
    expectStatus: "write a status code (401), a class (\"4xx\") or a list ([401, 403])",
    skip: "name adversarial cases listed in components/spec.ts (adversarialCases), e.g. scheme-lowercase-bearer",
    allowMissingReport: "true or false (default false: an image without a scan report is refused)",
};

export class SpecError extends Error {
    readonly problems: readonly string[];
    constructor(problems: string[]) {
        super(
            `invalid repave configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); nothing was changed:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "SpecError";
        this.problems = problems;
    }
}

/** Formats a config path: `repave:apis[0].certificate.domains[1]`. */
export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
    return path.reduce<string>(
        (acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : `${acc}.${String(seg)}`),
        prefix,
    );
}

/** One zod issue as `path: message (hint: ...)`; every target's config check words its problems this way. */
export function describeIssue(prefix: string, issue: z.core.$ZodIssue, hintsByField: Record<string, string> = hints): string {
    const where = formatPath(prefix, issue.path);
    const last = [...issue.path].reverse().find((s) => typeof s === "string");
    const unknownKeys = issue.code === "unrecognized_keys" ? issue.keys : [];
    const hint =
        unknownKeys.length > 0
            ? `remove ${unknownKeys.join(", ")} (not a field here; check the spelling)`
            : typeof last === "string"
              ? hintsByField[last]
              : undefined;
    return hint ? `${where}: ${issue.message} (hint: ${hint})` : `${where}: ${issue.message}`;
}

/**
 * Validates a list of API specs, as read from stack config. Every problem is reported at once, by path, before
 * any resource is registered.
 */
export function parseApiSpecs(raw: unknown, configKey = "repave:apis"): StatelessApiSpec[] {
    if (raw === undefined || raw === null) {
        throw new SpecError([`${configKey}: missing (hint: add a list of APIs under ${configKey} in the stack file)`]);
    }
    const result = z.array(statelessApiSpecSchema).min(1).safeParse(raw);
    if (!result.success) {
        throw new SpecError(result.error.issues.map((i) => describeIssue(configKey, i)));
    }
    const specs = result.data;
    const problems: string[] = [];
    const seenNames = new Map<string, number>();
    const seenPorts = new Map<number, string>();
    specs.forEach((spec, i) => {
        const at = `${configKey}[${i}]`;
        const prior = seenNames.get(spec.name);
        if (prior !== undefined) {
            problems.push(`${at}.name: "${spec.name}" is already used by ${configKey}[${prior}] (hint: names are unique per stack)`);
        }
        seenNames.set(spec.name, i);
        if (spec.local) {
            if (spec.local.port === spec.local.testPort) {
                problems.push(`${at}.local.testPort: equals local.port ${spec.local.port} (hint: the test listener needs its own port)`);
            }
            for (const [field, port] of [["port", spec.local.port], ["testPort", spec.local.testPort]] as const) {
                const owner = seenPorts.get(port);
                if (owner !== undefined && owner !== `${at}.local`) {
                    problems.push(`${at}.local.${field}: port ${port} is already used by ${owner} (hint: give each API its own ports)`);
                }
                seenPorts.set(port, `${at}.local`);
            }
        }
        const positiveNames = new Set<string>();
        for (const probe of [...spec.probes.positive, ...spec.probes.negative]) {
            if (positiveNames.has(probe.name)) {
                problems.push(`${at}.probes: probe name "${probe.name}" appears twice (hint: name each probe once)`);
            }
            positiveNames.add(probe.name);
        }
        spec.probes.negative.forEach((probe, j) => {
            const notRefusals = nonRefusals(probe.expectStatus);
            if (notRefusals.length > 0) {
                problems.push(
                    `${at}.probes.negative[${j}].expectStatus: a negative probe must expect a refusal (4xx), not ${notRefusals.join(", ")}: ` +
                        `a success, a redirect or a server error would count as refused (hint: expect 401, 403, [401, 403] or "4xx")`,
                );
            }
        });
        if (!spec.probes.positive.some((p) => p.auth === "valid")) {
            problems.push(
                `${at}.probes.positive: no probe uses auth: valid (hint: add one request a rightful caller makes; the adversarial probes attack that request with near misses of its credential)`,
            );
        }
    });
    if (problems.length > 0) {
        throw new SpecError(problems);
    }
    return specs;
}

/** What an expectation accepts beyond 4xx: a negative probe that passes on a 2xx, 3xx or 5xx proves nothing. */
function nonRefusals(expected: Probe["expectStatus"]): string[] {
    const listed = typeof expected === "string" ? [expected] : Array.isArray(expected) ? expected : [expected];
    return listed.filter((e) => (typeof e === "string" ? e !== "4xx" : e < 400 || e > 499)).map(String);
}

export function statusMatches(status: number, expected: Probe["expectStatus"]): boolean {
    if (typeof expected === "number") return status === expected;
    if (Array.isArray(expected)) return expected.includes(status);
    return Math.floor(status / 100) === Number(expected[0]);
}

/** Parses a spec duration ("90s", "15m", "12h", "7d") into milliseconds. */
export function durationMs(text: string): number {
    const match = /^(\d+)(s|m|h|d)$/.exec(text);
    if (!match) throw new Error(`not a duration: ${text} (write e.g. 7d, 12h, 15m or 90s)`);
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
    return Number(match[1]) * unit;
}

/**
 * A target's per-API config block (`repave:gcp`, `repave:kubernetes`, ...): a map from API name to that API's
 * target args, checked against the already validated `repave:apis`. Every problem is collected by path and thrown
 * as one SpecError, before anything is registered.
 */
export function parsePerApiConfig<T>(
    raw: unknown,
    specs: readonly StatelessApiSpec[],
    check: (spec: StatelessApiSpec, raw: unknown, where: { spec: string; args: string }) => { args?: T; problems: string[] },
    options: { configKey: string; apisKey?: string; required: boolean; missingHint: string },
): Record<string, T> {
    const { configKey, apisKey = "repave:apis" } = options;
    const absent = raw === undefined || raw === null;
    if ((absent && options.required) || (!absent && (typeof raw !== "object" || Array.isArray(raw)))) {
        throw new SpecError([`${configKey}: ${absent ? "missing" : "not a map"} (hint: ${options.missingHint})`]);
    }
    const entries = (raw ?? {}) as Record<string, unknown>;
    const problems: string[] = [];
    const result: Record<string, T> = {};
    specs.forEach((spec, i) => {
        const checked = check(spec, entries[spec.name], { spec: `${apisKey}[${i}]`, args: `${configKey}.${spec.name}` });
        problems.push(...checked.problems);
        if (checked.args !== undefined) result[spec.name] = checked.args;
    });
    for (const key of Object.keys(entries)) {
        if (!specs.some((s) => s.name === key)) {
            problems.push(`${configKey}.${key}: no API named ${key} in ${apisKey} (hint: key each entry by an API's name: ${specs.map((s) => s.name).join(", ")})`);
        }
    }
    if (problems.length > 0) throw new SpecError(problems);
    return result;
}
