// @ts-check
// repave's policies, kept apart from the PolicyPack so tests can call each rule directly.
"use strict";

const DAY = 86_400_000;

/** @param {Record<string, any> | undefined} props */
function tagsOf(props) {
    return (props && (props.tags || props.labels || (props.metadata && props.metadata.labels))) || {};
}

/**
 * Where a resource says how old its image is: the local Generation's input, the AWS launch template's tag, or the
 * Kubernetes Deployment's annotation.
 */
function imageCreatedAt(props) {
    const tags = tagsOf(props);
    const annotations = (props.metadata && props.metadata.annotations) || {};
    return props.imageCreatedAt || tags["repave:image-created-at"] || annotations["repave.dev/image-created-at"];
}

const frontDoorTypes = new Set([
    "pulumi-nodejs:dynamic/local:FrontDoor",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/listener:Listener",
    "gcp:compute/globalAddress:GlobalAddress",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    "gcp:compute/uRLMap:URLMap",
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy",
]);

function isFrontDoor(type, props) {
    return frontDoorTypes.has(type) || tagsOf(props)["repave:role"] === "front-door" || tagsOf(props)["repave.dev/role"] === "front-door";
}

const awsTls12Policies = /^ELBSecurityPolicy-(TLS13-1-[23]-|TLS-1-2-|FS-1-2-)/;

/** Properties that hold key material or credentials, and the resources whose provider schema already secrets them. */
const secretProps = ["keyPem", "privateKey", "privateKeyPem", "caKeyPem", "credential", "password", "token", "adminToken", "frontDoorToken"];
const schemaSecretTypes = new Set([
    "aws:secretsmanager/secretVersion:SecretVersion",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "kubernetes:core/v1:Secret",
]);

/** @type {import("@pulumi/policy").ResourceValidationPolicy[]} */
const policies = [
    {
        name: "repave-image-max-age",
        description: "A generation runs an image no older than maxImageAgeDays: repave onto patched images.",
        configSchema: { properties: { maxImageAgeDays: { type: "number", default: 30 } } },
        validateResource: (args, reportViolation) => {
            const createdAt = imageCreatedAt(args.props);
            if (!createdAt) return;
            const max = args.getConfig().maxImageAgeDays;
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
            const max = args.getConfig().maxCertLifetimeDays;
            let days;
            if (args.type === "pulumi-nodejs:dynamic/local:Generation") days = args.props.certLifetimeDays;
            if (args.type === "kubernetes:cert-manager.io/v1:Certificate" && args.props.spec && args.props.spec.duration) {
                const m = /^(\d+)h$/.exec(String(args.props.spec.duration));
                if (m) days = Number(m[1]) / 24;
            }
            if (typeof days === "number" && days > max) {
                reportViolation(`certificate lifetime ${days} days exceeds ${max}: shorten certificate.lifetimeDays.`);
            }
        },
    },
    {
        name: "repave-tls-min-1-2",
        description: "Every listener and proxy refuses TLS below 1.2.",
        validateResource: (args, reportViolation) => {
            const p = args.props;
            if (args.type === "aws:lb/listener:Listener" && (p.protocol === "HTTPS" || p.protocol === "TLS")) {
                if (!awsTls12Policies.test(String(p.sslPolicy || ""))) {
                    reportViolation(`listener sslPolicy "${p.sslPolicy || "(default)"}" allows TLS below 1.2: use ELBSecurityPolicy-TLS13-1-2-2021-06.`);
                }
            }
            if (args.type === "gcp:compute/sSLPolicy:SSLPolicy" && !["TLS_1_2", "TLS_1_3"].includes(p.minTlsVersion)) {
                reportViolation(`SSL policy minTlsVersion "${p.minTlsVersion || "(default TLS_1_0)"}" is below TLS 1.2: set TLS_1_2.`);
            }
            if (args.type === "pulumi-nodejs:dynamic/local:FrontDoor" && p.minTlsVersion && !["TLSv1.2", "TLSv1.3"].includes(p.minTlsVersion)) {
                reportViolation(`front door minTlsVersion ${p.minTlsVersion} is below TLS 1.2.`);
            }
        },
    },
    {
        name: "repave-front-door-protected",
        description: "Front-door resources (load balancer, listeners, addresses) are protected: a repave may never replace or delete them.",
        enforcementLevel: "advisory",
        validateResource: (args, reportViolation) => {
            // The local target is a development stand-in that `pulumi destroy` must be able to remove.
            if (args.type === "pulumi-nodejs:dynamic/local:FrontDoor") return;
            if (isFrontDoor(args.type, args.props) && !args.opts.protect) {
                reportViolation(`front-door resource ${args.name} is not protected: set protect: true so no deploy can replace or delete it (I4).`);
            }
        },
    },
    {
        name: "repave-secrets-are-secret",
        description: "Private keys and credentials are Pulumi secrets, never plain in state.",
        validateResource: (args, reportViolation) => {
            if (schemaSecretTypes.has(args.type)) return;
            const secretOutputs = new Set(args.opts.additionalSecretOutputs || []);
            for (const key of Object.keys(args.props)) {
                let value;
                try {
                    value = args.props[key];
                } catch {
                    continue; // unknown until the update: nothing to judge yet
                }
                const looksSecret = secretProps.includes(key) || (typeof value === "string" && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value));
                if (looksSecret && value !== undefined && !secretOutputs.has(key)) {
                    reportViolation(`${args.name}.${key} holds key material or a credential but is not a secret output: add it to additionalSecretOutputs.`);
                }
            }
        },
    },
    {
        name: "repave-no-wildcard-actions",
        description: "Instance roles grant specific actions, never wildcards.",
        validateResource: (args, reportViolation) => {
            if (!["aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"].includes(args.type)) return;
            const doc = typeof args.props.policy === "string" ? JSON.parse(args.props.policy) : args.props.policy;
            const statements = [].concat((doc && doc.Statement) || []);
            for (const s of statements) {
                const actions = [].concat(s.Action || []);
                const wild = actions.filter((a) => a === "*" || /:\*$/.test(a));
                if (s.Effect !== "Deny" && wild.length > 0) {
                    reportViolation(`${args.name} allows wildcard actions ${wild.join(", ")}: list the actions the instances need.`);
                }
            }
        },
    },
];

module.exports = { policies };
