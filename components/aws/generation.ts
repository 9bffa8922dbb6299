// A generation on AWS: everything a repave rebuilds. Each resource keeps one logical name and is replaced
// (create-before-delete) when the generation id changes (generationOptions); its physical name carries the id, so
// the candidate stands beside the live generation and the engine deletes the old one only after the switch.
//   credential   random bearer token (secret), staged in the API's stable secret (credential.ts)
//   certificate  ACM, DNS-validated; presented on the test listener, then by the production listener
//   compute      IAM role (least privilege) -> launch template pinning the AMI -> target group -> ASG
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { generationOptions, type Changeover } from "../changeover.ts";
import type { StatelessApiSpec } from "../spec.ts";
import type { AwsTarget } from "./args.ts";
import type { PinnedAmi } from "./image.ts";
import { AWS_NAME_MAX } from "./names.ts";
import { instancePolicy, type GenerationSecret } from "./credential.ts";

const tagsOf = (changeover: Changeover, name: string) => ({ ...changeover.tags, Name: name });

// ----------------------------------------------------------------------------------------------- certificate

/** @internal A new ACM certificate per generation; never replaced in place on a listener (pulumi-aws#1023). */
export function createCertificate(parent: pulumi.Resource, prefix: string, changeover: Changeover, target: AwsTarget): aws.acm.Certificate {
    const [domainName, ...alternatives] = target.domains;
    return new aws.acm.Certificate(
        `${prefix}-certificate`,
        {
            domainName: domainName!,
            subjectAlternativeNames: alternatives.length > 0 ? alternatives : undefined,
            validationMethod: "DNS",
            tags: tagsOf(changeover, changeover.name("cert")),
        },
        generationOptions(parent, changeover),
    );
}

/** @internal Waits until ACM issued the certificate; listeners take its ARN from here, so they never see it unissued. */
export function validateCertificate(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    certificate: aws.acm.Certificate,
    records: aws.route53.Record[],
): aws.acm.CertificateValidation {
    return new aws.acm.CertificateValidation(
        `${prefix}-certificate-validation`,
        {
            certificateArn: certificate.arn,
            validationRecordFqdns: records.length > 0 ? records.map((r) => r.fqdn) : undefined,
        },
        generationOptions(parent, changeover),
    );
}

/**
 * @internal The generation's certificate in the production listener's certificate list. Deleted with its
 * generation, before its certificate (it depends on it): that detaches a replaced default certificate, which ALB
 * otherwise keeps in the list and ACM would then refuse to delete as in use.
 */
export function createListenerCertificate(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    listener: aws.lb.Listener,
    certificateArn: pulumi.Input<string>,
): aws.lb.ListenerCertificate {
    return new aws.lb.ListenerCertificate(
        `${prefix}-listener-certificate`,
        { listenerArn: listener.arn, certificateArn },
        generationOptions(parent, changeover),
    );
}

// --------------------------------------------------------------------------------------------------- compute

/** @internal ALB limits: interval 5-300 s, timeout 2-120 s and below the interval, thresholds 2-10. */
export function albHealthCheck(spec: StatelessApiSpec): aws.types.input.lb.TargetGroupHealthCheck {
    const hc = spec.healthCheck;
    const interval = Math.min(300, Math.max(5, Math.ceil(hc.intervalSeconds)));
    const timeout = Math.min(120, interval - 1, Math.max(2, Math.ceil(hc.timeoutSeconds)));
    return {
        enabled: true,
        path: hc.path,
        protocol: "HTTP",
        port: "traffic-port",
        interval,
        timeout,
        healthyThreshold: Math.min(10, Math.max(2, hc.healthyThreshold)),
        unhealthyThreshold: 2,
        matcher: "200-299",
    };
}

/** @internal */
export interface UserDataInputs {
    api: string;
    generation: string;
    /** The API's stable secret, and the two versions of it this generation accepts (by id: pinned for its life). */
    secretArn: string;
    versionId: string;
    previousVersionId: string | null;
    port: number;
    healthPath: string;
    domains: readonly string[];
    install?: string | undefined;
    start?: string | undefined;
}

