// The AWS target under Pulumi mocks (AWS cannot be reached here): the resource graph of one deploy, two
// successive deploys against the shared invariant suite, and a bad config refused before anything is registered.
// The mocks answer like AWS where it matters: ARNs carry the physical name (or the generation of a certificate),
// ACM's DNS validation record depends on the domain only, each deploy's image lookup finds a newer AMI, and one
// Secrets Manager (fake-aws-secrets-manager.ts) keeps its versions and staging labels from deploy to deploy.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseAwsTargetArgs, StatelessApi, type AwsTargetArgs } from "../../../components/aws/index.ts";
import { validateAwsTarget } from "../../../components/aws/args.ts";
import { userData } from "../../../components/aws/generation.ts";
import { checkSubnetZones } from "../../../components/aws/network.ts";
import { monitorCode } from "../../../components/aws/monitor.ts";
import { frontDoorRoleType, isFrontDoorUrn } from "../../../components/roles.ts";
import { parseApiSpecs, SpecError, type StatelessApiSpec, type StatelessApiSpecInput } from "../../../components/spec.ts";
import type * as Probes from "../../../components/probes.ts";
import { FakeSecretsManager } from "./fake-aws-secrets-manager.ts";
import { AWS_NAME_RULES, CloudNames } from "./fake-names.ts";
import {
    assertBefore,
    assertOnlyFrontDoorProtected,
    assertCallersKeepWorking,
    assertDependsOnWaitsForChildren,
    Consumer,
    assertExistingStacksKeepNames,
    assertTwoStacksOneAccount,
    assertGateBeforeSwitch,
    assertGateProbes,
    assertGenerationReplaced,
    assertStableFrontDoor,
    byType,
    completeRun,
    providerError,
    readExampleStack,
    runWithMocks,
    UNKNOWN,
    unknownInputs,
    stackMark,
    type MockOptions,
    type Pick,
    type Registration,
} from "./invariants.ts";

const T = {
    component: "repave:aws:StatelessApi",
    alb: "aws:lb/loadBalancer:LoadBalancer",
    listener: "aws:lb/listener:Listener",
    listenerCertificate: "aws:lb/listenerCertificate:ListenerCertificate",
    targetGroup: "aws:lb/targetGroup:TargetGroup",
    asg: "aws:autoscaling/group:Group",
    launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    certificate: "aws:acm/certificate:Certificate",
    validation: "aws:acm/certificateValidation:CertificateValidation",
    record: "aws:route53/record:Record",
    secret: "aws:secretsmanager/secret:Secret",
    secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    instanceProfile: "aws:iam/instanceProfile:InstanceProfile",
    gate: "pulumi-nodejs:dynamic/repave:ProbeGate",
    credential: "pulumi-nodejs:dynamic/repave:GenerationCredential",
    bake: "pulumi-nodejs:dynamic/repave:Bake",
    runnerAccess: "pulumi-nodejs:dynamic/repave:RunnerAccess",
    afterSwitch: "pulumi-nodejs:dynamic/repave:AfterSwitch",
    policy: "aws:iam/rolePolicy:RolePolicy",
    lambda: "aws:lambda/function:Function",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
} as const;

const AMIS = ["ami-0a1b2c3d4e5f60001", "ami-0a1b2c3d4e5f60002"] as const;
const ZONE = "Z0123456789ABCDEFGHIJ";

const specInput: StatelessApiSpecInput = {
    name: "orders",
    image: { source: "aws-ami", ssmParameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" },
    port: 8080,
    capacity: 3,
    certificate: { domains: ["api.example.com", "www.api.example.com"] },
    drainSeconds: 30,
    keepWarmSeconds: 60,
};
const spec: StatelessApiSpec = parseApiSpecs([specInput])[0]!;
const awsArgs: AwsTargetArgs = {
    vpcId: "vpc-0a1b2c3d4e5f60718",
    subnetIds: ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"],
    hostedZoneId: ZONE,
    testListenerCidrs: ["203.0.113.7/32"],
    app: { install: "dnf install -y nodejs24", start: "exec node /opt/api/server.mjs" },
};

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);
/** The mark of this file's default stack ("test" of project "repave") in the names of the API "orders". */
const SCOPE = stackMark("repave", "test", "orders");
/** A minted credential: random in the real provider, opaque here too (it names no generation). */
const credentialOf = (generation: string) => `cred-${hash(`credential/${generation}`)}`;

/** The plain value of a mocked input: Pulumi secrets reach the mocks wrapped with the secret signature. */
const unwrap = (v: unknown): unknown => (isSecret(v) ? v.value : v);
const isSecret = (v: unknown): v is { value: unknown } =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270";

/** One Secrets Manager for the whole file: what a deploy stages and promotes, the next deploy reads. */
let secretsManager = new FakeSecretsManager();
/**
 * Target groups a listener forwards to, and what waited for capacity behind one no listener used. An unused target
 * group is never health-checked (ELB User Guide, "Target health status": unused), so an ASG created with
 * waitForElbCapacity before any listener forwards to its target group waits until its timeout and fails
 * (terraform-provider-aws autoscaling group: waitForCapacity counts InService targets reported healthy by the ELB).
 */
let forwarded = new Set<string>();
/**
 * A preview: a resource the update creates or replaces has no provider-computed values yet (a replaced generation's
 * certificate has no ARN or validation options until ACM issues them: TF-bridged computed attributes are unknown at
 * plan time), so the mocks answer them UNKNOWN, as the engine does.
 */
let previewing = false;
let neverHealthy: string[] = [];
/** The account's physical names: a second stack asking for a name the first holds is "already exists". */
let names = new CloudNames(AWS_NAME_RULES);
/** The SecretVersions each run put, in registration order, with what AWSCURRENT held right after. */
let puts: { name: string; versionId: string; current: string | undefined }[] = [];

