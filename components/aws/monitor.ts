// The continuous monitor on AWS: the same synthetic transactions as the gate (components/probes.ts, the one
// runner, positive and negative), run against production by a scheduled Lambda, with a CloudWatch alarm on any
// failed run. It is stable: its settings name the API's secret, never a generation's credential, and it reads
// AWSCURRENT on every run, so it follows the credential's promotion after the switch without being touched.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { namedFrontDoorOptions, type Changeover } from "../changeover.ts";
import { statusMatches } from "../spec.ts";
import type { AwsTarget } from "./args.ts";
import { stableTags } from "./frontDoor.ts";
import { AWS_NAME_MAX } from "./names.ts";
import { moduleFile } from "../module-file.ts";

const PROBES = moduleFile("../probes.ts", import.meta.url);

/** Node flags stripTypeScriptTypes as experimental and would print that on every deploy; silence only this call. */
function stripTypes(code: string): string {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, never called unbound
    const emitWarning = process.emitWarning;
    process.emitWarning = () => undefined;
    try {
        return stripTypeScriptTypes(code);
    } finally {
        process.emitWarning = emitWarning;
    }
}

const handler = `// repave monitor: the probe suite against production, once per schedule; a throw counts as a failed run.
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { readFileSync } from "node:fs";
import { runProbeSuite, summarize } from "./probes.mjs";

const suite = JSON.parse(readFileSync(new URL("./suite.json", import.meta.url), "utf8"));
const secrets = new SecretsManagerClient({});

export async function handler() {
    // AWSCURRENT said out loud: the role may read only that label (secretsmanager:VersionStage).
    const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.REPAVE_SECRET_ARN, VersionStage: "AWSCURRENT" }));
    const endpoint = { host: process.env.REPAVE_HOST, port: Number(process.env.REPAVE_PORT), serverName: process.env.REPAVE_SERVER_NAME };
    const report = await runProbeSuite(endpoint, suite, SecretString);
    console.log(JSON.stringify({ api: process.env.REPAVE_API, passed: report.passed, results: report.results }));
    if (!report.passed) throw new Error("repave monitor: " + summarize(report));
    return { passed: true, probes: report.results.length };
}
`;

/**
 * @internal The Lambda's code: the shared probe runner made JavaScript by Node's own type stripping (probes.ts
 * needs only `statusMatches` from the spec, shipped on its own so zod stays out of the bundle), the suite as JSON.
 */
export function monitorCode(suite: { positive: unknown[]; negative: unknown[] }): Record<string, string> {
    const probes = stripTypes(readFileSync(PROBES, "utf8")).replace(/from "\.\/spec\.ts"/, 'from "./spec.mjs"');
    if (!probes.includes('from "./spec.mjs"')) throw new Error("monitor: components/probes.ts no longer imports ./spec.ts as expected");
    return {
        "index.mjs": handler,
        "probes.mjs": probes,
        "spec.mjs": stripTypes(`export ${statusMatches.toString()}\n`),
        "suite.json": JSON.stringify(suite, null, 2),
    };
}

/** EventBridge schedules run at most once a minute: the spec's probe interval, rounded up to whole minutes. */
function schedule(intervalSeconds: number): { expression: string; periodSeconds: number } {
    const minutes = Math.max(1, Math.ceil(intervalSeconds / 60));
    return { expression: `rate(${minutes} minute${minutes === 1 ? "" : "s"})`, periodSeconds: minutes * 60 };
}

/** @internal */
export interface Monitor {
    fn: aws.lambda.Function;
    alarm: aws.cloudwatch.MetricAlarm;
}

/**
 * @internal The monitor of production, with what callers use: the store's AWSCURRENT. Created after the first
 * promotion (`after`), so it never probes before anything serves; later repaves leave it untouched.
 */
/**
 * @internal The monitor runs inside the VPC when production does not take everyone: an internal load balancer, or
 * `clientCidrs` without 0.0.0.0/0 (a Lambda outside a VPC calls from AWS's public ranges).
 */
export function monitorInVpc(target: AwsTarget): boolean {
    return target.internal || !target.clientCidrs.some((c) => c === "0.0.0.0/0" || c === "::/0");
}