/**
 * @internal The instance's boot script. It installs `/opt/repave/fetch-credentials` - fetch this generation's
 * credential and the previous one (the credential callers held when this generation was built) by version id with
 * the instance role, into a root-only environment file in /run (tmpfs) - as the `repave-credentials` oneshot unit,
 * run on every boot before the `repave-api` unit: /run is empty after a reboot, and a credential fetched only once
 * by user data (which runs on the first boot only) would leave the API without it, failing its health check until
 * the ASG replaced the instance. The credentials never appear in user data, launch template or logs - only the
 * secret's ARN and version ids do.
 */
export function userData(u: UserDataInputs): string {
    const quote = (s: string) => `'${s.replaceAll("'", `'"'"'`)}'`;
    const fetch = [
        "#!/bin/bash",
        `# repave: the credentials of generation ${u.generation} of ${u.api}, fetched on every boot`,
        "set -euo pipefail",
        `secret_arn=${quote(u.secretArn)}`,
        `region="$(cut -d: -f4 <<<"$secret_arn")"`,
        'dir="${REPAVE_RUN_DIR:-/run/repave}"',
        'install -d -m 0700 "$dir"',
        "umask 077",
        // A new role's permissions take a few seconds to reach every region endpoint: retry for up to 2.5 minutes.
        "read_version() {",
        "  local value attempt",
        "  for attempt in $(seq 1 30); do",
        `    value="$(aws secretsmanager get-secret-value --region "$region" --secret-id "$secret_arn" --version-id "$1" --query SecretString --output text)" && { printf '%s' "$value"; return 0; }`,
        '    [ "$attempt" -lt 30 ] && sleep "${REPAVE_RETRY_SECONDS:-5}"',
        "  done",
        "  return 1",
        "}",
        `credential="$(read_version ${quote(u.versionId)})" || { echo "repave: cannot read the credential of this generation" >&2; exit 1; }`,
        u.previousVersionId
            ? `previous="$(read_version ${quote(u.previousVersionId)})" || { echo "repave: cannot read the previous credential" >&2; exit 1; }`
            : 'previous=""',
        "{",
        `  echo REPAVE_API=${quote(u.api)}`,
        `  echo REPAVE_GENERATION=${quote(u.generation)}`,
        `  echo REPAVE_DOMAINS=${quote(u.domains.join(","))}`,
        `  echo PORT=${u.port}`,
        `  echo HEALTH_PATH=${quote(u.healthPath)}`,
        `  echo "REPAVE_CREDENTIAL=$credential"`,
        `  echo "REPAVE_PREVIOUS_CREDENTIAL=$previous"`,
        '} > "$dir/env.new"',
        'mv "$dir/env.new" "$dir/env"',
    ];
    const lines = [
        "#!/bin/bash",
        `# repave: generation ${u.generation} of ${u.api}`,
        "set -euo pipefail",
        "install -d -m 0755 /opt/repave",
        "cat > /opt/repave/fetch-credentials <<'REPAVE_FETCH_EOF'",
        ...fetch,
        "REPAVE_FETCH_EOF",
        "chmod 0700 /opt/repave/fetch-credentials",
        "cat > /etc/systemd/system/repave-credentials.service <<'REPAVE_CREDENTIALS_EOF'",
        "[Unit]",
        `Description=repave ${u.api} (${u.generation}): fetch the credentials`,
        "Wants=network-online.target",
        "After=network-online.target",
        "Before=repave-api.service",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ExecStart=/opt/repave/fetch-credentials",
        "[Install]",
        "WantedBy=multi-user.target",
        "REPAVE_CREDENTIALS_EOF",
        // The API unit (ours below, or a golden AMI's) needs them: a drop-in orders it after the fetch on every boot.
        "install -d -m 0755 /etc/systemd/system/repave-api.service.d",
        "cat > /etc/systemd/system/repave-api.service.d/repave-credentials.conf <<'REPAVE_DROPIN_EOF'",
        "[Unit]",
        "Requires=repave-credentials.service",
        "After=repave-credentials.service",
        "[Service]",
        "EnvironmentFile=/run/repave/env",
        "REPAVE_DROPIN_EOF",
        "systemctl daemon-reload",
        "systemctl enable --now repave-credentials.service",
    ];
    if (u.install) lines.push("# install", u.install);
    if (u.start) {
        lines.push(
            "cat > /opt/repave/start <<'REPAVE_START_EOF'",
            "#!/bin/sh",
            u.start,
            "REPAVE_START_EOF",
            "chmod 0755 /opt/repave/start",
            "cat > /etc/systemd/system/repave-api.service <<'REPAVE_UNIT_EOF'",
            "[Unit]",
            `Description=repave ${u.api} (${u.generation})`,
            "Wants=network-online.target",
            "After=network-online.target",
            "[Service]",
            "EnvironmentFile=/run/repave/env",
            "ExecStart=/opt/repave/start",
            "Restart=always",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "[Install]",
            "WantedBy=multi-user.target",
            "REPAVE_UNIT_EOF",
        );
    }
    lines.push("systemctl daemon-reload", "systemctl enable --now repave-api.service", "");
    return lines.join("\n");
}