/** Resource outputs the way AWS shapes them, enough for the component's wiring. */
function awsOutputs({ type, name, inputs }: { type: string; name: string; inputs: Record<string, unknown> }): Record<string, unknown> {
    names.create(type, inputs, pulumi.getStack());
    if (type === T.listener) {
        for (const action of (inputs["defaultActions"] ?? []) as { targetGroupArn?: string }[]) if (action.targetGroupArn) forwarded.add(action.targetGroupArn);
    }
    if (type === T.asg && Number(inputs["waitForElbCapacity"] ?? 0) > 0) {
        const groups = (inputs["targetGroupArns"] ?? []) as string[];
        if (!groups.some((arn) => forwarded.has(arn))) neverHealthy.push(`${name}: no listener forwards to ${groups.join(", ")} yet: its instances are never health-checked, the capacity wait times out`);
    }
    const tags = (inputs["tags"] ?? {}) as Record<string, string>;
    const physical = typeof inputs["name"] === "string" ? inputs["name"] : `${tags["repave:generation"] ?? "stable"}-${name}`;
    const [, service = "", kind = ""] = type.split(/[:/]/);
    const arn = `arn:aws:${service}:eu-west-1:123456789012:${kind}/${physical}`;
    switch (type) {
        case T.alb:
            return { arn, dnsName: `${physical}-1234567890.eu-west-1.elb.amazonaws.com`, zoneId: "Z32O12XQLNTSW2" };
        case T.certificate: {
            if (previewing) return { arn: UNKNOWN, notAfter: UNKNOWN, domainValidationOptions: UNKNOWN };
            const domains = [inputs["domainName"] as string, ...((inputs["subjectAlternativeNames"] as string[] | undefined) ?? [])];
            return {
                arn,
                notAfter: "2027-12-24T23:59:59Z",
                // ACM derives the record from the domain and the account: the same for every certificate.
                domainValidationOptions: domains.map((d) => ({
                    domainName: d,
                    resourceRecordName: `_${hash(d)}.${d}.`,
                    resourceRecordType: "CNAME",
                    resourceRecordValue: `_${hash(`${d}/value`)}.acm-validations.aws.`,
                })),
            };
        }
        case T.validation:
            return { certificateArn: inputs["certificateArn"] };
        case T.record:
            return { fqdn: String(inputs["name"]).replace(/\.$/, "") };
        case T.launchTemplate:
            return { arn, latestVersion: 1 };
        case T.credential:
            return { value: credentialOf(String(inputs["generation"])), createdAt: "2026-11-25T10:00:00.000Z" };
        case T.secret:
            secretsManager.createSecret(physical, arn);
            return { arn };
        case T.secretVersion: {
            const secretId = String(inputs["secretId"]);
            const put = secretsManager.putSecretValue(secretId, String(unwrap(inputs["secretString"])), inputs["versionStages"] as string[] | undefined);
            puts.push({ name, versionId: put.versionId, current: secretsManager.current(secretId) });
            return { arn: secretId, ...put };
        }
        default:
            return { arn };
    }
}

/** Image lookups: deploy n finds AMIS[n]; an SSM public parameter names it, getAmi describes it. */
/** Availability Zones of the test subnets by their last digit: ...11 in eu-west-1a, ...22 in eu-west-1b, ...33 in eu-west-1c. */
const ZONES: Record<string, string> = { "1": "a", "2": "b", "3": "c" };

function imageLookups(ami: string, calls: string[] = []): MockOptions["call"] {
    return (token, inputs) => {
        if (token === "aws:secretsmanager/getSecretVersion:getSecretVersion") {
            try {
                return secretsManager.getSecretValue(String(inputs["secretId"]), { versionStage: inputs["versionStage"] as string });
            } catch (err) {
                throw providerError(token, (err as Error).message);
            }
        }
        // Each subnet's zone (EC2 DescribeSubnets through the provider's getSubnet): the last digit picks it here.
        if (token === "aws:ec2/getSubnet:getSubnet") return { id: inputs["id"], availabilityZone: `eu-west-1${ZONES[String(inputs["id"]).slice(-1)] ?? "a"}` };
        // The partition of ARNs built in the program (STS GetCallerIdentity's partition through the provider).
        if (token === "aws:index/getPartition:getPartition") return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
        calls.push(token);
        if (token === "aws:ssm/getParameter:getParameter") return { name: inputs["name"], type: "String", value: ami };
        if (token === "aws:ec2/getAmi:getAmi") {
            const filters = (inputs["filters"] ?? []) as { name: string; values: string[] }[];
            const id = filters.find((f) => f.name === "image-id")?.values[0] ?? ami;
            return { id, imageId: id, name: `al2023-ami-2023.9.${id.slice(-1)}-kernel-6.1-x86_64`, creationDate: "2026-11-20T08:00:00.000Z", rootDeviceName: "/dev/xvda" };
        }
        throw new Error(`unexpected invoke ${token}`);
    };
}

interface Deploy {
    run: Registration[];
    api: StatelessApi;
    calls: string[];
    /** The secret versions this deploy put, in order, and what AWSCURRENT held after each. */
    puts: typeof puts;
}

/** A new, empty account: the next deploy is the stack's first. */
function freshAccount(): void {
    secretsManager = new FakeSecretsManager();
    forwarded = new Set();
    neverHealthy = [];
    names = new CloudNames(AWS_NAME_RULES);
}

async function deploy(n: 0 | 1, specOverride: StatelessApiSpec = spec, deployId = `deploy-${n}`, aws: AwsTargetArgs = awsArgs, stack = "test", preview = false, protectFrontDoor = false): Promise<Deploy> {
    let api: StatelessApi | undefined;
    const calls: string[] = [];
    puts = [];
    previewing = preview;
    const run = await completeRun(
        () => (api = new StatelessApi(specOverride.name, { spec: specOverride, aws, deployId, protectFrontDoor })),
        { outputs: awsOutputs, call: imageLookups(AMIS[n], calls), preview },
        stack,
    );
    previewing = false;
    return { run, api: api!, calls, puts };
}

/** How a Pulumi secret reaches the mocks: the value wrapped with the secret signature. */
const secret = (v: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: v });
const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
const one = (run: Registration[], pick: Pick, what: string): Registration => {
    const found = run.filter(pick);
    assert.equal(found.length, 1, `expected one ${what}, found ${found.length}`);
    return found[0]!;
};
const named = (suffix: string): Pick => (r) => r.name === `orders-${suffix}`;
const isGate = byType(T.gate);
/** The gate that proves the candidate with its own credential (the grace gate proves the callers' one). */
const isMainGate: Pick = (r) => r.type === T.gate && r.name === "orders-gate";
const isProduction: Pick = (r) => r.type === T.listener && r.name === "orders-production-listener";
const isTestListener: Pick = (r) => r.type === T.listener && r.name === "orders-test-listener";
const isFrontDoor: Pick = (r) =>
    [T.alb, T.securityGroup, T.ingress, T.egress, T.listener].includes(r.type as never) ||
    (r.type === T.record && r.name.startsWith("orders-")) ||
    r.name === "orders-credential-store";
const generationNames = [
    "credential", "secret-version", "secret-current", "certificate", "certificate-validation", "listener-certificate",
    "instance-role", "instance-policy", "instance-profile", "target-group", "launch-template", "asg",
];
const isGeneration: Pick = (r) => generationNames.some((n) => r.name === `orders-${n}`);
const isMonitor: Pick = (r) => r.name.startsWith("orders-monitor");
const arnOf = (r: Registration) => awsOutputs(r)["arn"] as string;

interface PolicyDocument {
    Statement: { Effect: string; Action: string | string[]; Resource: string | string[] }[];
}

