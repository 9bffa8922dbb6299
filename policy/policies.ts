// repave's policies, kept apart from the PolicyPack (index.cjs) so tests can call each rule the way the policy host
// does. Each rule names the real resource types of every target (the provider SDKs' type tokens) and reads the
// props as the host hands them: secrets unwrapped, values unknown in a preview throwing when read.
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { imageCreatedAtKeys, isFrontDoorUrn, localResourceType, secretsIn } from "./model.ts";

const DAY = 86_400_000;
type Props = Record<string, unknown>;
const text = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v) ?? "");

/** A value the host could not know yet (a preview): reading it throws; undefined here, and the update checks again. */
function known<T>(read: () => T): T | undefined {
    try {
        return read();
    } catch (err) {
        if ((err as Error)?.constructor?.name === "UnknownValueError") return undefined;
        throw err;
    }
}

/** Tags, labels or Kubernetes labels as a map; an AWS Auto Scaling group's tags are a list of {key, value}. */
function tagsOf(props: Props): Record<string, string> {
    const raw = known(() => props["tags"] ?? props["labels"] ?? (props["metadata"] as Props | undefined)?.["labels"]);
    if (Array.isArray(raw)) return Object.fromEntries(raw.flatMap((t: { key?: unknown; value?: unknown }) => (typeof t?.key === "string" ? [[t.key, String(t.value)]] : [])));
    return raw && typeof raw === "object" ? (raw as Record<string, string>) : {};
}

/** Where a resource says how old its image is: the local Generation's input, a launch template's tag, a Deployment's annotation. */
function imageCreatedAt(props: Props): string | undefined {
    const annotations = known(() => (props["metadata"] as Props | undefined)?.["annotations"] as Record<string, string> | undefined) ?? {};
    const own = known(() => props["imageCreatedAt"]);
    return (typeof own === "string" ? own : undefined) ?? tagsOf(props)[imageCreatedAtKeys.tag] ?? annotations[imageCreatedAtKeys.annotation];
}

