// The front door on AWS: what clients hit and what a repave never replaces (I4) - the ALB, its security groups,
// the HTTP->HTTPS redirect, the DNS names, and the two HTTPS listeners. The listeners keep their URNs and ARNs;
// a repave only updates them in place: the test listener to the candidate before the gate, the production
// listener to the gated generation (the switch).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorOptions, namedFrontDoorOptions, switchOptions, type Changeover } from "../changeover.ts";
import { AWS_NAME_MAX } from "./names.ts";
import type { AwsTarget } from "./args.ts";

/** TLS 1.3 and 1.2 only, forward-secret ciphers: the negative probe `tls-legacy-version` checks it from outside. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/** @internal Tags of stable resources: no generation id, or every repave would touch them. */
export function stableTags(changeover: Changeover): Record<string, string> {
    const { ["repave:generation"]: _generation, ...tags } = changeover.tags;
    return tags;
}

/** @internal */
export interface FrontDoor {
    alb: aws.lb.LoadBalancer;
    albSecurityGroup: aws.ec2.SecurityGroup;
    instanceSecurityGroup: aws.ec2.SecurityGroup;
    redirect: aws.lb.Listener;
}

/** @internal The ALB, its security groups and the HTTP->HTTPS redirect; alias records when a zone is given. */
export function createFrontDoor(parent: pulumi.Resource, prefix: string, changeover: Changeover, target: AwsTarget): FrontDoor {
    const opts = frontDoorOptions(parent);
    const named = namedFrontDoorOptions(parent);
    const tags = stableTags(changeover);
    const spec = target.spec;

    const albSecurityGroup = new aws.ec2.SecurityGroup(
        `${prefix}-alb-sg`,
        { name: changeover.stableName("alb", AWS_NAME_MAX.securityGroup), description: `repave ${spec.name}: load balancer`, vpcId: target.vpcId, tags },
        named,
    );
    const instanceSecurityGroup = new aws.ec2.SecurityGroup(
        `${prefix}-instance-sg`,
        { name: changeover.stableName("instances", AWS_NAME_MAX.securityGroup), description: `repave ${spec.name}: instances of every generation`, vpcId: target.vpcId, tags },
        named,
    );
    const open = (what: string, port: number, cidrs: readonly string[]) =>
        cidrs.forEach(
            (cidr, i) =>
                new aws.vpc.SecurityGroupIngressRule(
                    `${prefix}-alb-in-${what}-${i}`,
                    {
                        securityGroupId: albSecurityGroup.id,
                        ipProtocol: "tcp",
                        fromPort: port,
                        toPort: port,
                        ...(cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
                        description: `${what} listener`,
                        tags,
                    },
                    opts,
                ),
        );
    open("http", 80, target.clientCidrs);
    open("https", target.listenerPort, target.clientCidrs);
    open("test", target.testListenerPort, target.testListenerCidrs);
    // The ALB reaches the instances on the API port only; the instances reach AWS APIs (Secrets Manager, SSM)
    // and package mirrors over HTTPS only.
    new aws.vpc.SecurityGroupEgressRule(
        `${prefix}-alb-out-instances`,
        {
            securityGroupId: albSecurityGroup.id,
            ipProtocol: "tcp",
            fromPort: spec.port,
            toPort: spec.port,
            referencedSecurityGroupId: instanceSecurityGroup.id,
            description: "to the API port of the instances",
            tags,
        },
        opts,
    );
    new aws.vpc.SecurityGroupIngressRule(
        `${prefix}-instance-in-alb`,
        {
            securityGroupId: instanceSecurityGroup.id,
            ipProtocol: "tcp",
            fromPort: spec.port,
            toPort: spec.port,
            referencedSecurityGroupId: albSecurityGroup.id,
            description: "from the load balancer",
            tags,
        },
        opts,
    );
    new aws.vpc.SecurityGroupEgressRule(
        `${prefix}-instance-out-https`,
        { securityGroupId: instanceSecurityGroup.id, ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0", description: "HTTPS to AWS APIs", tags },
        opts,
    );

    const alb = new aws.lb.LoadBalancer(
        `${prefix}-alb`,
        {
            name: changeover.stableName(undefined, AWS_NAME_MAX.loadBalancer),
            loadBalancerType: "application",
            // Chosen at the first deploy: `internal` is ForceNew (terraform-provider-aws lb.go), so changing it later
            // replaces the load balancer and its DNS name.
            internal: target.internal,
            securityGroups: [albSecurityGroup.id],
            subnets: target.subnetIds,
            dropInvalidHeaderFields: true,
            tags,
        },
        named,
    );
    const redirect = new aws.lb.Listener(
        `${prefix}-http-redirect`,
        {
            loadBalancerArn: alb.arn,
            port: 80,
            protocol: "HTTP",
            defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: String(target.listenerPort), statusCode: "HTTP_301" } }],
            tags,
        },
        opts,
    );
    if (target.hostedZoneId !== undefined) {
        target.domains
            .filter((d) => !d.startsWith("*."))
            .forEach(
                (domain, i) =>
                    new aws.route53.Record(
                        `${prefix}-alias-${i}`,
                        {
                            zoneId: target.hostedZoneId!,
                            name: domain,
                            type: "A",
                            aliases: [{ name: alb.dnsName, zoneId: alb.zoneId, evaluateTargetHealth: true }],
                        },
                        opts,
                    ),
            );
    }
    return { alb, albSecurityGroup, instanceSecurityGroup, redirect };
}