// Mocks are process-wide: deploys run one at a time, in `before` hooks, never at describe time.
describe("aws target: one deploy", () => {
    let first: Deploy;
    before(async () => {
        freshAccount();
        first = await deploy(0);
    });

    it("resolves the image through the SSM public parameter and pins the AMI id in the launch template", async () => {
        const { run, api, calls } = first;
        assert.deepEqual(calls, ["aws:ssm/getParameter:getParameter", "aws:ec2/getAmi:getAmi"]);
        assert.equal(one(run, byType(T.launchTemplate), "launch template").inputs["imageId"], AMIS[0]);
        assert.equal(await value(api.imageId), AMIS[0]);
        assert.equal(await value(api.imageName), "al2023-ami-2023.9.1-kernel-6.1-x86_64");
        assert.equal(await value(api.imageCreatedAt), "2026-11-20T08:00:00.000Z");
    });

    it("registers the candidate's target group and ASG, healthy, before the gate; the gate probes the test listener", async () => {
        const { run } = first;
        const gate = one(run, isMainGate, "gate");
        const id = gate.inputs["generation"] as string;
        assert.match(id, /^g[0-9a-f]{6}$/);
        assertBefore(run, byType(T.targetGroup, T.asg), isGate, "candidate target group and ASG before the gate");
        assertBefore(run, isTestListener, isGate, "test listener before the gate");
        // The ASG waits for healthy targets: only once a listener uses its target group are they health-checked.
        assertBefore(run, isTestListener, byType(T.asg), "test listener before the ASG");
        assert.ok(one(run, byType(T.asg), "ASG").dependencies.includes(one(run, isTestListener, "test listener").urn), "the ASG depends on the test listener");
        assert.deepEqual(neverHealthy, [], "an ASG waited for capacity behind an unused target group");
        assertGateProbes(run, isGate);

        const alb = one(run, byType(T.alb), "load balancer");
        const tg = one(run, byType(T.targetGroup), "target group");
        const test = one(run, isTestListener, "test listener");
        assert.deepEqual(test.inputs["defaultActions"], [{ type: "forward", targetGroupArn: arnOf(tg) }], "the test listener forwards to the candidate");
        assert.equal(gate.inputs["host"], awsOutputs(alb)["dnsName"]);
        assert.equal(gate.inputs["port"], 8443);
        assert.equal(gate.inputs["serverName"], "api.example.com");
        assert.deepEqual(gate.inputs["credential"], secret(credentialOf(id)));

        const asg = one(run, byType(T.asg), "ASG");
        assert.equal(asg.inputs["name"], `orders-${SCOPE}-${id}-asg`, "physical names carry the stack and the generation");
        assert.ok((asg.inputs["minSize"] as number) >= spec.capacity && (asg.inputs["desiredCapacity"] as number) >= spec.capacity);
        assert.equal(asg.inputs["waitForElbCapacity"], spec.capacity, "created means every instance healthy in the target group");
        assert.deepEqual(asg.inputs["targetGroupArns"], [arnOf(tg)]);
        assert.equal(tg.inputs["name"], `orders-${SCOPE}-${id}`);
        assert.ok(String(tg.inputs["name"]).length <= 32);
        assert.equal(tg.inputs["deregistrationDelay"], spec.drainSeconds, "old targets drain for drainSeconds (I6)");
    });

    it("switches the production listener only after the gate, to the gated generation, with its certificate", async () => {
        const { run, api } = first;
        const id = one(run, isMainGate, "gate").inputs["generation"] as string;
        assertGateBeforeSwitch(run, isGate, isProduction, id);
        const production = one(run, isProduction, "production listener");
        assert.equal((production.inputs["tags"] as Record<string, string>)["repave:gate-passed"], id);
        const tg = one(run, byType(T.targetGroup), "target group");
        assert.deepEqual(production.inputs["defaultActions"], [{ type: "forward", targetGroupArn: arnOf(tg) }]);

        // The candidate's certificate is requested, DNS-validated (through the zone) and proven on the test listener
        // before the switch; the switch moves the default certificate.
        assertBefore(run, byType(T.certificate, T.validation), isProduction, "certificate and validation before the switch");
        const certificate = one(run, byType(T.certificate), "certificate");
        const validation = one(run, byType(T.validation), "certificate validation");
        assert.equal(validation.inputs["certificateArn"], arnOf(certificate));
        assert.equal(production.inputs["certificateArn"], arnOf(certificate));
        assert.equal(one(run, isTestListener, "test listener").inputs["certificateArn"], arnOf(certificate));
        const records = run.filter((r) => r.type === T.record && r.name.startsWith("orders-cert-validation"));
        assert.equal(records.length, 2);
        assert.deepEqual((validation.inputs["validationRecordFqdns"] as string[]).sort(), records.map((r) => String(r.inputs["name"]).replace(/\.$/, "")).sort());
        assert.ok(records.every((r) => r.inputs["zoneId"] === ZONE));

        // The generation's ListenerCertificate takes the production listener's ARN (so it follows the switch) and
        // depends on the certificate: the engine deletes it, detaching the old certificate, before the certificate.
        const attached = one(run, byType(T.listenerCertificate), "listener certificate");
        assert.equal(attached.inputs["listenerArn"], arnOf(production));
        assert.equal(attached.inputs["certificateArn"], arnOf(certificate));
        assertBefore(run, byType(T.certificate, T.validation), byType(T.listenerCertificate), "certificate before its listener attachment");

        assert.equal(await value(api.generation), id);
        assert.equal(await value(api.certificateArn), arnOf(certificate));
    });

    it("serves TLS 1.2+ only, and redirects HTTP to HTTPS", async () => {
        const { run } = first;
        const listeners = run.filter(byType(T.listener));
        const https = listeners.filter((l) => l.inputs["protocol"] === "HTTPS");
        assert.deepEqual(https.map((l) => l.inputs["port"]).sort(), [443, 8443]);
        for (const l of https) {
            assert.match(String(l.inputs["sslPolicy"]), /^ELBSecurityPolicy-(TLS13-1-2|TLS-1-2|FS-1-2)-/, `${l.name} allows TLS below 1.2`);
        }
        const http = listeners.filter((l) => l.inputs["protocol"] !== "HTTPS");
        assert.equal(http.length, 1);
        assert.deepEqual(http[0]!.inputs["defaultActions"], [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }]);
        const testIngress = run.filter((r) => r.type === T.ingress && r.inputs["fromPort"] === 8443);
        assert.deepEqual(testIngress.map((r) => r.inputs["cidrIpv4"]), ["203.0.113.7/32"], "only the CD runner reaches the test listener");
    });

    it("gives the instances least privilege: GetSecretValue on the API's secret, for this generation's versions only", async () => {
        const { run, puts: put } = first;
        const store = one(run, named("credential-store"), "credential store");
        assert.equal(store.inputs["name"], `orders-${SCOPE}-credential`, "one stable secret per API (and stack)");
        const staged = put.find((p) => p.name === "orders-secret-version")!;
        const policy = one(run, named("instance-policy"), "instance role policy");
        const document = JSON.parse(String(policy.inputs["policy"])) as PolicyDocument & { Statement: { Condition?: unknown }[] };
        assert.equal(document.Statement.length, 1);
        for (const statement of document.Statement) {
            const actions = [statement.Action].flat();
            const resources = [statement.Resource].flat();
            assert.equal(statement.Effect, "Allow");
            assert.deepEqual(actions, ["secretsmanager:GetSecretValue"]);
            assert.ok(actions.every((a) => !a.includes("*")), `wildcard action in ${JSON.stringify(actions)}`);
            assert.deepEqual(resources, [arnOf(store)]);
            assert.ok(resources.every((r) => !r.includes("*")), `wildcard resource in ${JSON.stringify(resources)}`);
            // The first generation has no previous credential: its own staged version, nothing else.
            assert.deepEqual(statement.Condition, { StringEquals: { "secretsmanager:VersionId": [staged.versionId] } });
        }
        assert.equal(run.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0, "no managed policies by default");
        const role = one(run, named("instance-role"), "instance role");
        assert.equal(policy.inputs["role"], role.inputs["name"]);
    });

    it("keeps the credential out of everything but its secret versions, the gates and the bake (I8)", async () => {
        const { run, puts: put } = first;
        const id = one(run, isMainGate, "gate").inputs["generation"] as string;
        const credential = credentialOf(id);
        const holders = run.filter((r) => JSON.stringify(r.inputs).includes(credential));
        // The first generation has no previous credential: the grace gate proves its own.
        assert.deepEqual(holders.map((r) => r.name).sort(), ["orders-bake", "orders-gate", "orders-gate-grace", "orders-secret-current", "orders-secret-version"]);
        for (const r of holders) {
            const held = r.inputs[r.type === T.secretVersion ? "secretString" : "credential"];
            assert.deepEqual(held, secret(credential), `${r.name} holds the credential outside a Pulumi secret`);
        }
        const template = one(run, byType(T.launchTemplate), "launch template");
        const script = Buffer.from(String(template.inputs["userData"]), "base64").toString("utf8");
        const staged = put.find((p) => p.name === "orders-secret-version")!;
        assert.ok(script.includes(arnOf(one(run, named("credential-store"), "store"))), "user data reads the API's secret by ARN");
        assert.ok(script.includes(`read_version '${staged.versionId}'`), "user data reads this generation's version by id");
        assert.ok(script.includes('previous=""'), "a first generation has no previous credential");
        assert.ok(script.includes("exec node /opt/api/server.mjs") && script.includes("systemctl enable --now repave-api.service"));
        assert.deepEqual((template.inputs["metadataOptions"] as Record<string, unknown>)["httpTokens"], "required");
    });

    it("keeps the old generation warm after the switch, then monitors production with the same probes", async () => {
        const { run } = first;
        const id = one(run, isMainGate, "gate").inputs["generation"] as string;
        const warm = one(run, byType(T.bake), "bake");
        assert.equal(warm.inputs["generation"], id);
        assert.equal(warm.inputs["keepWarmSeconds"], spec.keepWarmSeconds);
        assert.equal(warm.inputs["port"], 443);
        assertBefore(run, isProduction, byType(T.bake), "switch before the bake");
        // The bake's way back is the previous bake's `route`; its own routes the listener to this generation's
        // target group (AWS CLI reference, elbv2 modify-listener --default-actions), in the listener's region.
        const listener = arnOf(one(run, isProduction, "production listener"));
        const group = arnOf(one(run, byType(T.targetGroup), "target group"));
        assert.deepEqual(warm.inputs["route"], ["aws", "elbv2", "modify-listener", "--region", listener.split(":")[3], "--listener-arn", listener, "--default-actions", `Type=forward,TargetGroupArn=${group}`]);
        assertBefore(run, isProduction, isMonitor, "switch before the monitor");

        const fn = one(run, byType(T.lambda), "monitor function");
        const env = (fn.inputs["environment"] as { variables: Record<string, string> }).variables;
        assert.equal(env["REPAVE_SECRET_ARN"], arnOf(one(run, named("credential-store"), "store")), "the monitor reads the API's secret");
        assert.match(monitorCode(spec.probes)["index.mjs"]!, /VersionStage: "AWSCURRENT"/, "...by the label callers use");
        const monitorPolicy = JSON.parse(String(one(run, named("monitor-policy"), "monitor policy").inputs["policy"])) as { Statement: { Sid: string; Condition?: unknown }[] };
        assert.deepEqual(monitorPolicy.Statement.find((st) => st.Sid === "ReadCurrentCredential")?.Condition, { StringEquals: { "secretsmanager:VersionStage": "AWSCURRENT" } });
        assert.equal(env["REPAVE_HOST"], "api.example.com");
        const alarm = one(run, byType(T.alarm), "alarm");
        assert.equal(alarm.inputs["metricName"], "Errors");
        assert.deepEqual(alarm.inputs["dimensions"], { FunctionName: `orders-${SCOPE}-monitor` });
        assert.equal(alarm.inputs["treatMissingData"], "breaching");
    });

    it("gives every resource one role: front door, generation, gate, bake or monitor", async () => {
        const { run } = first;
        const roles: [string, Pick][] = [
            ["component", (r) => r.type === T.component || r.type === frontDoorRoleType],
            ["front door", isFrontDoor],
            ["generation", isGeneration],
            ["gate", (r) => isGate(r) || r.type === T.runnerAccess],
            ["bake", byType(T.bake, T.afterSwitch)],
            ["monitor", isMonitor],
        ];
        for (const r of run) {
            const matched = roles.filter(([, pick]) => pick(r)).map(([role]) => role);
            assert.equal(matched.length, 1, `${r.type} ${r.name} has roles [${matched.join(", ")}]`);
        }
        // The role marker (components/roles.ts) the driver's plan and the policy pack read: on every front-door
        // resource and the monitors (stable names), on nothing the changeover rebuilds.
        for (const r of run.filter((r) => r.custom)) {
            assert.equal(isFrontDoorUrn(r.urn), isFrontDoor(r) || isMonitor(r), `${r.type} ${r.name}: front-door marker in ${r.urn}`);
        }
        for (const r of run.filter(isGeneration)) {
            const tags = r.inputs["tags"] as Record<string, string> | { key: string; value: string }[] | undefined;
            const generation = Array.isArray(tags) ? tags.find((t) => t.key === "repave:generation")?.value : tags?.["repave:generation"];
            if (tags) assert.ok(generation, `${r.name} is not tagged with its generation`);
        }
    });
});

