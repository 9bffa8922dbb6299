// Physical names as a cloud account (AWS) or project (GCP) sees them, kept across the mocked deploys of a test: a
// name another stack already holds is "already exists", and a name a resource's rules refuse is a validation error.
// The mocks record both instead of throwing (a throw inside a mock leaves the program waiting), and the tests assert
// the records are empty. Each rule names its source.

export interface NameRule {
    /** The input that carries the physical name. */
    field: string;
    min?: number;
    max: number;
    pattern: RegExp;
    /** A prefix the service refuses. */
    forbidden?: RegExp;
    source: string;
}

const alnumHyphen = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const rfc1035 = /^[a-z](?:[-a-z0-9]*[a-z0-9])?$/;

export const AWS_NAME_RULES: Record<string, NameRule[]> = {
    "aws:lb/loadBalancer:LoadBalancer": [
        { field: "name", max: 32, pattern: alnumHyphen, forbidden: /^internal-/, source: "ELB API Reference v2, CreateLoadBalancer: Name" },
    ],
    "aws:lb/targetGroup:TargetGroup": [{ field: "name", max: 32, pattern: alnumHyphen, source: "ELB API Reference v2, CreateTargetGroup: Name" }],
    "aws:ec2/securityGroup:SecurityGroup": [{ field: "name", max: 255, pattern: /^[\w .:/()#,@[\]+=&;{}!$*-]+$/, source: "EC2 API Reference, CreateSecurityGroup: GroupName" }],
    "aws:iam/role:Role": [{ field: "name", max: 64, pattern: /^[\w+=,.@-]+$/, source: "IAM API Reference, CreateRole: RoleName" }],
    "aws:iam/instanceProfile:InstanceProfile": [{ field: "name", max: 128, pattern: /^[\w+=,.@-]+$/, source: "IAM API Reference, CreateInstanceProfile: InstanceProfileName" }],
    "aws:ec2/launchTemplate:LaunchTemplate": [{ field: "name", min: 3, max: 128, pattern: /^[a-zA-Z0-9().\-/_]+$/, source: "EC2 API Reference, CreateLaunchTemplate: LaunchTemplateName" }],
    "aws:autoscaling/group:Group": [{ field: "name", max: 255, pattern: /^[^:]+$/, source: "EC2 Auto Scaling API Reference, CreateAutoScalingGroup: AutoScalingGroupName" }],
    "aws:secretsmanager/secret:Secret": [{ field: "name", max: 512, pattern: /^[A-Za-z0-9/_+=.@-]+$/, source: "Secrets Manager API Reference, CreateSecret: Name" }],
    "aws:lambda/function:Function": [{ field: "name", max: 64, pattern: /^[A-Za-z0-9_-]+$/, source: "Lambda API Reference, CreateFunction: FunctionName" }],
    "aws:cloudwatch/eventRule:EventRule": [{ field: "name", max: 64, pattern: /^[.\-_A-Za-z0-9]+$/, source: "EventBridge API Reference, PutRule: Name" }],
    "aws:cloudwatch/logGroup:LogGroup": [{ field: "name", max: 512, pattern: /^[.\-_/#A-Za-z0-9]+$/, source: "CloudWatch Logs API Reference, CreateLogGroup: logGroupName" }],
    "aws:cloudwatch/metricAlarm:MetricAlarm": [{ field: "name", max: 255, pattern: /^.+$/, source: "CloudWatch API Reference, PutMetricAlarm: AlarmName" }],
};

/** Compute Engine names are RFC 1035 labels of at most 63 characters (Compute Engine docs, "Resource naming convention"). */
const compute = (source: string): NameRule[] => [{ field: "name", max: 63, pattern: rfc1035, source: `Compute API, ${source}: name (RFC 1035, 63)` }];

export const GCP_NAME_RULES: Record<string, NameRule[]> = {
    "gcp:compute/globalAddress:GlobalAddress": compute("globalAddresses"),
    "gcp:compute/sSLPolicy:SSLPolicy": compute("sslPolicies"),
    "gcp:compute/firewall:Firewall": compute("firewalls"),
    "gcp:compute/uRLMap:URLMap": compute("urlMaps"),
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": compute("targetHttpsProxies"),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": compute("globalForwardingRules"),
    "gcp:compute/instanceTemplate:InstanceTemplate": compute("instanceTemplates"),
    "gcp:compute/healthCheck:HealthCheck": compute("healthChecks"),
    "gcp:compute/backendService:BackendService": compute("backendServices"),
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": compute("sslCertificates"),
    "gcp:compute/securityPolicy:SecurityPolicy": compute("securityPolicies"),
    "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager": [
        ...compute("regionInstanceGroupManagers"),
        // Instances are named baseInstanceName + "-" + 4 characters, within 63.
        { field: "baseInstanceName", max: 58, pattern: rfc1035, source: "Compute API, instanceGroupManagers: baseInstanceName (1-58)" },
    ],
    "gcp:serviceaccount/account:Account": [
        { field: "accountId", min: 6, max: 30, pattern: rfc1035, source: "IAM API, projects.serviceAccounts.create: accountId (6-30, RFC 1035)" },
    ],
    ...Object.fromEntries(
        ["certificate:Certificate", "certificateMap:CertificateMap", "certificateMapEntry:CertificateMapEntry", "dnsAuthorization:DnsAuthorization", "certificateIssuanceConfig:CertificateIssuanceConfig"].map(
            (t) => [
                `gcp:certificatemanager/${t}`,
                [{ field: "name", max: 63, pattern: /^[a-z][a-z0-9-]*$/, source: `Certificate Manager API, ${t.split(":")[1]}: name ([a-zA-Z][a-zA-Z0-9_-]*, 1-64 by pulumi-gcp's schema; held to RFC 1035, 63, like the rest)` }],
            ],
        ),
    ),
    "gcp:secretmanager/secret:Secret": [{ field: "secretId", max: 255, pattern: /^[A-Za-z0-9_-]+$/, source: "Secret Manager API, projects.secrets.create: secretId" }],
};

/**
 * Resources that cannot change: a different input is a replacement, created before the old one is deleted, under
 * the same name - which the cloud refuses.
 */
export const GCP_IMMUTABLE: Record<string, string> = {
    "gcp:compute/instanceTemplate:InstanceTemplate":
        "instance templates cannot be updated (Compute API: instanceTemplates has insert and delete, no update; terraform-provider-google " +
        "resource_compute_instance_template.go marks every argument ForceNew): a changed template under the same name is 409 alreadyExists",
    "gcp:certificatemanager/certificate:Certificate":
        "a certificate's managed block (domains, dnsAuthorizations, issuanceConfig) and scope are ForceNew (terraform-provider-google " +
        "resource_certificate_manager_certificate.go): another issuer under the same name is a replacement, refused as alreadyExists",
};

export class CloudNames {
    private readonly owners = new Map<string, string>();
    private readonly shapes = new Map<string, string>();
    /** What the cloud would have refused: "already exists" across stacks, and names outside a resource's rules. */
    readonly refusals: string[] = [];

    private readonly rules: Record<string, NameRule[]>;
    private readonly immutable: Record<string, string>;

    constructor(rules: Record<string, NameRule[]>, immutable: Record<string, string> = {}) {
        this.rules = rules;
        this.immutable = immutable;
    }

    /** A create in `stack` (the engine's stack; a physical name is per account or project, whatever the stack). */
    create(type: string, inputs: Record<string, unknown>, stack: string): void {
        for (const rule of this.rules[type] ?? []) {
            const name = inputs[rule.field];
            if (typeof name !== "string") continue;
            if (name.length > rule.max || name.length < (rule.min ?? 1) || !rule.pattern.test(name) || rule.forbidden?.test(name)) {
                this.refusals.push(`${type} ${rule.field} "${name}" (${name.length} characters) breaks ${rule.source}`);
            }
            const key = `${type}::${rule.field}::${name}`;
            const owner = this.owners.get(key);
            if (owner !== undefined && owner !== stack) this.refusals.push(`${type} "${name}" of stack ${stack}: already exists (stack ${owner} has it)`);
            this.owners.set(key, owner ?? stack);
            const why = this.immutable[type];
            if (why !== undefined) {
                const shape = JSON.stringify(inputs);
                const before = this.shapes.get(key);
                if (before !== undefined && before !== shape) this.refusals.push(`${type} "${name}": ${why}`);
                this.shapes.set(key, shape);
            }
        }
    }
}
