// repave:aws:StatelessApi - the AWS target. The whole changeover of one deploy is in this file, in order; the
// other files of this folder hold the resources of each role (see components/changeover.ts for the roles):
//
//   1 image       latest patched AMI, pinned by id                              image.ts
//   - front door  ALB, security groups, redirect, DNS (stable)                  frontDoor.ts
//   - credential  the API's stable secret; AWSCURRENT is what callers use         credential.ts
//   2 generation  credential staged in it, certificate, role, launch template,  credential.ts, generation.ts
//                 target group, ASG (replaced, create-before-delete)
//   3 health      the ASG is created only when every instance is healthy in its target group
//   4 gate        test listener -> candidate; ProbeGate runs the probes there   ../gate.ts
//   5 switch      production listener -> candidate (default action + default certificate), after the gate
//   6 bake        production probed for keepWarmSeconds with the old generation warm; a failure routes the
//                 listener back to it and fails the update (../bake.ts); after a successful update the engine
//                 deletes the old generation (its ASG drains through the deregistration delay, then its certificate)
//   7 promote     AWSCURRENT -> the new credential, AWSPREVIOUS -> the live one   credential.ts
//   - monitor     the same probes, scheduled, alarmed, with AWSCURRENT           monitor.ts
import * as pulumi from "@pulumi/pulumi";
import { beginChangeover, InitializeHandoff, protectFrontDoor, type GenerationFacts } from "../changeover.ts";
import { ProbeGate, scanInputs } from "../gate.ts";
import type { StatelessApiSpec } from "../spec.ts";
import { generationPin, validateAwsTarget, type AwsTarget, type AwsTargetArgs } from "./args.ts";
import { createCredential, createCredentialStore, graceCredential, promoteCredential, readLiveCredential } from "./credential.ts";
import { certificateValidationRecords, createFrontDoor, productionListener, stableTags, testListener } from "./frontDoor.ts";
import { createAutoScalingGroup, createCertificate, createCompute, createListenerCertificate, validateCertificate } from "./generation.ts";
import { resolveLatestAmi } from "./image.ts";
import { checkSubnetZones } from "./network.ts";
import { createMonitor } from "./monitor.ts";
import { AWS_NAME_MAX } from "./names.ts";
import { Bake } from "../bake.ts";
import { AfterSwitch, CIDR, RunnerAccess, warnProblems } from "../temporary-access.ts";

export type { AwsTargetArgs } from "./args.ts";
export { parseAwsTargetArgs } from "./args.ts";

export interface StatelessApiArgs {
    /** The validated spec (components/spec.ts); `image.source` must be `aws-ami`. */
    readonly spec: StatelessApiSpec;
    /** The VPC, subnets, DNS zone, ports and app start command (components/aws/args.ts). */
    readonly aws: AwsTargetArgs;
    /** Identifies this deploy (default: REPAVE_DEPLOY_ID, else the time): `every-deploy` repaves once per id. */
    readonly deployId?: string;
    /**
     * Protect the front door (load balancer, address, listeners, maps, DNS, stable secret, monitor) from deletion
     * and replacement, for production stacks. Generations stay unprotected, so repaves go on; a component-level
     * `protect` would block them.
     */
    readonly protectFrontDoor?: boolean;
}

/** What one changeover produced: the component's outputs. No secrets in here (they would taint every output). */
interface Changed {
    url: string;
    testUrl: string;
    generation: pulumi.Output<string>;
    imageId: string;
    imageName: string;
    imageCreatedAt: string;
    imageAgeDays: number;
    imageSource: string;
    certificateArn: pulumi.Output<string>;
    certNotAfter: pulumi.Output<string>;
    credentialCreatedAt: pulumi.Output<string>;
    secretArn: pulumi.Output<string>;
    albArn: pulumi.Output<string>;
    albDnsName: pulumi.Output<string>;
    alarmArn: pulumi.Output<string> | undefined;
}

/**
 * The AWS CLI call that makes the production listener forward to `targetGroupArn` (AWS CLI reference, elbv2
 * modify-listener: `--default-actions Type=forward,TargetGroupArn=...` replaces the default actions). The region is
 * the listener's own (the fourth field of its ARN), whatever the runner's default region.
 */
function listenerRoute(listenerArn: pulumi.Output<string>, targetGroupArn: pulumi.Input<string>): pulumi.Output<string[]> {
    return pulumi.all([listenerArn, targetGroupArn]).apply(([arn, group]) => [
        "aws",
        "elbv2",
        "modify-listener",
        "--region",
        arn.split(":")[3] ?? "",
        "--listener-arn",
        arn,
        "--default-actions",
        `Type=forward,TargetGroupArn=${group}`,
    ]);
}