describe("aws target: two successive deploys", () => {
    let runs: [Deploy, Deploy];
    before(async () => {
        freshAccount();
        runs = [await deploy(0), await deploy(1)];
    });

    it("keeps the front door, replaces the generation, and pins the newer AMI", async () => {
        const [a, b] = runs;
        const ids: [string, string] = [one(a.run, isMainGate, "gate").inputs["generation"] as string, one(b.run, isMainGate, "gate").inputs["generation"] as string];
        assertStableFrontDoor(a.run, b.run, isFrontDoor);
        assertGenerationReplaced(a.run, b.run, isGeneration, ids);
        assertGateBeforeSwitch(b.run, isGate, isProduction, ids[1]);
        assert.equal(one(a.run, byType(T.launchTemplate), "launch template").inputs["imageId"], AMIS[0]);
        assert.equal(one(b.run, byType(T.launchTemplate), "launch template").inputs["imageId"], AMIS[1]);
        // The validation records take the new certificate's values, which ACM keeps per domain: no diff, no outage
        // of the record the live certificate renews by.
        const records = (run: Registration[]) => run.filter((r) => r.type === T.record).map((r) => r.inputs);
        assert.deepEqual(records(b.run), records(a.run));
        assert.equal(await value(b.api.imageId), AMIS[1]);
        assert.equal(await value(b.api.albArn), await value(a.api.albArn));
        assert.equal(await value(b.api.albDnsName), await value(a.api.albDnsName));
    });

    it("with policy pinned, repaves for a new AMI or instance type, not for a new deploy of the same ones", async () => {
        const pinned = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" } }])[0]!;
        const idOf = async (n: 0 | 1, deployId: string, aws = awsArgs) =>
            one((await deploy(n, pinned, deployId, aws)).run, isMainGate, "gate").inputs["generation"];
        const same1 = await idOf(0, "deploy-a");
        assert.equal(await idOf(0, "deploy-b"), same1);
        assert.notEqual(await idOf(1, "deploy-c"), same1, "a newer AMI is a new generation");
        // An AWS-only setting of the instances is a new generation too, never an in-place update of the live ASG (I1).
        assert.notEqual(await idOf(0, "deploy-d", { ...awsArgs, instanceType: "m7g.large" }), same1);
        // The drain is the target group's deregistration delay: a generation attribute too.
        const slowerDrain = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" }, drainSeconds: 120 }])[0]!;
        assert.notEqual(one((await deploy(0, slowerDrain, "deploy-e")).run, isMainGate, "gate").inputs["generation"], same1, "a new drainSeconds is a new generation");
    });
});