export function createMonitor(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    target: AwsTarget,
    live: { secretArn: pulumi.Input<string>; host: pulumi.Input<string>; albSecurityGroupId: pulumi.Input<string> },
    after: pulumi.Resource[],
): Monitor {
    const spec = target.spec;
    const inVpc = monitorInVpc(target);
    // One name for the function, its role, its schedule and (derived) its log group and alarm: the tightest limit.
    const name = changeover.stableName("monitor", Math.min(AWS_NAME_MAX.lambda, AWS_NAME_MAX.role, AWS_NAME_MAX.rule));
    const tags = stableTags(changeover);
    const opts = namedFrontDoorOptions(parent, { dependsOn: after });

    const logGroup = new aws.cloudwatch.LogGroup(`${prefix}-monitor-logs`, { name: `/aws/lambda/${name}`, retentionInDays: 30, tags }, opts);
    const role = new aws.iam.Role(
        `${prefix}-monitor-role`,
        {
            name,
            description: `repave ${spec.name}: continuous probes`,
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags,
        },
        opts,
    );
    const policy = new aws.iam.RolePolicy(
        `${prefix}-monitor-policy`,
        {
            role: role.name,
            policy: pulumi.jsonStringify({
                Version: "2012-10-17",
                Statement: [
                    { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [pulumi.interpolate`${logGroup.arn}:*`] },
                    {
                        Sid: "ReadCurrentCredential",
                        Effect: "Allow",
                        Action: ["secretsmanager:GetSecretValue"],
                        Resource: [live.secretArn],
                        // Only the label callers use, never a candidate's staged version (AWS Service Authorization
                        // Reference, Secrets Manager: condition key secretsmanager:VersionStage on GetSecretValue).
                        Condition: { StringEquals: { "secretsmanager:VersionStage": "AWSCURRENT" } },
                    },
                ],
            }),
        },
        opts,
    );
    // Inside the VPC when production is not open to everyone: a Lambda outside it has AWS's public addresses, which
    // a narrowed clientCidrs (or an internal ALB) refuses. It runs in the instance subnets (which reach Secrets
    // Manager through NAT or an endpoint) with a security group the ALB admits on the production port.
    let vpc: { subnetIds: pulumi.Input<string>[]; securityGroupIds: pulumi.Input<string>[] } | undefined;
    const vpcDependencies: pulumi.Resource[] = [];
    if (inVpc) {
        const group = new aws.ec2.SecurityGroup(
            `${prefix}-monitor-sg`,
            { name: changeover.stableName("monitor", AWS_NAME_MAX.securityGroup), description: `repave ${spec.name}: continuous probes`, vpcId: target.vpcId, tags },
            opts,
        );
        new aws.vpc.SecurityGroupEgressRule(
            `${prefix}-monitor-out-https`,
            { securityGroupId: group.id, ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0", description: "Secrets Manager and an internet-facing ALB", tags },
            opts,
        );
        if (target.listenerPort !== 443) {
            new aws.vpc.SecurityGroupEgressRule(
                `${prefix}-monitor-out-listener`,
                { securityGroupId: group.id, ipProtocol: "tcp", fromPort: target.listenerPort, toPort: target.listenerPort, cidrIpv4: "0.0.0.0/0", description: "the production listener", tags },
                opts,
            );
        }
        new aws.vpc.SecurityGroupIngressRule(
            `${prefix}-alb-in-monitor`,
            { securityGroupId: live.albSecurityGroupId, ipProtocol: "tcp", fromPort: target.listenerPort, toPort: target.listenerPort, referencedSecurityGroupId: group.id, description: "the monitor", tags },
            opts,
        );
        // The ENI permissions a VPC Lambda needs (AWS managed policy AWSLambdaVPCAccessExecutionRole; Lambda docs,
        // "Giving Lambda functions access to resources in an Amazon VPC").
        vpcDependencies.push(
            new aws.iam.RolePolicyAttachment(`${prefix}-monitor-vpc-access`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole" }, opts),
        );
        vpc = { subnetIds: target.instanceSubnetIds, securityGroupIds: [group.id] };
    }
    const code = monitorCode({ positive: spec.probes.positive, negative: spec.probes.negative });
    const fn = new aws.lambda.Function(
        `${prefix}-monitor`,
        {
            name,
            description: `repave ${spec.name}: synthetic transactions against production`,
            runtime: aws.lambda.Runtime.NodeJS22dX,
            architectures: ["arm64"],
            handler: "index.handler",
            code: new pulumi.asset.AssetArchive(Object.fromEntries(Object.entries(code).map(([file, text]) => [file, new pulumi.asset.StringAsset(text)]))),
            role: role.arn,
            timeout: 60,
            memorySize: 256,
            environment: {
                variables: {
                    REPAVE_API: spec.name,
                    REPAVE_HOST: live.host,
                    REPAVE_PORT: String(target.listenerPort),
                    REPAVE_SERVER_NAME: target.probeServerName,
                    REPAVE_SECRET_ARN: live.secretArn,
                },
            },
            ...(vpc ? { vpcConfig: vpc } : {}),
            tags,
        },
        { ...opts, dependsOn: [...after, policy, logGroup, ...vpcDependencies] },
    );
    const every = schedule(spec.probes.intervalSeconds);
    const rule = new aws.cloudwatch.EventRule(
        `${prefix}-monitor-schedule`,
        { name, description: `repave ${spec.name}: run the probes`, scheduleExpression: every.expression, tags },
        opts,
    );
    new aws.lambda.Permission(
        `${prefix}-monitor-invoke`,
        { action: "lambda:InvokeFunction", function: fn.name, principal: "events.amazonaws.com", sourceArn: rule.arn },
        opts,
    );
    new aws.cloudwatch.EventTarget(`${prefix}-monitor-target`, { rule: rule.name, arn: fn.arn }, opts);
    const alarm = new aws.cloudwatch.MetricAlarm(
        `${prefix}-monitor-alarm`,
        {
            name: `${name}-failing`,
            alarmDescription: `repave ${spec.name}: a synthetic transaction failed against production (see the ${name} logs)`,
            namespace: "AWS/Lambda",
            metricName: "Errors",
            dimensions: { FunctionName: fn.name },
            statistic: "Sum",
            period: every.periodSeconds,
            evaluationPeriods: 1,
            threshold: 0,
            comparisonOperator: "GreaterThanThreshold",
            // No data means the monitor itself stopped: that is a failure too.
            treatMissingData: "breaching",
            alarmActions: target.alarmActions,
            okActions: target.alarmActions,
            tags,
        },
        opts,
    );
    return { fn, alarm };
}