/** One field of a changeover still running, as an Output (each keeps its own knownness in a preview). */
function field<K extends keyof Changed>(changed: Promise<Changed>, key: K): pulumi.Output<pulumi.Unwrap<Changed[K]>> {
    return pulumi.output(changed.then((c): Changed[K] => c[key]));
}

const handoff = new InitializeHandoff<{ name: string; target: AwsTarget; deployId: string | undefined; protect: boolean }>();

export class StatelessApi extends pulumi.ComponentResource<Changed> {
    /** Production URL (stable across repaves). */
    declare readonly url: pulumi.Output<string>;
    /** Test listener URL: the candidate answers here before it takes traffic. */
    declare readonly testUrl: pulumi.Output<string>;
    /** The generation serving production after this update. */
    declare readonly generation: pulumi.Output<string>;
    /** The AMI this generation runs, its name and when AWS built it (image age). */
    declare readonly imageId: pulumi.Output<string>;
    declare readonly imageName: pulumi.Output<string>;
    declare readonly imageCreatedAt: pulumi.Output<string>;
    declare readonly imageAgeDays: pulumi.Output<number>;
    /** The live generation's ACM certificate and its expiry. */
    declare readonly certificateArn: pulumi.Output<string>;
    declare readonly certNotAfter: pulumi.Output<string>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    /** The API's Secrets Manager secret: AWSCURRENT is the credential callers use (the ARN, not the value). */
    declare readonly secretArn: pulumi.Output<string>;
    declare readonly albArn: pulumi.Output<string>;
    declare readonly albDnsName: pulumi.Output<string>;
    declare readonly alarmArn: pulumi.Output<string | undefined>;

    constructor(name: string, args: StatelessApiArgs, opts?: pulumi.ComponentResourceOptions) {
        // I7: a bad spec or AWS block is refused with every problem listed, before anything is registered -
        // not even this component.
        const target = validateAwsTarget(args.spec, args.aws);
        handoff.put({ name, target, deployId: args.deployId, protect: args.protectFrontDoor === true });
        super("repave:aws:StatelessApi", name, {}, opts);

        // The generation id needs the pinned AMI id, which an invoke returns: the changeover runs in initialize(),
        // once it is known, and a consumer's dependsOn on this component waits for all of it.
        const changed = this.getData();
        const out = <K extends keyof Changed>(key: K) => field(changed, key);
        this.url = out("url");
        this.testUrl = out("testUrl");
        this.generation = out("generation");
        this.imageId = out("imageId");
        this.imageName = out("imageName");
        this.imageCreatedAt = out("imageCreatedAt");
        this.imageAgeDays = out("imageAgeDays");
        this.certificateArn = out("certificateArn");
        this.certNotAfter = out("certNotAfter");
        this.credentialCreatedAt = out("credentialCreatedAt");
        this.secretArn = out("secretArn");
        this.albArn = out("albArn");
        this.albDnsName = out("albDnsName");
        this.alarmArn = out("alarmArn");
        const facts: GenerationFacts = {
            url: this.url,
            testUrl: this.testUrl,
            generation: this.generation,
            imageId: this.imageId,
            imageCreatedAt: this.imageCreatedAt,
            certificate: this.certificateArn,
            certNotAfter: this.certNotAfter,
            credentialCreatedAt: this.credentialCreatedAt,
        };
        this.registerOutputs({
            ...facts,
            imageName: this.imageName,
            imageAgeDays: this.imageAgeDays,
            imageSource: out("imageSource"),
            certificateArn: this.certificateArn,
            secretArn: this.secretArn,
            albArn: this.albArn,
            albDnsName: this.albDnsName,
            alarmArn: this.alarmArn,
        });
    }

    protected override async initialize(): Promise<Changed> {
        const { name, target, deployId, protect } = handoff.take();
        if (protect) protectFrontDoor(this);
        return this.changeover(name, target, deployId);
    }

