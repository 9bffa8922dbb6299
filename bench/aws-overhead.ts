// Component overhead of the AWS target, with Pulumi mocks (no cloud): N APIs through `repave:aws:StatelessApi`
// against the very same resources registered raw - the same types, names and inputs, the same image lookups,
// the same dynamic resources and Lambda code, but no component, no validation, no wiring between resources.
// Prints the ratio measured in this one run (goal <= 1.15x). Not a timed test: a figure to watch.
//   node bench/aws-overhead.ts [--apis 100] [--rounds 3]
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { StatelessApi, type AwsTargetArgs } from "../components/aws/index.ts";
import { monitorCode } from "../components/aws/monitor.ts";
import { GenerationCredential } from "../components/aws/providers.ts";
import { Bake } from "../components/bake.ts";
import { AfterSwitch, RunnerAccess } from "../components/temporary-access.ts";
import { ProbeGate } from "../components/gate.ts";
import { parseApiSpecs, type StatelessApiSpec } from "../components/spec.ts";

const { values } = parseArgs({
    options: { apis: { type: "string", default: "100" }, rounds: { type: "string", default: "3" }, measure: { type: "string" } },
});
const apis = Math.max(1, Math.min(1000, Number(values.apis)));
const rounds = Math.max(1, Math.min(10, Number(values.rounds)));

const AMI = "ami-0a1b2c3d4e5f60001";
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";
const awsArgs: AwsTargetArgs = { vpcId: "vpc-0a1b2c3d4e5f60718", subnetIds: ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722"], hostedZoneId: "Z0123456789ABCDEFGHIJ" };
const specs: StatelessApiSpec[] = parseApiSpecs(
    Array.from({ length: apis }, (_, i) => ({
        name: `api-${String(i).padStart(3, "0")}`,
        image: { source: "aws-ami", ssmParameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" },
        certificate: { domains: [`api-${i}.example.com`] },
    })),
);

interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    custom: boolean;
}

/** Outputs the component's wiring reads (ARNs, DNS names, validation records); everything else echoes inputs. */
function outputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    const physical = typeof inputs["name"] === "string" ? inputs["name"] : name;
    const extra: Record<string, unknown> = { arn: `arn:aws:${type}:${physical}`, dnsName: `${physical}.elb.amazonaws.com`, zoneId: "Z32O12XQLNTSW2", latestVersion: 1 };
    if (type === "aws:acm/certificate:Certificate") {
        const d = inputs["domainName"] as string;
        extra["domainValidationOptions"] = [{ domainName: d, resourceRecordName: `_v.${d}.`, resourceRecordType: "CNAME", resourceRecordValue: "_v.acm-validations.aws." }];
    }
    if (type === "aws:route53/record:Record") extra["fqdn"] = inputs["name"];
    if (type === "pulumi-nodejs:dynamic/repave:GenerationCredential") extra["value"] = "bench-credential";
    // Secrets Manager names every version it puts: the instances read theirs by this id.
    if (type === "aws:secretsmanager/secretVersion:SecretVersion") extra["versionId"] = `v-${name}`;
    return extra;
}

/**
 * The SDK's own "every RPC answered" promise (what `pulumi up` awaits before it disconnects): registrations,
 * invokes and the components' registerResourceOutputs. Internal to @pulumi/pulumi, hence looked up loosely.
 */
const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs;

/** Runs `build` under fresh mocks and times it until the SDK has no RPC outstanding. */
async function measure(build: () => void): Promise<{ ms: number; recorded: Recorded[] }> {
    const recorded: Recorded[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const inputs = args.inputs as Record<string, unknown>;
                recorded.push({ type: args.type, name: args.name, inputs, custom: args.custom ?? true });
                return { id: `${args.name}-id`, state: { ...inputs, ...outputs(args.type, args.name, inputs) } };
            },
            call: (args) => {
                // A first deploy: the API's secret has no AWSCURRENT yet, which the provider reports as not found.
                if (args.token === "aws:secretsmanager/getSecretVersion:getSecretVersion") {
                    const message = "reading Secrets Manager Secret Version: couldn't find resource";
                    throw Object.assign(new Error(message), { details: `invocation of ${args.token} returned an error: ${message}` });
                }
                // Each subnet's zone (the component checks the instances' zones against the load balancer's).
                if (args.token === "aws:ec2/getSubnet:getSubnet") {
                    const id = String((args.inputs as Record<string, unknown>)["id"]);
                    return { id, availabilityZone: `eu-west-1${id.endsWith("1") ? "a" : "b"}` };
                }
                return args.token === "aws:ssm/getParameter:getParameter"
                    ? { value: AMI }
                    : { id: AMI, name: "al2023-ami-2023.9.1-kernel-6.1-x86_64", creationDate: "2026-11-20T08:00:00.000Z", rootDeviceName: "/dev/xvda" };
            },
        },
        "repave",
        "bench",
        false,
    );
    const started = performance.now();
    build();
    await waitForRPCs();
    return { ms: performance.now() - started, recorded };
}

const throughComponent = () => {
    for (const spec of specs) new StatelessApi(spec.name, { spec, aws: awsArgs, deployId: "bench" });
};

/** Inputs as the mocks saw them, turned back into program values: secrets re-wrapped, placeholders dropped. */
function revive(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(revive);
    if (value && typeof value === "object") {
        const object = value as Record<string, unknown>;
        if (SECRET_SIGNATURE in object) return pulumi.secret(revive(object["value"]));
        return Object.fromEntries(Object.entries(object).filter(([k]) => k !== "__provider").map(([k, v]) => [k, revive(v)]));
    }
    return value;
}

