// What the AWS target needs beyond the shared spec - the existing network, DNS, ports, the app's start command -
// and the one check that refuses a bad combination before any resource is registered (I7). Every problem is
// listed at once, by path, with a hint, in the same SpecError the shared spec throws.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { z } from "zod";
import { describeIssue as describeWith, parseApiSpecs, SpecError, type ImageSource, type StatelessApiSpec } from "../spec.ts";

/**
 * The AWS-specific arguments. The network and DNS ids may be Outputs (a VPC from another stack); plain values are
 * checked before anything is registered, Outputs only by AWS when it creates the resources. Ports, CIDRs and
 * domains are plain: they decide names and rules and must be known to be checked.
 */
export interface AwsTargetArgs {
    /** The existing VPC, `vpc-...`. */
    readonly vpcId: pulumi.Input<string>;
    /** At least two subnets in different availability zones for the load balancer (public for a public API). */
    readonly subnetIds: readonly pulumi.Input<string>[];
    /** Subnets for the instances (default `subnetIds`): private ones need a NAT or VPC endpoints for Secrets Manager. */
    readonly instanceSubnetIds?: readonly pulumi.Input<string>[];
    /**
     * Route53 hosted zone of the domains: when set, the certificates are validated through it and each domain gets
     * an alias to the load balancer. Without it, the ACM validation CNAMEs must exist in your DNS (ACM derives them
     * from the domain and the account, so they are the same for every generation) and you point the names yourself.
     */
    readonly hostedZoneId?: pulumi.Input<string>;
    /** Names the certificate covers and the probes ask for (default: `spec.certificate.domains`). */
    readonly domains?: readonly string[];
    /** Production HTTPS listener port (default 443). Port 80 always redirects to it. */
    readonly listenerPort?: number;
    /** Test HTTPS listener port (default 8443): the candidate answers here before it takes traffic. */
    readonly testListenerPort?: number;
    /** Who may reach the production listener (default everyone: `0.0.0.0/0`). */
    readonly clientCidrs?: readonly string[];
    /**
     * Who may reach the test listener beyond the deploying machine (default nobody: `[]`). With `gateFromRunner`
     * the deploy opens it to the runner's own address for the gate and closes it after the switch.
     */
    readonly testListenerCidrs?: readonly string[];
    /**
     * Open the test listener to the deploying machine's current address (REPAVE_RUNNER_IP, else looked up) for the
     * gate, and close it after the switch (default true): hosted CD runners have no stable address to allow-list.
     * Needs the AWS CLI on the runner. Set false when `testListenerCidrs` already covers the runner.
     */
    readonly gateFromRunner?: boolean;
    /** An internal load balancer (private addresses only, in `subnetIds`) instead of an internet-facing one. */
    readonly internal?: boolean;
    /** EC2 instance type of each generation (default `t3.small`). */
    readonly instanceType?: pulumi.Input<string>;
    /**
     * How an instance starts the API. Without it, the image must ship a `repave-api.service` systemd unit (a golden
     * AMI); with it, user data runs `install` once and runs `start` as that unit. Both run with the instance role,
     * which may read this generation's credential and nothing else.
     */
    readonly app?: { readonly install?: pulumi.Input<string>; readonly start: pulumi.Input<string> };
    /** Attach AmazonSSMManagedInstanceCore for Session Manager access (default false: repave, don't log in). */
    readonly ssmSessionManager?: boolean;
    /** Continuous monitor: the probes every few minutes from a scheduled Lambda, alarmed (default true). */
    readonly monitor?: boolean;
    /** Alarm actions of the monitor (SNS topic ARNs, ...). */
    readonly alarmActions?: readonly pulumi.Input<string>[];
}

export type AwsAmiSource = Extract<ImageSource, { source: "aws-ami" }>;

/** @internal The AWS arguments with defaults applied, after validation. */
export interface AwsTarget {
    spec: StatelessApiSpec;
    image: AwsAmiSource;
    vpcId: pulumi.Input<string>;
    subnetIds: pulumi.Input<string>[];
    instanceSubnetIds: pulumi.Input<string>[];
    hostedZoneId: pulumi.Input<string> | undefined;
    domains: string[];
    /** The name the probes send (SNI and Host): the first domain, a wildcard made concrete. */
    probeServerName: string;
    listenerPort: number;
    testListenerPort: number;
    clientCidrs: string[];
    testListenerCidrs: string[];
    gateFromRunner: boolean;
    internal: boolean;
    instanceType: pulumi.Input<string>;
    app: AwsTargetArgs["app"];
    ssmSessionManager: boolean;
    monitor: boolean;
    alarmActions: pulumi.Input<string>[];
}

const isDeferred = (value: unknown): boolean => pulumi.Output.isInstance(value) || value instanceof Promise;