describe("aws target: callers keep working across the switch (one secret, staging labels)", () => {
    const STORE = `orders-${SCOPE}-credential`;
    let runs: Deploy[] = [];
    let held: (string | undefined)[] = [];
    before(async () => {
        freshAccount();
        runs = [];
        held = [];
        for (const [n, id] of [[0, "d1"], [1, "d2"], [0, "d3"]] as const) {
            held.push(secretsManager.current(STORE));
            runs.push(await deploy(n, spec, id));
        }
    });
    const generationOf = (d: Deploy) => String(one(d.run, isMainGate, "gate").inputs["generation"]);
    /** What a generation accepts: the versions its instances read by id at boot, resolved in the account. */
    const acceptedBy = (d: Deploy): string[] => {
        const script = Buffer.from(String(one(d.run, byType(T.launchTemplate), "launch template").inputs["userData"]), "base64").toString("utf8");
        return [...script.matchAll(/read_version '([0-9a-f]+)'/g)].map((m) => secretsManager.getSecretValue(STORE, { versionId: m[1]! }).secretString);
    };
    const timeline = (k: 1 | 2) => {
        const [previous, d] = [runs[k - 1]!, runs[k]!];
        const index = (name: string) => one(d.run, (r) => r.name === name, name).index;
        let current = held[k]!;
        const moves = d.puts.filter((p) => p.current !== undefined && p.current !== current && (current = p.current) !== undefined);
        return {
            before: { production: generationOf(previous), reference: held[k]!, monitors: { canary: held[k]! } },
            events: [
                { index: one(d.run, isProduction, "switch").index, production: generationOf(d) },
                // The canary reads AWSCURRENT on every run: it moves exactly when the label does.
                ...moves.map((p) => ({ index: index(p.name), reference: p.current!, monitor: { name: "canary", credential: p.current! } })),
            ],
            candidate: generationOf(d),
            accepts: (generation: string) => acceptedBy(runs.find((r) => generationOf(r) === generation)!),
            refused: ["not-a-credential", ...(k === 2 ? [credentialOf(generationOf(runs[0]!))] : [])],
        };
    };

    it("stages the candidate's credential without moving AWSCURRENT, and promotes it only after the switch and the bake", () => {
        const d = runs[1]!;
        assert.deepEqual(d.puts.map((p) => p.name), ["orders-secret-version", "orders-secret-current"]);
        assert.equal(d.puts[0]!.current, credentialOf(generationOf(runs[0]!)), "staging leaves callers on the live credential");
        assert.equal(d.puts[1]!.current, credentialOf(generationOf(d)), "the promotion moves AWSCURRENT");
        assertBefore(d.run, byType(T.bake), named("secret-current"), "bake before the promotion");
        assert.deepEqual(secretsManager.getSecretValue(STORE, { versionStage: "AWSPREVIOUS" }).secretString, credentialOf(generationOf(runs[1]!)), "AWSPREVIOUS: the credential of the generation before");
    });

    it("the candidate accepts its own and the live credential, pinned by version id; the grace gate proves the live one before the switch", () => {
        const d = runs[1]!;
        assert.deepEqual(acceptedBy(d), [credentialOf(generationOf(d)), credentialOf(generationOf(runs[0]!))]);
        const grace = one(d.run, named("gate-grace"), "grace gate");
        assert.deepEqual(grace.inputs["credential"], secret(credentialOf(generationOf(runs[0]!))));
        assertGateBeforeSwitch(d.run, byType(T.gate), isProduction, generationOf(d));
        const policy = JSON.parse(String(one(d.run, named("instance-policy"), "policy").inputs["policy"])) as { Statement: { Condition: { StringEquals: Record<string, string[]> } }[] };
        assert.equal(policy.Statement[0]!.Condition.StringEquals["secretsmanager:VersionId"]!.length, 2, "exactly the two versions it reads");
    });

    it("no caller and no monitor is handed a credential production refuses, on the second and the third deploy", () => {
        assertCallersKeepWorking(timeline(1));
        assertCallersKeepWorking(timeline(2));
    });
});

describe("aws target: a preview of a repave", () => {
    let preview: Deploy;
    before(async () => {
        freshAccount();
        await deploy(0);
        preview = await deploy(1, spec, "deploy-preview", awsArgs, "test", true);
    });

    it("shows the validation records unchanged: each is keyed by its domain, and ignores the values it cannot know yet", () => {
        const records = preview.run.filter((r) => r.type === T.record && r.name.startsWith("orders-cert-validation"));
        assert.deepEqual(records.map((r) => r.name).sort(), ["orders-cert-validation-api.example.com", "orders-cert-validation-www.api.example.com"]);
        for (const r of records) {
            const unknown = unknownInputs(r);
            assert.ok(unknown.includes("name"), `${r.name}: the mocks did not make the certificate's values unknown`);
            // An unknown name forces a new record: a preview would show the front door replaced.
            assert.deepEqual(unknown.filter((k) => !r.ignoreChanges.includes(k)), [], `${r.name}: a preview shows these unknown and would replace the record`);
        }
        // Earlier releases keyed the records by position: an alias carries each over, no delete and create.
        // (Each alias is also tried under the API component, the parent before the front-door role marker.)
        assert.deepEqual(records.map((r) => [...new Set(r.aliases.filter(Boolean))]).sort(), [["orders-cert-validation-0"], ["orders-cert-validation-1"]]);
    });
});

describe("aws target: two stacks, one account (names carry the stack)", () => {
    const pinned = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" } }])[0]!;
    let staging: Deploy;
    let production: Deploy;
    let longest: Deploy;
    before(async () => {
        freshAccount();
        // The same spec, image and deploy id: under `pinned` only the stack tells the two apart.
        staging = await deploy(0, pinned, "same-deploy", awsArgs, "staging");
        production = await deploy(0, pinned, "same-deploy", awsArgs, "production");
        longest = await deploy(0, parseApiSpecs([{ ...specInput, name: "a-twenty-four-char-api-x" }])[0], "deploy-long", awsArgs, "staging");
    });

    it("asks for no physical name the other stack holds, generation names included (their ids carry the stack)", () => {
        assertTwoStacksOneAccount(staging.run, production.run, AWS_NAME_RULES);
        assert.notEqual(one(staging.run, isMainGate, "gate").inputs["generation"], one(production.run, isMainGate, "gate").inputs["generation"]);
        assert.deepEqual(names.refusals, [], "the account refused a name");
    });

    it("keeps every name within its resource's rules, the longest API name included", () => {
        assert.deepEqual(names.refusals, []);
        const tg = String(one(longest.run, byType(T.targetGroup), "target group").inputs["name"]);
        assert.ok(tg.length <= 32 && tg.startsWith("a-twenty-four"), tg);
        const alb = String(one(longest.run, byType(T.alb), "load balancer").inputs["name"]);
        assert.ok(alb.length <= 32, alb);
    });

    it("keeps the names of a stack deployed before names carried the stack (I4: a rename would replace the ALB)", () => {
        const isNamedFrontDoor: Pick = (r) => isFrontDoor(r) || isMonitor(r);
        assertExistingStacksKeepNames(staging.run, isNamedFrontDoor, AWS_NAME_RULES);
    });
});