/** A Go duration (`2160h0m0s`, `90h30m`, `1.5h`; what cert-manager writes back) in hours, or undefined. */
export function goDurationHours(text: string): number | undefined {
    const unit: Record<string, number> = { h: 1, m: 1 / 60, s: 1 / 3600, ms: 1 / 3_600_000, us: 1 / 3_600_000_000, "µs": 1 / 3_600_000_000, ns: 1 / 3_600_000_000_000 };
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
    return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

const awsListenerTypes = new Set(["aws:lb/listener:Listener", "aws:alb/listener:Listener"]);
const awsTls12Policies = /^ELBSecurityPolicy-(TLS13-1-[23]-|TLS-1-2-|FS-1-2-)/;
/** Proxies that terminate TLS with GCP's default SSL policy (which allows TLS 1.0) unless one is attached. */
const gcpTlsProxyTypes = new Set(["gcp:compute/targetHttpsProxy:TargetHttpsProxy", "gcp:compute/targetSslProxy:TargetSslProxy", "gcp:compute/regionTargetHttpsProxy:RegionTargetHttpsProxy"]);

/** Resources whose provider schema already makes the secret fields secret. */
const schemaSecretTypes = new Set(["aws:secretsmanager/secretVersion:SecretVersion", "gcp:secretmanager/secretVersion:SecretVersion", "kubernetes:core/v1:Secret"]);

/**
 * Each place below `value` that holds a value shaped like a secret, with the kinds it looks like. The host hands a
 * rule every secret unwrapped, so what tells a plain value from a secret one is the resource's own word: the
 * provider's schema (schemaSecretTypes) or its additionalSecretOutputs.
 */
function plainSecrets(value: unknown, path: string, depth = 0): Array<[string, string[]]> {
    if (depth > 32) return [];
    if (typeof value === "string") {
        const kinds = secretsIn(value);
        return kinds.length > 0 ? [[path, kinds]] : [];
    }
    if (value === null || typeof value !== "object") return [];
    const found: Array<[string, string[]]> = [];
    for (const key of Object.keys(value)) {
        const child = known(() => (value as Props)[key]);
        found.push(...plainSecrets(child, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, depth + 1));
    }
    return found;
}

/** IAM statements as the provider takes them: a JSON string or a document object. */
interface Statement {
    Effect?: unknown;
    Action?: unknown;
    NotAction?: unknown;
}

function statementsOf(doc: unknown): Statement[] {
    const parsed: unknown = typeof doc === "string" ? JSON.parse(doc) : doc;
    if (!parsed || typeof parsed !== "object") return [];
    const statements = known(() => (parsed as Props)["Statement"]);
    return ([] as unknown[]).concat(statements ?? []).filter((s): s is Statement => !!s && typeof s === "object");
}

/** Why a statement grants more than named actions, or undefined. Reads only Effect, Action and NotAction: a Resource unknown in a preview does not stop the check. */
function broadGrant(s: Statement): string | undefined {
    if (known(() => s.Effect) === "Deny") return undefined;
    const notAction = known(() => s.NotAction);
    if (notAction !== undefined) return `NotAction ${JSON.stringify(notAction)} (allows every other action)`;
    const actions = ([] as unknown[]).concat(known(() => s.Action) ?? []);
    const wild = actions.filter((a): a is string => typeof a === "string" && a.includes("*"));
    return wild.length > 0 ? `wildcard actions ${wild.join(", ")}` : undefined;
}

/** AWS-managed policies that grant whole services or everything. */
const broadManagedPolicy = /^arn:aws[a-z-]*:iam::aws:policy\/(?:.*\/)?(AdministratorAccess|PowerUserAccess|IAMFullAccess|[A-Za-z0-9]*FullAccess(?:V2)?)$/;
/** GCP's basic roles: every permission of a project. */
const gcpBasicRoles = new Set(["roles/owner", "roles/editor", "roles/viewer"]);
/** Every GCP IAM member and binding type (`gcp:projects/iAMMember:IAMMember`, `gcp:secretmanager/secretIamMember:...`). */
const gcpIamTypes = /^gcp:[a-z]+\/[a-zA-Z]*iam(member|binding):/i;

/** Where each IAM resource type keeps its policy documents. */
function iamDocuments(type: string, props: Props): unknown[] {
    switch (type) {
        case "aws:iam/rolePolicy:RolePolicy":
        case "aws:iam/userPolicy:UserPolicy":
        case "aws:iam/groupPolicy:GroupPolicy":
        case "aws:iam/policy:Policy":
            return [props["policy"]];
        case "aws:iam/role:Role":
            return ([] as Array<{ policy?: unknown }>).concat((props["inlinePolicies"] as Array<{ policy?: unknown }> | undefined) ?? []).map((p) => p.policy);
        default:
            return [];
    }
}

/** Where each attachment type names a managed policy. */
function attachedPolicies(type: string, props: Props): unknown[] {
    if (/^aws:iam\/(role|user|group)?[pP]olicyAttachment:/.test(type)) return [props["policyArn"]];
    if (type === "aws:iam/role:Role") return ([] as unknown[]).concat(props["managedPolicyArns"] ?? []);
    if (type === "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive" || type === "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive") {
        return ([] as unknown[]).concat(props["policyArns"] ?? []);
    }
    return [];
}

export const policies: ResourceValidationPolicy[] = [
    {
        name: "repave-image-max-age",
        description: "A generation runs an image no older than maxImageAgeDays: repave onto patched images.",
        configSchema: { properties: { maxImageAgeDays: { type: "number", default: 30 } } },
        validateResource: (args, reportViolation) => {
            const createdAt = imageCreatedAt(args.props);
            if (!createdAt) return;
            const max = args.getConfig<{ maxImageAgeDays: number }>().maxImageAgeDays;
            const days = (Date.now() - Date.parse(createdAt)) / DAY;
            if (days > max) {
                reportViolation(`image built ${createdAt} is ${days.toFixed(1)} days old (max ${max}): publish a patched build or lower the image's age.`);
            }
        },
    },
    {
        name: "repave-cert-lifetime",
        description: "Certificates the target issues itself live at most maxCertLifetimeDays (rotate often).",
        configSchema: { properties: { maxCertLifetimeDays: { type: "number", default: 90 } } },
        validateResource: (args, reportViolation) => {
            const max = args.getConfig<{ maxCertLifetimeDays: number }>().maxCertLifetimeDays;
            let days: number | undefined;
            // The local target's and the Kubernetes target's self-minted generation certificates (no cert-manager).
            if (localResourceType(args.type) === "Generation") days = known((): unknown => args.props["certLifetimeDays"]) as number | undefined;
            if (args.type === "pulumi-nodejs:dynamic/repave:GenerationSecrets") days = known((): unknown => args.props["lifetimeDays"]) as number | undefined;
            if (args.type === "kubernetes:cert-manager.io/v1:Certificate") {
                const duration = known((): unknown => (args.props["spec"] as Props | undefined)?.["duration"]);
                const hours = typeof duration === "string" ? goDurationHours(duration) : undefined;
                // cert-manager's default when no duration is set is 90 days (2160h).
                days = duration === undefined ? 90 : hours === undefined ? undefined : hours / 24;
                if (typeof duration === "string" && hours === undefined) reportViolation(`certificate duration "${duration}" is not a duration cert-manager reads.`);
            }
            if (typeof days === "number" && days > max) {
                reportViolation(`certificate lifetime ${Math.round(days * 100) / 100} days exceeds ${max}: shorten certificate.lifetimeDays.`);
            }
        },
    },
    {
        name: "repave-tls-min-1-2",
        description: "Every listener and proxy refuses TLS below 1.2.",
        validateResource: (args, reportViolation) => {
            const p = args.props;
            if (awsListenerTypes.has(args.type)) {
                const protocol = known((): unknown => p["protocol"]);
                const policy = known((): unknown => p["sslPolicy"]);
                if ((protocol === "HTTPS" || protocol === "TLS") && policy !== undefined && !awsTls12Policies.test(text(policy))) {
                    reportViolation(`listener sslPolicy "${text(policy)}" allows TLS below 1.2: use ELBSecurityPolicy-TLS13-1-2-2021-06.`);
                }
                if ((protocol === "HTTPS" || protocol === "TLS") && !Object.keys(p).includes("sslPolicy")) {
                    reportViolation(`listener has no sslPolicy: the default (ELBSecurityPolicy-2016-08) allows TLS 1.0; use ELBSecurityPolicy-TLS13-1-2-2021-06.`);
                }
            }
            // Present but unknown in a preview (another resource's self link) counts as attached.
            if (gcpTlsProxyTypes.has(args.type) && !Object.keys(p).includes("sslPolicy")) {
                reportViolation(`${args.name} has no sslPolicy: GCP's default allows TLS 1.0; attach an SSL policy with minTlsVersion TLS_1_2.`);
            }
            if (args.type === "gcp:compute/sSLPolicy:SSLPolicy") {
                const min = known((): unknown => p["minTlsVersion"]);
                if (!["TLS_1_2", "TLS_1_3"].includes(text(min ?? "TLS_1_0"))) {
                    reportViolation(`SSL policy minTlsVersion "${text(min ?? "(default TLS_1_0)")}" is below TLS 1.2: set TLS_1_2.`);
                }
            }
            if (localResourceType(args.type) === "FrontDoor") {
                const min = known((): unknown => p["minTlsVersion"]);
                if (min && !["TLSv1.2", "TLSv1.3"].includes(text(min))) reportViolation(`front door minTlsVersion ${text(min)} is below TLS 1.2.`);
            }
        },
    },
    {
        name: "repave-front-door-protected",
        description: "Front-door resources (the role marker the changeover sets) are protected: a repave may never replace or delete them.",
        enforcementLevel: "advisory",
        validateResource: (args, reportViolation) => {
            // The local target is a development stand-in that `pulumi destroy` must be able to remove.
            if (localResourceType(args.type) !== undefined) return;
            if (isFrontDoorUrn(args.urn) && !args.opts.protect) {
                reportViolation(`front-door resource ${args.name} is not protected: set protect: true so no deploy can replace or delete it (I4).`);
            }
        },
    },
    {
        name: "repave-secrets-are-secret",
        description: "Private keys, credentials and tokens are Pulumi secrets, never plain in state.",
        validateResource: (args, reportViolation) => {
            if (schemaSecretTypes.has(args.type)) return;
            // A value the program made secret stays secret in state; an output the resource declares secret is too.
            const secretOutputs = new Set(args.opts.additionalSecretOutputs);
            for (const key of Object.keys(args.props)) {
                if (secretOutputs.has(key)) continue;
                for (const [path, kinds] of plainSecrets(known((): unknown => args.props[key]), key)) {
                    reportViolation(`${args.name}.${path} holds ${kinds.join(", ")} in plain text: make it a Pulumi secret (pulumi.secret, or additionalSecretOutputs for an output).`);
                }
            }
        },
    },
    {
        name: "repave-no-wildcard-actions",
        description: "Roles grant named actions: no wildcards, no NotAction, no broad managed policies or basic roles.",
        validateResource: (args, reportViolation) => {
            // Unknown in a preview: the host reports the rule as not run (advisory) and the update checks it with values.
            for (const doc of iamDocuments(args.type, args.props)) {
                if (doc === undefined || doc === null || doc === "") continue;
                for (const s of statementsOf(doc)) {
                    const why = broadGrant(s);
                    if (why) reportViolation(`${args.name} allows ${why}: list the actions the instances need.`);
                }
            }
            for (const arn of attachedPolicies(args.type, args.props)) {
                if (typeof arn === "string" && broadManagedPolicy.test(arn)) reportViolation(`${args.name} attaches ${arn}: attach a policy with the actions the instances need.`);
            }
            if (gcpIamTypes.test(args.type)) {
                const role: unknown = args.props["role"];
                if (typeof role === "string" && gcpBasicRoles.has(role)) reportViolation(`${args.name} grants the basic role ${role}: grant a predefined or custom role with the permissions needed.`);
            }
            if (/^kubernetes:rbac.authorization.k8s.io\/v1:(Cluster)?Role$/.test(args.type)) {
                for (const rule of ([] as Array<{ verbs?: unknown; resources?: unknown; apiGroups?: unknown }>).concat((args.props["rules"] as [] | undefined) ?? [])) {
                    const wild = ["verbs", "resources", "apiGroups"].filter((k) => ([] as unknown[]).concat(known(() => rule[k as "verbs"]) ?? []).includes("*"));
                    if (wild.length > 0) reportViolation(`${args.name} grants "*" in ${wild.join(", ")}: name the verbs and resources.`);
                }
            }
        },
    },
];

export type { ResourceValidationArgs };