/** A field that may be an Output: checked with `schema` when its value is known now, left to AWS otherwise. */
function deferrable<T extends z.ZodType>(schema: T) {
    return z.unknown().superRefine((value, ctx) => {
        if (isDeferred(value)) return;
        const result = schema.safeParse(value);
        if (!result.success) {
            for (const issue of result.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
        }
    });
}

const awsId = (prefix: string, example: string) =>
    z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8}([0-9a-f]{9})?$`), { message: `must be an id such as ${example}` });
const port = z.number().int().min(1).max(65535);
const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-f:]+\/\d{1,3}$/i, { message: "must be a CIDR such as 203.0.113.0/24" });
const dnsName = z
    .string()
    .regex(/^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, {
        message: "must be a public lower-case DNS name such as api.example.com (ACM validates it)",
    });

/** @internal */
export const awsTargetArgsSchema = z.strictObject({
    vpcId: deferrable(awsId("vpc", "vpc-0a1b2c3d4e5f60718")),
    subnetIds: z.array(deferrable(awsId("subnet", "subnet-0a1b2c3d4e5f60718"))).min(2, { message: "needs at least 2 subnets" }),
    instanceSubnetIds: z.array(deferrable(awsId("subnet", "subnet-0a1b2c3d4e5f60718"))).min(1).optional(),
    hostedZoneId: deferrable(z.string().regex(/^Z[A-Z0-9]{1,31}$/, { message: "must be a Route53 zone id such as Z0123456789ABCDEFGHIJ" })).optional(),
    domains: z.array(dnsName).min(1).max(10).optional(),
    listenerPort: port.default(443),
    testListenerPort: port.default(8443),
    clientCidrs: z.array(cidr).min(1).default(["0.0.0.0/0"]),
    testListenerCidrs: z.array(cidr).default([]),
    gateFromRunner: z.boolean().default(true),
    internal: z.boolean().default(false),
    instanceType: deferrable(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { message: "must be an instance type such as t3.small" })).optional(),
    app: z
        .strictObject({
            install: deferrable(z.string().min(1)).optional(),
            start: deferrable(z.string().min(1, { message: "must be the command that starts the API" })),
        })
        .optional(),
    ssmSessionManager: z.boolean().default(false),
    monitor: z.boolean().default(true),
    alarmActions: z.array(deferrable(z.string().startsWith("arn:", { message: "must be an ARN" }))).optional(),
});

const hints: Record<string, string> = {
    vpcId: "the id of an existing VPC, from `aws ec2 describe-vpcs`",
    subnetIds: "list two or more subnets in different availability zones of that VPC (an ALB needs two)",
    instanceSubnetIds: "list the subnets the instances run in, or leave it out to use subnetIds",
    hostedZoneId: "the id of the Route53 public hosted zone of your domains, or leave it out to manage DNS yourself",
    domains: "list DNS names you own, e.g. [api.example.com]; ACM validates each through DNS",
    listenerPort: "use a port between 1 and 65535 other than 80 (80 redirects to HTTPS), usually 443",
    testListenerPort: "use a port between 1 and 65535, different from listenerPort and 80, e.g. 8443",
    clientCidrs: "write CIDRs such as 0.0.0.0/0 or 203.0.113.0/24",
    testListenerCidrs: "write the CIDRs of machines that may reach the test listener, e.g. 10.0.0.0/16 for a runner in the VPC",
    instanceType: "write an EC2 instance type such as t3.small",
    start: "write the shell command that starts the API, e.g. /opt/api/bin/serve",
    alarmActions: "write SNS topic ARNs",
};

/** The name the probes ask for: the first concrete domain, or the first wildcard with `*` made concrete. */
function probeServerName(domains: readonly string[]): string {
    const concrete = domains.find((d) => !d.startsWith("*."));
    return concrete ?? `repave-probe.${(domains[0] ?? "").slice(2)}`;
}

/**
 * Parses the stack-level `repave:aws` config block (plain values) so a program can refuse it before it builds
 * anything, with config paths in the messages.
 */
export function parseAwsTargetArgs(raw: unknown, configKey = "repave:aws"): AwsTargetArgs {
    if (raw === undefined || raw === null) {
        throw new SpecError([`${configKey}: missing (hint: add vpcId and subnetIds under ${configKey} in the stack file)`]);
    }
    const result = awsTargetArgsSchema.safeParse(raw);
    if (!result.success) throw new SpecError(result.error.issues.map((i) => describeWith(configKey, i, hints)));
    return raw as AwsTargetArgs;
}

/**
 * @internal Checks the spec and the AWS arguments together and applies the defaults. Throws one SpecError with
 * every problem, paths starting at the API's name (`orders-api.aws.vpcId`), before anything is registered.
 */
export function validateAwsTarget(spec: StatelessApiSpec, aws: AwsTargetArgs): AwsTarget {
    const api = typeof spec?.name === "string" && spec.name.length > 0 ? spec.name : "spec";
    const problems: string[] = [];
    try {
        parseApiSpecs([spec], "spec");
    } catch (err) {
        if (!(err instanceof SpecError)) throw err;
        problems.push(...err.problems.map((p) => p.replace(/^spec\[0\]/, api)));
    }
    const parsed = awsTargetArgsSchema.safeParse(aws ?? {});
    if (!parsed.success) problems.push(...parsed.error.issues.map((i) => describeWith(`${api}.aws`, i, hints)));

    if (typeof spec?.name === "string" && spec.name.startsWith("internal-")) {
        // The load balancer is named after the API, and ELB refuses names beginning with "internal-"
        // (Elastic Load Balancing API Reference v2, CreateLoadBalancer, Name).
        problems.push(`${api}.name: a load balancer name cannot begin with "internal-" (hint: rename the API, e.g. orders-internal)`);
    }
    const image = spec?.image;
    if (image && image.source !== "aws-ami") {
        problems.push(`${api}.image.source: the AWS target runs AMIs, not ${image.source} (hint: set image.source to aws-ami with ssmParameter, or owners and namePattern)`);
    } else if (image && !image.ssmParameter && !(image.owners?.length && image.namePattern)) {
        problems.push(
            `${api}.image: an aws-ami image needs ssmParameter, or owners and namePattern (hint: e.g. ssmParameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64)`,
        );
    }
    // How the gate reaches the test listener, from the raw block so it is listed with every other problem.
    const testCidrs = Array.isArray(aws?.testListenerCidrs) ? aws.testListenerCidrs : [];
    if (testCidrs.length === 0 && aws?.gateFromRunner === false) {
        problems.push(`${api}.aws.testListenerCidrs: empty while gateFromRunner is false: the gate could not reach the test listener (hint: list the runner's CIDRs, or leave gateFromRunner at true)`);
    }
    if (testCidrs.includes("0.0.0.0/0") || testCidrs.includes("::/0")) {
        void pulumi.log.warn(`${api}.aws.testListenerCidrs: the test listener serves every candidate, before its gate, to the whole internet; list the runner's CIDRs instead`);
    }
    if (parsed.success && !parsed.data.internal && !parsed.data.clientCidrs.some((c) => c === "0.0.0.0/0" || c === "::/0") && parsed.data.monitor) {
        // The monitor moves into the VPC (monitor.ts); from there an internet-facing ALB sees the NAT's address.
        void pulumi.log.warn(`${api}.aws.clientCidrs: the monitor runs in the instance subnets and reaches the internet-facing ALB from your NAT gateway's address: include it in clientCidrs`);
    }
    if (parsed.success) {
        const { listenerPort, testListenerPort } = parsed.data;
        if (listenerPort === 80) problems.push(`${api}.aws.listenerPort: 80 serves the HTTP->HTTPS redirect (hint: ${hints["listenerPort"]})`);
        if (testListenerPort === 80 || testListenerPort === listenerPort) {
            problems.push(`${api}.aws.testListenerPort: ${testListenerPort} is already taken (hint: ${hints["testListenerPort"]})`);
        }
    }
    const domains = [...(aws?.domains ?? spec?.certificate?.domains ?? [])];
    if (!aws?.domains) {
        domains.forEach((d, i) => {
            if (!dnsName.safeParse(d).success) {
                problems.push(`${api}.certificate.domains[${i}]: "${d}" cannot have a public certificate (hint: set aws.domains or certificate.domains to names you own, e.g. [api.example.com])`);
            }
        });
    }
    if (problems.length > 0 || !parsed.success || image?.source !== "aws-ami") throw new SpecError(problems);

    const args = parsed.data;
    return {
        spec,
        image,
        vpcId: aws.vpcId,
        subnetIds: [...aws.subnetIds],
        instanceSubnetIds: [...(aws.instanceSubnetIds ?? aws.subnetIds)],
        hostedZoneId: aws.hostedZoneId,
        domains,
        probeServerName: probeServerName(domains),
        listenerPort: args.listenerPort,
        testListenerPort: args.testListenerPort,
        clientCidrs: args.clientCidrs,
        testListenerCidrs: args.testListenerCidrs,
        gateFromRunner: args.gateFromRunner,
        internal: args.internal,
        instanceType: aws.instanceType ?? "t3.small",
        app: aws.app,
        ssmSessionManager: args.ssmSessionManager,
        monitor: args.monitor,
        alarmActions: [...(aws.alarmActions ?? [])],
    };
}

/**
 * @internal What a generation's identity pins on AWS: the AMI id, plus the AWS-only settings that shape what an
 * instance runs and that the shared spec does not know (instance type, app, subnets, domains, ...). Changing one
 * of them must build a new generation under `pinned`/`max-age` too - never update the live ASG or launch template
 * in place (I1). Values given as Outputs are not known here and do not count (AWS still replaces what it must).
 */
export function generationPin(amiId: string, target: AwsTarget): string {
    const known = (v: unknown) => (isDeferred(v) ? "(deferred)" : v);
    const shape = {
        vpcId: known(target.vpcId),
        instanceSubnetIds: target.instanceSubnetIds.map(known),
        instanceType: known(target.instanceType),
        app: target.app ? { install: known(target.app.install), start: known(target.app.start) } : null,
        ssmSessionManager: target.ssmSessionManager,
        domains: target.domains,
        // The target group's deregistration delay: an attribute of a generation resource like the others here.
        drainSeconds: target.spec.drainSeconds,
    };
    return `${amiId}+aws:${createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16)}`;
}