/** @internal */
export interface GenerationCompute {
    role: aws.iam.Role;
    policy: aws.iam.RolePolicy;
    launchTemplate: aws.ec2.LaunchTemplate;
    targetGroup: aws.lb.TargetGroup;
}

/**
 * @internal The candidate's instances: healthy behind their own target group before the ASG counts as created
 * (waitForElbCapacity), with a drain of `drainSeconds` when they retire (deregistration delay, I6).
 */
export function createCompute(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    target: AwsTarget,
    ami: PinnedAmi,
    instanceSecurityGroup: aws.ec2.SecurityGroup,
    store: aws.secretsmanager.Secret,
    secret: GenerationSecret,
): GenerationCompute {
    const spec = target.spec;
    const id = changeover.identity.id;
    const opts = generationOptions(parent, changeover);

    const role = new aws.iam.Role(
        `${prefix}-instance-role`,
        {
            name: changeover.name("instance", AWS_NAME_MAX.role),
            description: `repave ${spec.name} generation ${id}: reads its own credential, nothing else`,
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
            tags: tagsOf(changeover, changeover.name("instance")),
        },
        opts,
    );
    const versions = pulumi.all([secret.staged.versionId, secret.credential.previousVersionId]);
    const policy = new aws.iam.RolePolicy(
        `${prefix}-instance-policy`,
        { role: role.name, policy: pulumi.all([store.arn, versions]).apply(([arn, ids]) => instancePolicy(arn, ids.filter((id): id is string => !!id))) },
        opts,
    );
    const managed: pulumi.Resource[] = [];
    if (target.ssmSessionManager) {
        const partition = aws.getPartitionOutput({}, { parent }).partition;
        managed.push(
            new aws.iam.RolePolicyAttachment(
                `${prefix}-instance-ssm`,
                { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` },
                opts,
            ),
        );
    }
    const profile = new aws.iam.InstanceProfile(
        `${prefix}-instance-profile`,
        { name: changeover.name("instance", AWS_NAME_MAX.instanceProfile), role: role.name, tags: tagsOf(changeover, changeover.name("instance")) },
        opts,
    );

    const targetGroup = new aws.lb.TargetGroup(
        `${prefix}-target-group`,
        {
            // `<api>-<scope>-<generation>` in 32 characters: the API part is cut to fit.
            name: changeover.name(undefined, AWS_NAME_MAX.targetGroup),
            port: spec.port,
            protocol: "HTTP",
            targetType: "instance",
            vpcId: target.vpcId,
            deregistrationDelay: spec.drainSeconds,
            healthCheck: albHealthCheck(spec),
            tags: tagsOf(changeover, changeover.name()),
        },
        opts,
    );

    const script = pulumi
        .all([store.arn, versions, target.app?.install, target.app?.start])
        .apply(([secretArn, [versionId, previousVersionId], install, start]) =>
            userData({
                api: spec.name,
                generation: id,
                secretArn,
                versionId,
                previousVersionId: previousVersionId ?? null,
                port: spec.port,
                healthPath: spec.healthCheck.path,
                domains: target.domains,
                install,
                start,
            }),
        );
    const launchTemplate = new aws.ec2.LaunchTemplate(
        `${prefix}-launch-template`,
        {
            name: changeover.name("lt", AWS_NAME_MAX.launchTemplate),
            description: `repave ${spec.name} generation ${id}: ${ami.name}`,
            imageId: ami.id,
            instanceType: target.instanceType,
            iamInstanceProfile: { arn: profile.arn },
            vpcSecurityGroupIds: [instanceSecurityGroup.id],
            userData: script.apply((s) => Buffer.from(s, "utf8").toString("base64")),
            // IMDSv2 only, one hop: a request forwarded by the app cannot reach the instance credentials.
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            blockDeviceMappings: [{ deviceName: ami.rootDeviceName, ebs: { encrypted: "true", volumeType: "gp3", deleteOnTermination: "true" } }],
            tagSpecifications: [
                { resourceType: "instance", tags: tagsOf(changeover, changeover.name()) },
                { resourceType: "volume", tags: tagsOf(changeover, changeover.name()) },
            ],
            // The image's name and build time ride on the launch template: the policy pack's image-age rule reads them.
            tags: { ...tagsOf(changeover, changeover.name("lt")), "repave:image-name": ami.name, "repave:image-created-at": ami.createdAt },
        },
        // Instances read their credential at boot: the role's policy must exist before the first one starts.
        { ...opts, dependsOn: [policy, ...managed] },
    );

    return { role, policy, launchTemplate, targetGroup };
}

/**
 * @internal The candidate's instances, created only once a listener forwards to their target group (`after`: the
 * test listener). Until one does, the target group is `unused` and its targets are never health-checked (ELB User
 * Guide, "Target health status": unused - "the target group is not used by any load balancer"), so
 * waitForElbCapacity would count zero healthy instances until it timed out - and the test listener itself waits
 * for the candidate's certificate, which ACM may take long to issue.
 */
export function createAutoScalingGroup(
    parent: pulumi.Resource,
    prefix: string,
    changeover: Changeover,
    target: AwsTarget,
    compute: GenerationCompute,
    after: pulumi.Resource[],
): aws.autoscaling.Group {
    const spec = target.spec;
    const { launchTemplate, targetGroup } = compute;
    const capacity = spec.capacity;
    return new aws.autoscaling.Group(
        `${prefix}-asg`,
        {
            name: changeover.name("asg", AWS_NAME_MAX.autoScalingGroup),
            minSize: capacity,
            maxSize: capacity,
            desiredCapacity: capacity,
            vpcZoneIdentifiers: target.instanceSubnetIds,
            launchTemplate: { id: launchTemplate.id, version: pulumi.interpolate`${launchTemplate.latestVersion}` },
            targetGroupArns: [targetGroup.arn],
            healthCheckType: "ELB",
            healthCheckGracePeriod: Math.ceil(spec.healthCheck.graceSeconds),
            // Created means healthy: every instance in service behind the target group (step 3 of the changeover).
            waitForElbCapacity: capacity,
            minElbCapacity: capacity,
            waitForCapacityTimeout: `${Math.max(600, Math.ceil(spec.healthCheck.graceSeconds) + 300)}s`,
            tags: Object.entries(tagsOf(changeover, changeover.name())).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
        },
        generationOptions(parent, changeover, { dependsOn: after }),
    );
}