/**
 * @internal DNS validation records, one per name ACM validates. They are stable, not per generation: ACM derives a
 * name's validation CNAME from the name and the account, so every generation's certificate asks for the same
 * record, the record shows no diff on a repave, and retiring an old certificate never deletes the record the new
 * one is validated (and renewed) by. `*.example.com` shares its record with `example.com`.
 */
export function certificateValidationRecords(
    parent: pulumi.Resource,
    prefix: string,
    target: AwsTarget,
    certificate: aws.acm.Certificate,
): aws.route53.Record[] {
    if (target.hostedZoneId === undefined) return [];
    const names = target.domains.filter((d) => !(d.startsWith("*.") && target.domains.includes(d.slice(2))));
    return names.map((domain, i) => {
        const option = certificate.domainValidationOptions.apply((options) => {
            const found = options.find((o) => o.domainName === domain);
            if (!found) throw new Error(`certificate: ACM returned no DNS validation record for ${domain}`);
            return found;
        });
        return new aws.route53.Record(
            // Keyed by the domain, not its place in the list: adding or removing a domain leaves the others alone.
            // The alias carries a record over from the index-keyed names of earlier releases (no delete + create).
            `${prefix}-cert-validation-${domain.replace(/^\*\./, "wildcard.")}`,
            {
                zoneId: target.hostedZoneId!,
                name: option.resourceRecordName,
                type: option.resourceRecordType,
                records: [option.resourceRecordValue],
                ttl: 300,
                allowOverwrite: true,
            },
            // The values come from this generation's certificate, which every repave replaces: in a preview they
            // are unknown, and an unknown record name (which forces a new record) would show the front door as
            // replaced. ACM gives a domain the same record for the account's every certificate, so the values a
            // record was created with stay right: changes to them are ignored.
            frontDoorOptions(parent, { ignoreChanges: ["name", "type", "records"], aliases: [{ name: `${prefix}-cert-validation-${i}` }] }),
        );
    });
}

/**
 * @internal The test listener: forwards to the candidate and presents the candidate's certificate, so the gate
 * proves both before production sees either. It is not production, so it is simply updated in place.
 */
export function testListener(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    target: AwsTarget,
    alb: aws.lb.LoadBalancer,
    candidate: { certificateArn: pulumi.Input<string>; targetGroupArn: pulumi.Input<string> },
): aws.lb.Listener {
    return new aws.lb.Listener(
        `${prefix}-test-listener`,
        {
            loadBalancerArn: alb.arn,
            port: target.testListenerPort,
            protocol: "HTTPS",
            sslPolicy: TLS_POLICY,
            certificateArn: candidate.certificateArn,
            defaultActions: [{ type: "forward", targetGroupArn: candidate.targetGroupArn }],
            tags: { ...stableTags(changeover), "repave:candidate": changeover.identity.id },
        },
        frontDoorOptions(parent),
    );
}

/**
 * @internal The switch: the production listener's default action and default certificate move to the candidate in
 * one in-place update, only after the gates - it takes `gate.generation` as an input (a tag) and refuses to forward
 * to any generation other than the one both gates passed (I2): the candidate's own credential and the one callers
 * still hold.
 */
export function productionListener(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    target: AwsTarget,
    alb: aws.lb.LoadBalancer,
    gate: pulumi.Resource & { generation: pulumi.Output<string> },
    candidate: { certificateArn: pulumi.Input<string>; targetGroupArn: pulumi.Input<string> },
    grace: pulumi.Resource & { generation: pulumi.Output<string> },
): aws.lb.Listener {
    const gatedTargetGroup = pulumi.all([gate.generation, grace.generation, candidate.targetGroupArn]).apply(([passed, gracePassed, arn]) => {
        for (const generation of [passed, gracePassed]) {
            if (generation !== changeover.identity.id) {
                throw new Error(`switch: a gate passed ${generation}, not the candidate ${changeover.identity.id}; traffic stays where it is`);
            }
        }
        return arn;
    });
    return new aws.lb.Listener(
        `${prefix}-production-listener`,
        {
            loadBalancerArn: alb.arn,
            port: target.listenerPort,
            protocol: "HTTPS",
            sslPolicy: TLS_POLICY,
            certificateArn: candidate.certificateArn,
            defaultActions: [{ type: "forward", targetGroupArn: gatedTargetGroup }],
            tags: { ...stableTags(changeover), "repave:gate-passed": gate.generation },
        },
        switchOptions(parent, gate, { dependsOn: [grace] }),
    );
}