type ResourceClass = new (name: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/** The @pulumi/aws classes by type token, so the raw program registers each resource with its own class. */
function awsClasses(): Map<string, ResourceClass> {
    const classes = new Map<string, ResourceClass>();
    for (const namespace of [aws.acm, aws.autoscaling, aws.cloudwatch, aws.ec2, aws.iam, aws.lambda, aws.lb, aws.route53, aws.secretsmanager, aws.vpc]) {
        for (const exported of Object.values(namespace as Record<string, unknown>)) {
            const token = (exported as { __pulumiType?: unknown } | undefined)?.__pulumiType;
            if (typeof exported === "function" && typeof token === "string") classes.set(token, exported as ResourceClass);
        }
    }
    return classes;
}

/** The same resources, registered directly: each API looks its image up, then registers everything at once. */
function rawProgram(recorded: Recorded[]): () => void {
    const classes = awsClasses();
    const byApi = new Map<string, Recorded[]>(specs.map((s) => [s.name, []]));
    for (const r of recorded.filter((r) => r.custom)) byApi.get(r.name.slice(0, 7))?.push(r);
    const register = (spec: StatelessApiSpec, r: Recorded) => {
        const inputs = revive(r.inputs) as Record<string, unknown>;
        switch (r.type) {
            case "pulumi-nodejs:dynamic/repave:ProbeGate":
                return new ProbeGate(r.name, inputs as never);
            case "pulumi-nodejs:dynamic/repave:GenerationCredential":
                return new GenerationCredential(r.name, inputs as never);
            case "pulumi-nodejs:dynamic/repave:Bake":
                return new Bake(r.name, inputs as never);
            case "pulumi-nodejs:dynamic/repave:RunnerAccess":
                return new RunnerAccess(r.name, inputs as never);
            case "pulumi-nodejs:dynamic/repave:AfterSwitch":
                return new AfterSwitch(r.name, inputs as never);
            case "aws:lambda/function:Function": {
                const code = monitorCode({ positive: spec.probes.positive, negative: spec.probes.negative });
                const archive = new pulumi.asset.AssetArchive(Object.fromEntries(Object.entries(code).map(([f, t]) => [f, new pulumi.asset.StringAsset(t)])));
                return new aws.lambda.Function(r.name, { ...(inputs as unknown as aws.lambda.FunctionArgs), code: archive });
            }
        }
        const Class = classes.get(r.type);
        if (!Class) throw new Error(`no @pulumi/aws class for ${r.type}`);
        return new Class(r.name, inputs);
    };
    return () => {
        for (const spec of specs) {
            const own = byApi.get(spec.name)!;
            void aws.ssm
                .getParameter({ name: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" })
                .then((p) => aws.ec2.getAmi({ filters: [{ name: "image-id", values: [p.value] }], includeDeprecated: true }))
                .then(() => Promise.all((awsArgs.subnetIds as string[]).map((id) => aws.ec2.getSubnet({ id }))))
                // The same lookups as the component: the AMI, then what callers hold (the API secret's AWSCURRENT).
                .then(() => aws.secretsmanager.getSecretVersion({ secretId: `${spec.name}-credential`, versionStage: "AWSCURRENT" }).catch(() => null))
                .then(() => own.forEach((r) => register(spec, r)));
        }
    };
}

async function main(): Promise<void> {
    // Warm-up (JIT, module loading) and the recording the raw program replays.
    const { recorded } = await measure(throughComponent);
    const componentCount = recorded.length;
    const raw = rawProgram(recorded);
    const rawCount = recorded.filter((r) => r.custom).length;
    const check = async (build: () => void, count: number) => {
        const { ms, recorded: seen } = await measure(build);
        if (seen.length !== count) throw new Error(`expected ${count} registrations, saw ${seen.length}`);
        return ms;
    };
    await check(raw, rawCount);

    if (values.measure) {
        // Child mode: one measurement in a fresh process, after the same warm-up as every other child.
        const ms = values.measure === "raw" ? await check(raw, rawCount) : await check(throughComponent, componentCount);
        console.log(JSON.stringify({ ms, componentCount, rawCount }));
        return;
    }
    // Each measurement runs in its own process: mocks keep every registration, so a long-lived process would
    // charge later rounds for earlier ones' garbage. Rounds alternate, so machine noise hits both sides alike.
    const child = (kind: "component" | "raw") =>
        JSON.parse(
            execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--apis", String(apis), "--measure", kind], { encoding: "utf8", maxBuffer: 16 << 20 })
                .trim()
                .split("\n")
                .pop()!,
        ) as { ms: number };
    const componentMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
        componentMs.push(child("component").ms);
        rawMs.push(child("raw").ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(componentMs) / median(rawMs);
    const perApi = componentCount / apis;
    console.log(`AWS target, ${apis} APIs x ${perApi.toFixed(0)} resources (mocks), ${rounds} rounds:`);
    console.log(`  through the component: ${componentMs.map((m) => m.toFixed(0)).join(", ")} ms (median ${median(componentMs).toFixed(0)})`);
    console.log(`  registered raw:        ${rawMs.map((m) => m.toFixed(0)).join(", ")} ms (median ${median(rawMs).toFixed(0)})`);
    console.log(`  component / raw:       ${ratio.toFixed(2)}x (goal <= 1.15x)`);
}

await main();