describe("aws target: a consumer's dependsOn on the component", () => {
    it("waits for every child the changeover registers (the component works in initialize())", async () => {
        freshAccount();
        const run = await completeRun(
            () => {
                const api = new StatelessApi("orders", { spec, aws: awsArgs, deployId: "deploy-consumer" });
                new Consumer("consumer", { dependsOn: [api] });
                return api;
            },
            { outputs: awsOutputs, call: imageLookups(AMIS[0]) },
        );
        assertDependsOnWaitsForChildren(run, "consumer");
    });
});

describe("aws target: exposure and reach (issue #13 items 7 and 9)", () => {
    const { testListenerCidrs: _cidrs, ...defaults } = awsArgs;
    let run: Registration[] = [];
    before(async () => {
        run = (await deploy(0, spec, "deploy-exposure", defaults)).run;
    });
    const ingress = (port: number) => run.filter((r) => r.type === T.ingress && r.inputs["fromPort"] === port);

    it("the test listener is open to nobody by default; the gate's runner gets its own address for the gate only", () => {
        assert.deepEqual(ingress(8443), [], "no standing rule on the test port (it was 0.0.0.0/0)");
        const access = one(run, byType(T.runnerAccess), "runner access");
        one(run, named("alb-sg"), "ALB security group");
        const group = "orders-alb-sg-id"; // the mocks' id of the ALB's security group
        // EC2 API: AuthorizeSecurityGroupIngress / RevokeSecurityGroupIngress with the runner's /32 on the test port.
        assert.deepEqual((access.inputs["open"] as string[]).slice(0, 3), ["aws", "ec2", "authorize-security-group-ingress"]);
        assert.ok((access.inputs["open"] as string[]).includes(String(group)), "on the ALB's security group");
        assert.match((access.inputs["open"] as string[]).at(-1)!, /^IpProtocol=tcp,FromPort=8443,ToPort=8443,IpRanges=\[\{CidrIp=\{cidr\}/);
        assert.deepEqual((access.inputs["close"] as string[]).slice(0, 3), ["aws", "ec2", "revoke-security-group-ingress"]);
        assertBefore(run, byType(T.runnerAccess), isGate, "runner access before the gate");
    });

    it("after the bake, the test listener answers a fixed 404 and the runner's address is closed again", () => {
        const after = one(run, byType(T.afterSwitch), "after switch");
        assertBefore(run, byType(T.bake), byType(T.afterSwitch), "bake before closing the test route");
        const [closeTest, closeRunner] = after.inputs["commands"] as string[][];
        const testArn = arnOf(one(run, isTestListener, "test listener"));
        assert.deepEqual(closeTest!.slice(0, 3), ["aws", "elbv2", "modify-listener"]);
        assert.ok(closeTest!.includes(testArn), "on the test listener");
        assert.match(closeTest!.at(-1)!, /^Type=fixed-response,FixedResponseConfig=\{StatusCode=404,/);
        assert.deepEqual(closeRunner!.slice(0, 3), ["aws", "ec2", "revoke-security-group-ingress"]);
    });

    it("the example stack parses and, as written, lets the gate in from the runner only (examples/cd runs it on hosted runners)", () => {
        const config = readExampleStack("Pulumi.aws-example.yaml");
        const args = parseAwsTargetArgs(config["repave:aws"]);
        assert.deepEqual(args.testListenerCidrs, []);
        assert.equal(args.gateFromRunner, true);
    });

    it("an internal load balancer on request; internet-facing by default", async () => {
        assert.equal(one(run, byType(T.alb), "alb").inputs["internal"], false);
        const internal = (await deploy(0, spec, "deploy-internal", { ...defaults, internal: true })).run;
        assert.equal(one(internal, byType(T.alb), "alb").inputs["internal"], true);
    });

    it("the monitor runs outside the VPC while production takes everyone, inside it once clientCidrs is narrowed", async () => {
        assert.equal(one(run, byType(T.lambda), "monitor").inputs["vpcConfig"], undefined);
        const narrowed = (await deploy(0, spec, "deploy-narrow", { ...defaults, clientCidrs: ["10.0.0.0/8"] })).run;
        const fn = one(narrowed, byType(T.lambda), "monitor");
        const monitorGroup = one(narrowed, named("monitor-sg"), "monitor security group");
        assert.deepEqual(fn.inputs["vpcConfig"], { subnetIds: awsArgs.subnetIds, securityGroupIds: ["orders-monitor-sg-id"] }, "in the instance subnets, with its own group");
        assert.equal(monitorGroup.inputs["vpcId"], awsArgs.vpcId);
        const admitted = narrowed.filter((r) => r.type === T.ingress && r.inputs["referencedSecurityGroupId"] === "orders-monitor-sg-id");
        assert.deepEqual(admitted.map((r) => [r.inputs["securityGroupId"], r.inputs["fromPort"]]), [["orders-alb-sg-id", 443]], "the ALB admits the monitor on the production port");
        assert.ok(narrowed.some((r) => r.name === "orders-monitor-vpc-access" && String(r.inputs["policyArn"]).endsWith("/AWSLambdaVPCAccessExecutionRole")), "ENI permissions");
        const internal = (await deploy(0, spec, "deploy-internal-monitor", { ...defaults, internal: true })).run;
        assert.ok(one(internal, byType(T.lambda), "monitor").inputs["vpcConfig"], "an internal ALB is reachable only from inside");
    });

    it("with gateFromRunner off, the listed CIDRs reach the test listener and no runner rule is made", async () => {
        const fixed = (await deploy(0, spec, "deploy-fixed", { ...defaults, gateFromRunner: false, testListenerCidrs: ["10.0.0.0/16"] })).run;
        assert.deepEqual(fixed.filter(byType(T.runnerAccess)), []);
        assert.deepEqual(fixed.filter((r) => r.type === T.ingress && r.inputs["fromPort"] === 8443).map((r) => r.inputs["cidrIpv4"]), ["10.0.0.0/16"]);
        assert.equal((one(fixed, byType(T.afterSwitch), "after switch").inputs["commands"] as string[][]).length, 1, "only the test route closes");
    });
});

describe("aws target: protectFrontDoor (issue #13 item 12)", () => {
    it("protects the ALB, its listeners, rules, DNS, the stable secret and the monitor, and nothing a repave replaces", async () => {
        const { run } = await deploy(0, spec, "deploy-protect", awsArgs, "test", false, true);
        assertOnlyFrontDoorProtected(run, (r) => isFrontDoor(r) || isMonitor(r));
        assert.ok(run.some((r) => r.type === T.alb && r.protect), "the load balancer is protected");
    });

    it("protects nothing unless asked", async () => {
        assert.deepEqual((await deploy(0, spec, "deploy-unprotected")).run.filter((r) => r.protect).map((r) => r.name), []);
    });
});

describe("aws target: the credential is fetched on every start (issue #13 item 12)", () => {
    const script = userData({
        api: "orders",
        generation: "g1a2b3c",
        secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-abc123-credential-AbCdEf",
        versionId: "v-own",
        previousVersionId: "v-previous",
        port: 8080,
        healthPath: "/healthz",
        domains: ["api.example.com"],
        start: "exec node /opt/api/server.mjs",
    });
    const heredoc = (marker: string) => {
        const match = new RegExp(`<<'${marker}'\\n([\\s\\S]*?)\\n${marker}\\n`).exec(script);
        assert.ok(match, `no ${marker} block in the user data`);
        return match[1]!;
    };

    it("a oneshot unit runs the fetch before the API on every boot; /run (tmpfs) is not where it lives", () => {
        const unit = heredoc("REPAVE_CREDENTIALS_EOF");
        for (const line of ["Type=oneshot", "ExecStart=/opt/repave/fetch-credentials", "Before=repave-api.service", "WantedBy=multi-user.target"]) assert.ok(unit.includes(line), line);
        const dropIn = heredoc("REPAVE_DROPIN_EOF");
        assert.ok(dropIn.includes("Requires=repave-credentials.service") && dropIn.includes("After=repave-credentials.service"), "the API waits for it, a golden AMI's unit too");
        assert.ok(script.includes("systemctl enable --now repave-credentials.service"));
        assert.ok(!/get-secret-value/.test(script.replace(heredoc("REPAVE_FETCH_EOF"), "")), "user data itself fetches nothing: the unit does, each boot");
    });

    it("the fetch script stands alone: run after a reboot emptied /run, it writes the same environment again", () => {
        const dir = mkdtempSync(join(tmpdir(), "repave-boot-"));
        try {
            const fetch = join(dir, "fetch-credentials");
            writeFileSync(fetch, heredoc("REPAVE_FETCH_EOF"), { mode: 0o700 });
            // The AWS CLI as the instance role sees the secret: one value per version id.
            writeFileSync(join(dir, "aws"), `#!/bin/sh\ncase "$*" in *v-own*) printf own-credential;; *v-previous*) printf previous-credential;; *) exit 255;; esac\n`, { mode: 0o755 });
            const env = { ...process.env, PATH: `${dir}:${process.env["PATH"] ?? ""}`, REPAVE_RUN_DIR: join(dir, "run"), REPAVE_RETRY_SECONDS: "0" };
            for (const boot of [1, 2]) {
                rmSync(join(dir, "run"), { recursive: true, force: true }); // tmpfs: empty on every boot
                execFileSync("bash", [fetch], { env });
                const written = readFileSync(join(dir, "run", "env"), "utf8");
                assert.match(written, /^REPAVE_CREDENTIAL=own-credential$/m, `boot ${boot}`);
                assert.match(written, /^REPAVE_PREVIOUS_CREDENTIAL=previous-credential$/m, `boot ${boot}`);
                assert.equal(statSync(join(dir, "run", "env")).mode & 0o077, 0, "root-only");
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("aws target: instance subnets in zones the load balancer serves (issue #13 item 12)", () => {
    // The check the component awaits right after the image lookup, before it registers anything.
    const check = async (aws: AwsTargetArgs): Promise<unknown> => {
        await runWithMocks(() => undefined, { outputs: awsOutputs, call: imageLookups(AMIS[0]) });
        return checkSubnetZones(validateAwsTarget(spec, aws), {}).then(() => null, (err: unknown) => err);
    };

    it("refuses instance subnets in a zone without a load balancer subnet: they would never get traffic", async () => {
        const error = await check({ ...awsArgs, instanceSubnetIds: ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60733"] });
        assert.ok(error instanceof SpecError, String(error));
        assert.match(error.message, /orders\.aws\.instanceSubnetIds\[1\]: subnet-0a1b2c3d4e5f60733 is in eu-west-1c, where the load balancer has no subnet.*hint: add a subnet of eu-west-1c/);
    });

    it("refuses load balancer subnets all in one zone, and accepts instances in the zones it serves", async () => {
        assert.match(String(await check({ ...awsArgs, subnetIds: ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60781"] })), /orders\.aws\.subnetIds: all in eu-west-1a: a load balancer needs subnets in at least two Availability Zones/);
        assert.equal(await check({ ...awsArgs, instanceSubnetIds: ["subnet-0a1b2c3d4e5f60722"] }), null);
    });
});

describe("aws target: the deploying identity's policy (components/aws/deploy-policy.json)", () => {
    // What creating each registered type asks AWS for (the provider's create call, as named in the Service
    // Authorization Reference), and what the deploy calls besides: its lookups and its CLI steps.
    const createdBy: Record<string, string[]> = {
        [T.alb]: ["elasticloadbalancing:CreateLoadBalancer"],
        [T.targetGroup]: ["elasticloadbalancing:CreateTargetGroup"],
        [T.listener]: ["elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener"],
        "aws:lb/listenerCertificate:ListenerCertificate": ["elasticloadbalancing:AddListenerCertificates"],
        [T.securityGroup]: ["ec2:CreateSecurityGroup"],
        [T.ingress]: ["ec2:AuthorizeSecurityGroupIngress"],
        [T.egress]: ["ec2:AuthorizeSecurityGroupEgress"],
        [T.launchTemplate]: ["ec2:CreateLaunchTemplate", "ec2:RunInstances"],
        [T.asg]: ["autoscaling:CreateAutoScalingGroup"],
        [T.certificate]: ["acm:RequestCertificate"],
        [T.validation]: ["acm:DescribeCertificate"],
        [T.record]: ["route53:ChangeResourceRecordSets"],
        [T.role]: ["iam:CreateRole", "iam:PassRole"],
        [T.rolePolicy]: ["iam:PutRolePolicy"],
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["iam:AttachRolePolicy"],
        [T.instanceProfile]: ["iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"],
        "aws:secretsmanager/secret:Secret": ["secretsmanager:CreateSecret"],
        "aws:secretsmanager/secretVersion:SecretVersion": ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
        [T.lambda]: ["lambda:CreateFunction"],
        "aws:lambda/permission:Permission": ["lambda:AddPermission"],
        "aws:cloudwatch/eventRule:EventRule": ["events:PutRule"],
        "aws:cloudwatch/eventTarget:EventTarget": ["events:PutTargets"],
        "aws:cloudwatch/logGroup:LogGroup": ["logs:CreateLogGroup"],
        [T.alarm]: ["cloudwatch:PutMetricAlarm"],
    };
    const alsoCalled = ["ssm:GetParameter", "ec2:DescribeImages", "ec2:DescribeSubnets", "secretsmanager:GetSecretValue", "ec2:RevokeSecurityGroupIngress"];
    const policy = JSON.parse(readFileSync(new URL("../../../components/aws/deploy-policy.json", import.meta.url), "utf8")) as { Statement: { Effect: string; Action: string | string[] }[] };
    const allowed = policy.Statement.filter((st) => st.Effect === "Allow").flatMap((st) => [st.Action].flat());
    const allows = (action: string) => allowed.some((a) => a === action || (a.endsWith("*") && action.startsWith(a.slice(0, -1))));

    it("allows every call a deploy makes, for every AWS resource type it registers (VPC monitor and runner access included)", async () => {
        const { testListenerCidrs: _c, ...defaults } = awsArgs;
        const runs = [(await deploy(0, spec, "deploy-policy", { ...defaults, clientCidrs: ["10.0.0.0/8"] })).run, (await deploy(0, spec, "deploy-policy-ssm", { ...awsArgs, ssmSessionManager: true })).run];
        const types = [...new Set(runs.flat().filter((r) => r.type.startsWith("aws:")).map((r) => r.type))];
        const unmapped = types.filter((t) => !createdBy[t]);
        assert.deepEqual(unmapped, [], "a resource type the policy table does not know: add what creating it calls, and allow it");
        const missing = [...types.flatMap((t) => createdBy[t]!), ...alsoCalled].filter((a) => !allows(a));
        assert.deepEqual(missing, [], "the deploy policy lacks these");
    });
});

describe("aws target: invalid config", () => {
    const expectRefused = async (specArg: StatelessApiSpec, aws: AwsTargetArgs): Promise<SpecError> => {
        let error: unknown;
        const run = await runWithMocks(
            () => {
                try {
                    new StatelessApi("orders", { spec: specArg, aws, deployId: "deploy-bad" });
                } catch (err) {
                    error = err;
                }
            },
            { outputs: awsOutputs, call: imageLookups(AMIS[0]) },
        );
        assert.ok(error instanceof SpecError, `expected a SpecError, got ${String(error)}`);
        assert.deepEqual(run, [], "nothing may be registered, not even the component");
        return error;
    };

    it("lists every problem by path with a hint, and registers nothing", async () => {
        const error = await expectRefused(spec, {
            vpcId: "vpc_main",
            subnetIds: [],
            testListenerPort: 70000,
            domains: ["Orders_API.example.com"],
            gateFromRunner: false,
        });
        const byPath = (path: string) => error.problems.find((p) => p.startsWith(`${path}:`));
        for (const path of ["orders.aws.vpcId", "orders.aws.subnetIds", "orders.aws.testListenerPort", "orders.aws.domains[0]", "orders.aws.testListenerCidrs"]) {
            assert.ok(byPath(path), `no problem reported for ${path}:\n${error.message}`);
            assert.match(byPath(path)!, /\(hint: .+\)$/, `${path} has no hint`);
        }
        assert.match(byPath("orders.aws.vpcId")!, /vpc-/);
        assert.match(error.message, /^invalid repave configuration \(\d+ problems\); nothing was changed:/);
    });

    it("refuses an image the AWS target cannot run and a certificate name ACM cannot issue", async () => {
        const local = parseApiSpecs([{ name: "orders", image: { source: "local-builds", path: "images/sample-api" } }])[0]!;
        const error = await expectRefused(local, awsArgs);
        assert.ok(error.problems.some((p) => p.startsWith("orders.image.source:")), error.message);
        assert.ok(error.problems.some((p) => p.startsWith("orders.certificate.domains[0]:") && p.includes('"localhost"')), error.message);
        const noLookup = parseApiSpecs([{ ...specInput, image: { source: "aws-ami", owners: ["amazon"] } }])[0]!;
        assert.ok((await expectRefused(noLookup, awsArgs)).problems.some((p) => p.startsWith("orders.image:")));
        assert.ok((await expectRefused(spec, { ...awsArgs, listenerPort: 8443 })).problems.some((p) => p.startsWith("orders.aws.testListenerPort:")));
    });

    it("validates ids that are known now and leaves Outputs (another stack's VPC) to AWS", async () => {
        const { run } = await (async () => {
            const r = await runWithMocks(
                () => {
                    new StatelessApi("orders", { spec, aws: { ...awsArgs, vpcId: pulumi.output("vpc-0a1b2c3d4e5f60718") }, deployId: "deploy-out" });
                },
                { outputs: awsOutputs, call: imageLookups(AMIS[0]) },
            );
            return { run: r };
        })();
        assert.ok(run.some(byType(T.alb)));
    });

    it("parses the stack's repave:aws block with config paths", () => {
        assert.throws(
            () => parseAwsTargetArgs({ vpcId: "vpc-0a1b2c3d4e5f60718", subnetIds: ["subnet-0a1b2c3d4e5f60711"], extra: 1 }),
            (err: unknown) =>
                err instanceof SpecError &&
                err.problems.some((p) => p.startsWith("repave:aws.subnetIds:")) &&
                err.problems.some((p) => p.startsWith("repave:aws:") && p.includes("extra")),
        );
        assert.equal(parseAwsTargetArgs(awsArgs).vpcId, awsArgs.vpcId);
    });
});

describe("aws target: the credential a generation pins", () => {
    it("keeps the previous credential it was built with: a later deploy of the same generation changes nothing", async () => {
        const { credentialProvider } = (await import("../../../components/aws/providers.ts")) as { credentialProvider: pulumi.dynamic.ResourceProvider };
        const built = { api: "orders", generation: "g111111", previous: "cred-live", previousVersionId: "v-live" };
        const outs = (await credentialProvider.create(built)).outs as Record<string, unknown>;
        assert.equal(outs["previous"], "cred-live");
        assert.match(String(outs["value"]), /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
        // `pinned`: the reference now names this generation's own credential; the generation must not follow it.
        const later = await credentialProvider.diff!("id", outs, { ...built, previous: String(outs["value"]), previousVersionId: "v-own" });
        assert.deepEqual(later, { changes: false, replaces: [], deleteBeforeReplace: false });
        const next = await credentialProvider.diff!("id", outs, { ...built, generation: "g222222" });
        assert.deepEqual(next.replaces, ["generation"]);
    });
});

describe("aws target: monitor code", () => {
    it("ships the shared probe runner as plain JavaScript that loads and refuses a wrong answer", async () => {
        const code = monitorCode({ positive: spec.probes.positive, negative: spec.probes.negative });
        assert.deepEqual(Object.keys(code).sort(), ["index.mjs", "probes.mjs", "spec.mjs", "suite.json"]);
        assert.deepEqual(JSON.parse(code["suite.json"]!), { positive: spec.probes.positive, negative: spec.probes.negative });
        const dir = mkdtempSync(join(tmpdir(), "repave-monitor-"));
        try {
            for (const file of ["probes.mjs", "spec.mjs"]) writeFileSync(join(dir, file), code[file]!);
            const probes = (await import(pathToFileURL(join(dir, "probes.mjs")).href)) as typeof Probes;
            // Nothing listens on port 9 of loopback: every positive probe must fail, and say why.
            const report = await probes.runPositive({ host: "127.0.0.1", port: 9, serverName: "api.example.com" }, spec.probes, "x");
            assert.equal(report.passed, false);
            assert.match(probes.summarize(report), /probes failed/);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