    private async changeover(name: string, target: AwsTarget, deployId: string | undefined): Promise<Changed> {
        const spec = target.spec;

        // 1. The latest patched AMI, pinned by id. The generation id hashes it, with the AWS-only settings of the
        //    instances (generationPin): a new image or a new instance type is a new generation, never an update.
        const ami = await resolveLatestAmi(target.image, { parent: this });
        // Before anything is registered: instances in a zone the load balancer does not serve never get traffic.
        await checkSubnetZones(target, { parent: this });
        const changeover = beginChangeover(spec, generationPin(ami.id, target), { deployId, scoped: true });

        // Front door: created once, updated in place, never replaced by a repave (I4).
        const frontDoor = createFrontDoor(this, name, changeover, target);

        // The credential callers hold now (the store's AWSCURRENT), read before anything changes: the candidate
        // accepts it too, so nobody is cut off at the switch (components/changeover.ts, LiveCredential).
        const store = createCredentialStore(this, name, changeover, stableTags(changeover));
        const live = await readLiveCredential(changeover.stableName("credential", AWS_NAME_MAX.secret), { parent: this });

        // 2. The candidate generation, beside the live one. Fresh credential, certificate and instances (I5); the
        //    engine replaces each of these create-before-delete and deletes the old ones only at the end of a
        //    successful update - after the switch below (I1, I3).
        const secret = createCredential(this, name, changeover, store, live);
        const bearer = pulumi.secret(secret.credential.value);
        const certificate = createCertificate(this, name, changeover, target);
        const records = certificateValidationRecords(this, name, target, certificate);
        const validation = validateCertificate(this, name, changeover, certificate, records);
        const compute = createCompute(this, name, changeover, target, ami, frontDoor.instanceSecurityGroup, store, secret);
        const candidate = { certificateArn: validation.certificateArn, targetGroupArn: compute.targetGroup.arn };

        // 4. Gate: the test listener serves the candidate (its instances and its certificate); the shared probes run
        //    there from the deploying machine - positive, negative, wrong host, legacy TLS. A failure fails the
        //    update here: production still points at the live generation, which is not deleted (I2, I3).
        const test = testListener(this, name, changeover, target, frontDoor.alb, candidate);
        // 3. Health: the ASG counts as created only when `capacity` instances are healthy in the candidate's
        //    target group (waitForElbCapacity), so everything after it sees a healthy candidate. It starts once
        //    the test listener forwards to that target group: an unused target group is never health-checked.
        const asg = createAutoScalingGroup(this, name, changeover, target, compute, [test]);
        const gateInputs = {
            api: spec.name,
            generation: changeover.identity.id,
            host: frontDoor.alb.dnsName,
            port: target.testListenerPort,
            serverName: target.probeServerName,
            caPem: null,
            probes: { positive: spec.probes.positive, negative: spec.probes.negative },
            settleSeconds: Math.max(120, spec.healthCheck.graceSeconds),
            ...scanInputs(spec, ami.id),
        };
        // The runner that runs the gate reaches the test listener through a rule for its current address, opened
        // here and closed after the switch (hosted runners have no stable address to allow-list).
        const region = frontDoor.alb.arn.apply((arn) => arn.split(":")[3] ?? "");
        const runnerRule = (verb: "authorize" | "revoke") =>
            pulumi
                .all([region, frontDoor.albSecurityGroup.id])
                .apply(([r, group]) => [
                    "aws", "ec2", `${verb}-security-group-ingress`, "--region", r, "--group-id", group, "--ip-permissions",
                    `IpProtocol=tcp,FromPort=${target.testListenerPort},ToPort=${target.testListenerPort},IpRanges=[{CidrIp=${CIDR}${verb === "authorize" ? ",Description=repave-gate-runner" : ""}}]`,
                ]);
        // EC2 API error codes: a rule that exists already (a retry) or is gone already is no failure.
        const alreadyDone = ["InvalidPermission.Duplicate", "InvalidPermission.NotFound"];
        const access = target.gateFromRunner
            ? new RunnerAccess(`${name}-gate-access`, { api: spec.name, generation: changeover.identity.id, open: runnerRule("authorize"), close: runnerRule("revoke"), alreadyDone }, { parent: this, dependsOn: [test] })
            : undefined;
        const gateOpts = { parent: this, dependsOn: [test, asg, secret.staged, ...(access ? [access] : [])] };
        const gate = new ProbeGate(`${name}-gate`, { ...gateInputs, credential: bearer }, gateOpts);
        // Callers still hold the live credential: the candidate must serve them too, proven before the switch. The
        // credential is the one pinned in the generation (its own on the first generation, which has no previous),
        // so this gate exists on every deploy and changes only with its generation.
        const grace = new ProbeGate(`${name}-gate-grace`, { ...gateInputs, credential: graceCredential(secret.credential) }, gateOpts);

        // 5. Switch: the production listener forwards to the generation the gate passed and presents its
        //    certificate - one in-place update of a stable listener. After it nothing refers to the old certificate
        //    and target group any more; they go with the old generation.
        const production = productionListener(this, name, changeover, target, frontDoor.alb, gate, candidate, grace);

        // The candidate's certificate joins the production listener's certificate list as a generation resource.
        // It cannot come before the switch (it needs the listener's ARN, and the listener is the switch); its job is
        // retirement: ALB keeps a replaced default certificate in the list, so this resource - deleted before its
        // certificate, because it depends on it - is what detaches the old certificate before ACM deletes it.
        createListenerCertificate(this, name, changeover, production, candidate.certificateArn);

        // 6. Bake, then retire: production is probed for keepWarmSeconds while the old generation keeps serving
        //    in-flight requests and stays registered; a failure routes the listener back to the old target group
        //    (its `route` from the last successful bake) and fails the update, so the old generation is not
        //    deleted. Only then may the engine delete it (ASG first: its instances drain for drainSeconds, I6).
        const bake = new Bake(
            `${name}-bake`,
            {
                api: spec.name,
                generation: gate.generation,
                host: frontDoor.alb.dnsName,
                port: target.listenerPort,
                serverName: target.probeServerName,
                caPem: null,
                credential: bearer,
                probes: { positive: spec.probes.positive, negative: spec.probes.negative },
                keepWarmSeconds: spec.keepWarmSeconds,
                intervalSeconds: spec.probes.intervalSeconds,
                settleSeconds: 60,
                route: listenerRoute(production.arn, candidate.targetGroupArn),
            },
            { parent: this, dependsOn: [production] },
        );

        // After the bake: the test listener stops serving the now-live generation (a fixed 404 until the next
        // candidate: AWS CLI reference, elbv2 modify-listener, fixed-response action) and the runner's address is
        // closed again. The engine still records the test listener forwarding, so the next deploy moves it again.
        const closeTest = pulumi.all([region, test.arn]).apply(([r, arn]) => [
            "aws", "elbv2", "modify-listener", "--region", r, "--listener-arn", arn,
            "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain,MessageBody=no candidate}",
        ]);
        const after = new AfterSwitch(
            `${name}-after-switch`,
            {
                api: spec.name,
                generation: changeover.identity.id,
                commands: access ? pulumi.all([closeTest, access.close]).apply(([c, close]) => [c, close]) : closeTest.apply((c) => [c]),
                cidr: access ? access.cidr : "",
                alreadyDone,
            },
            { parent: this, dependsOn: [bake] },
        );
        warnProblems(after, spec.name, this);

        // 7. Promote: production accepts both credentials now, so AWSCURRENT moves to the new one. Callers and the
        //    monitor pick it up on their next read; whoever still holds the old one is served until the next repave.
        const promotion = promoteCredential(this, name, changeover, store, secret.credential, [bake]);

        // Continuous monitor: the same probes against production, on a schedule, alarmed. Its settings name the
        // stable secret, never a generation's credential: nothing about it changes in a repave, it reads AWSCURRENT
        // on each run, so it moves with the promotion. Its first create waits for the first promotion.
        // It asks DNS for the name when we keep its alias (so DNS is monitored too), the ALB directly otherwise.
        const aliased = target.hostedZoneId !== undefined && target.domains.includes(target.probeServerName);
        const host = aliased ? target.probeServerName : frontDoor.alb.dnsName;
        const monitor = target.monitor ? createMonitor(this, name, changeover, target, { secretArn: store.arn, host, albSecurityGroupId: frontDoor.albSecurityGroup.id }, [promotion]) : undefined;

        // Clients use the certificate's name (an alias to the ALB when the zone is ours, your DNS otherwise).
        const port = target.listenerPort === 443 ? "" : `:${target.listenerPort}`;
        return {
            url: `https://${target.probeServerName}${port}`,
            testUrl: `https://${target.probeServerName}:${target.testListenerPort}`,
            generation: bake.generation,
            imageId: ami.id,
            imageName: ami.name,
            imageCreatedAt: ami.createdAt,
            imageAgeDays: ami.ageDays,
            imageSource: ami.from,
            certificateArn: validation.certificateArn,
            certNotAfter: certificate.notAfter,
            credentialCreatedAt: secret.credential.createdAt,
            secretArn: store.arn,
            albArn: frontDoor.alb.arn,
            albDnsName: frontDoor.alb.dnsName,
            alarmArn: monitor ? monitor.alarm.arn : undefined,
        };
    }
}
