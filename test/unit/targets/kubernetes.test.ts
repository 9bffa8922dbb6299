// The Kubernetes target under Pulumi mocks: two program runs (two deploys, the tag resolving to a new digest on the
// second) checked against the shared invariant suite, plus the Kubernetes-specific properties: the gate Job and
// the Service selector switch, per-generation Secrets, cert-manager, the monitor, bad config refused - and the
// probe bundle the gate Job runs, executed for real against TLS servers on loopback.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createCertificateAuthority, issueServerCertificate, type IssuedCertificate } from "../../../components/local/pki.ts";
import { StatelessApi, parseKubernetesConfig, type ImageResolver, type KubernetesArgsInput } from "../../../components/kubernetes/index.ts";
import { parseRepository, pinProbeImage } from "../../../components/kubernetes/image.ts";
import { caProvider, generationSecretsProvider } from "../../../components/kubernetes/mint.ts";
import { probeFiles } from "../../../components/kubernetes/probe-job.ts";
import { SpecError, parseApiSpecs, type StatelessApiSpecInput } from "../../../components/spec.ts";
import { FakeCluster } from "./fake-cluster.ts";
import {
    assertBefore,
    assertCallersKeepWorking,
    assertDependsOnWaitsForChildren,
    Consumer,
    assertGateBeforeSwitch,
    assertGateProbes,
    assertGenerationReplaced,
    assertStableFrontDoor,
    byType,
    completeRun,
    readExampleStack,
    runWithMocks,
    type Pick,
    type Registration,
} from "./invariants.ts";

const specInput: StatelessApiSpecInput = {
    name: "orders",
    image: { source: "container", repository: "registry.example.com/acme/orders", tag: "stable" },
    capacity: 3,
    certificate: { domains: ["orders.example.com"], lifetimeDays: 7 },
    drainSeconds: 12,
    healthCheck: { path: "/ready" },
    // Each deploy pins a new digest and no scanner runs here: these tests are about the resources. The image gate
    // (fail closed, report bound to the pinned digest) has its own tests in test/unit/scan.test.ts.
    scan: { allowMissingReport: true },
};
const spec = parseApiSpecs([specInput])[0]!;

const T = {
    deployment: "kubernetes:apps/v1:Deployment",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    secret: "kubernetes:core/v1:Secret",
    service: "kubernetes:core/v1:Service",
    configMap: "kubernetes:core/v1:ConfigMap",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    certificate: "kubernetes:cert-manager.io/v1:Certificate",
    gate: "pulumi-nodejs:dynamic/repave:ProbeGate",
    secrets: "pulumi-nodejs:dynamic/repave:GenerationSecrets",
    secretPatch: "kubernetes:core/v1:SecretPatch",
    ca: "pulumi-nodejs:dynamic/repave:MintedCa",
};

const digestOf = (n: number) => `sha256:${String(n).repeat(64)}`;

/** A resolver that answers like a registry would: the tag points at a new digest on each deploy. */
function resolverFor(n: number, calls: string[]): ImageResolver {
    return {
        resolve: async (repository, tag) => {
            calls.push(`${repository}:${tag}`);
            return { digest: digestOf(n), createdAt: `2026-11-2${n}T00:00:00Z` };
        },
    };
}

/** A minted credential: random in the real provider, opaque here too (it names no generation). */
const credentialOf = (generation: string) => `cred-${createHash("sha256").update(`credential/${generation}`).digest("hex").slice(0, 16)}`;

/** The namespace's Secrets across the deploys of one test: what one deploy promotes, the next one reads. */
let cluster = new FakeCluster();
/** The promotions each run patched into the stable Secret, in order (what `current` became). */
let promotions: { name: string; current: string }[] = [];

/** A Secret's `namespace/name`. */
const objectId = (inputs: Record<string, unknown>) => {
    const m = (plain(inputs["metadata"]) ?? {}) as { name?: string; namespace?: string };
    return `${m.namespace ?? "default"}/${m.name ?? ""}`;
};
const plainMap = (v: unknown) => Object.fromEntries(Object.entries((plain(v) ?? {}) as Record<string, unknown>).map(([k, x]) => [k, String(plain(x))]));

/** What the dynamic providers would return (minted material), keyed by the generation they were minted for. */
function providerOutputs(r: { type: string; inputs: Record<string, unknown>; id?: string | undefined }): Record<string, unknown> {
    if (r.type === T.secret && r.id) return cluster.readSecret(r.id);
    if (r.type === T.secret) cluster.applySecret(objectId(r.inputs), plainMap(r.inputs["stringData"]));
    if (r.type === T.secretPatch) {
        cluster.patchSecret(objectId(r.inputs), plainMap(r.inputs["stringData"]), ((plain(r.inputs["metadata"]) ?? {}) as { annotations?: Record<string, string> }).annotations);
        promotions.push({ name: "orders-credential-current", current: cluster.value(objectId(r.inputs), "current")! });
    }
    if (r.type === T.secrets) {
        const generation = String(r.inputs["generation"]);
        return {
            credential: credentialOf(generation),
            credentialCreatedAt: "2026-11-30T00:00:00Z",
            certPem: r.inputs["ca"] ? `-----BEGIN CERTIFICATE-----\nleaf-${generation}\n-----END CERTIFICATE-----\n` : null,
            keyPem: r.inputs["ca"] ? `-----BEGIN PRIVATE KEY-----\nkey-${generation}\n-----END PRIVATE KEY-----\n` : null,
            certSerial: r.inputs["ca"] ? `serial-${generation}` : null,
            certNotAfter: r.inputs["ca"] ? "2026-12-07T00:00:00Z" : null,
        };
    }
    if (r.type === T.ca) return { certPem: "-----BEGIN CERTIFICATE-----\nrepave-ca\n-----END CERTIFICATE-----\n", keyPem: "ca-key" };
    return {};
}

/** A new, empty namespace: the next deploy is the stack's first. */
function freshCluster(): void {
    cluster = new FakeCluster();
}

function deploy(n: number, kubernetes: KubernetesArgsInput = {}, calls: string[] = [], specArg = spec, deployId = `deploy-${n}`): Promise<Registration[]> {
    promotions = [];
    return completeRun(
        () => new StatelessApi("orders", { spec: specArg, kubernetes, imageResolver: resolverFor(n, calls), deployId }),
        { outputs: providerOutputs },
    );
}

type Meta = { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
/** An object's metadata (a read of an existing object registers none). */
const meta = (r: Registration) => (r.inputs["metadata"] ?? { name: "" }) as Meta;
const named = (...names: string[]): Pick => (r) => names.includes(r.name);
const one = (run: Registration[], pick: Pick): Registration => {
    const found = run.filter(pick);
    assert.equal(found.length, 1, `expected exactly one match, got ${found.map((r) => r.name).join(", ") || "none"}`);
    return found[0]!;
};
const generationOf = (run: Registration[]) => String(one(run, byType(T.secrets)).inputs["generation"]);
const isSecretValue = (v: unknown): v is { value: unknown } =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270";
const plain = (v: unknown): unknown => (isSecretValue(v) ? v.value : v);

/** The stable Secret callers read, its read before the deploy, and its promotion (an in-place patch). */
const isCredentialReference = named("orders-credential-reference", "orders-credential-live", "orders-credential-current");
const isFrontDoor: Pick = (r) => byType(T.service, T.ingress, T.configMap, T.cronJob, T.ca)(r) || named("orders-credential-reference", "orders-credential-current")(r);
const isGeneration: Pick = (r) => byType(T.deployment, T.pdb, T.secret, T.secrets, T.job, T.certificate)(r) && !isCredentialReference(r);
const isSwitch = named("orders-service", "orders-ingress");
const isGateJob: Pick = (r) => byType(T.job)(r) && named("orders-gate", "orders-gate-grace")(r);
const isMainGateJob = named("orders-gate");

interface PodSpec {
    containers: { image: string; env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[]; [k: string]: unknown }[];
    volumes: { name: string; secret?: { secretName: string; items?: { key: string }[] }; configMap?: { name: string } }[];
}
const podOf = (deployment: Registration) => (deployment.inputs["spec"] as { template: { spec: PodSpec } }).template.spec;

/** Every Secret a pod spec can read: volumes and env references. */
function secretsReadBy(pod: PodSpec): string[] {
    const fromVolumes = pod.volumes.flatMap((v) => (v.secret ? [v.secret.secretName] : []));
    const fromEnv = pod.containers.flatMap((c) => c.env.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])));
    return [...new Set([...fromVolumes, ...fromEnv])].sort();
}

// Suites' bodies run as they are declared, so the deploys (which swap the process-wide mocks) run in before().
describe("kubernetes target (mocks): two deploys, gate as a Job", () => {
    const calls: string[] = [];
    let first: Registration[] = [];
    let second: Registration[] = [];
    let ids: [string, string] = ["", ""];
    before(async () => {
        freshCluster();
        const realFetch = globalThis.fetch;
        globalThis.fetch = () => Promise.reject(new Error("the default registry resolver must not be used in tests"));
        try {
            first = await deploy(1, { ingress: { className: "nginx" } }, calls);
            second = await deploy(2, { ingress: { className: "nginx" } }, calls);
        } finally {
            globalThis.fetch = realFetch;
        }
        ids = [generationOf(first), generationOf(second)];
    });

    it("resolves the tag through the supplied resolver and pins the digest", () => {
        // The API's image, then the probe runner beside it (the default probeImage), on each deploy.
        assert.deepEqual(calls, ["registry.example.com/acme/orders:stable", "registry.example.com/repave/probe-runner:24", "registry.example.com/acme/orders:stable", "registry.example.com/repave/probe-runner:24"]);
        const pod = podOf(one(second, byType(T.deployment)));
        assert.equal(pod.containers[0]?.image, `registry.example.com/acme/orders@${digestOf(2)}`);
    });

    it("keeps the front door: Services, Ingress, probes ConfigMap, monitor and CA keep names and URNs (I4)", () => {
        assertStableFrontDoor(first, second, isFrontDoor);
        for (const r of first.filter(isFrontDoor).filter((r) => r.type !== T.ca)) {
            const again = one(second, (s) => s.type === r.type && s.name === r.name);
            assert.equal(meta(again).name, meta(r).name, `${r.name} keeps its object name`);
        }
        assert.deepEqual(second.filter(byType(T.service)).map((r) => meta(r).name).sort(), ["orders", "orders-preview"]);
    });

    it("replaces the generation: same logical names, object names and labels carry the new id (I1, I5)", () => {
        assertGenerationReplaced(first, second, isGeneration, ids);
        for (const r of second.filter(byType(T.deployment, T.pdb, T.secret)).filter(isGeneration)) {
            assert.ok(meta(r).name.startsWith(`orders-${ids[1]}`), `${r.name}: ${meta(r).name}`);
            assert.equal(meta(r).labels?.["repave.dev/generation"], ids[1]);
        }
        // Gate Jobs are named by the provider (`<logical name>-<random>`): a rerun of a gate that failed for the
        // same generation gets a new Job (a fixed name re-applied the failed one: test/e2e/kubernetes/gate-rerun).
        for (const r of second.filter(byType(T.job)).filter(isGeneration)) {
            assert.equal(meta(r).name, undefined, `${r.name}: autonamed`);
            assert.equal(meta(r).labels?.["repave.dev/generation"], ids[1]);
        }
    });

    it("runs the Deployment by the spec: replicas, readiness, drain, labels, PodDisruptionBudget", () => {
        const deployment = one(second, byType(T.deployment));
        const dspec = deployment.inputs["spec"] as { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: Meta; spec: PodSpec } };
        assert.ok(dspec.replicas >= spec.capacity);
        assert.deepEqual(dspec.selector.matchLabels, { "repave.dev/api": "orders", "repave.dev/generation": ids[1] });
        assert.equal(dspec.template.metadata.labels?.["repave.dev/generation"], ids[1]);
        const container = dspec.template.spec.containers[0]!;
        // The kubelet probes the pod IP: every probe names the API as Host, on the same path (the app contract also
        // exempts the health path from the Host check); liveness and startup use the same check as readiness.
        const httpGet = { path: "/ready", port: "https", scheme: "HTTPS", httpHeaders: [{ name: "Host", value: "orders.example.com" }] };
        for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
            assert.deepEqual((container[probe] as { httpGet: unknown } | undefined)?.httpGet, httpGet, `${probe} checks the health path with the API's Host`);
        }
        assert.equal((container["startupProbe"] as { failureThreshold: number }).failureThreshold, 60, "startup may take graceSeconds (60 at 1 s)");
        const env = Object.fromEntries(dspec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
        assert.equal(env["REPAVE_DOMAINS"], "orders.example.com", "the app learns which Hosts it serves");
        assert.equal(env["HEALTH_PATH"], "/ready", "...and which path is exempt");
        assert.equal((container["readinessProbe"] as { successThreshold: number }).successThreshold, spec.healthCheck.healthyThreshold);
        assert.deepEqual(container["lifecycle"], { preStop: { sleep: { seconds: 12 } } });
        const pdb = one(second, byType(T.pdb));
        assert.deepEqual((pdb.inputs["spec"] as { selector: unknown }).selector, { matchLabels: { "repave.dev/api": "orders", "repave.dev/generation": ids[1] } });
    });

    it("mounts only its own generation's Secrets, and keeps them secret (least privilege, I8)", () => {
        const pod = podOf(one(second, byType(T.deployment)));
        assert.deepEqual(secretsReadBy(pod), [`orders-${ids[1]}-credential`, `orders-${ids[1]}-tls`]);
        for (const name of secretsReadBy(pod)) assert.ok(second.some((r) => r.type === T.secret && meta(r).name === name), `${name} is registered`);
        const credential = one(second, (r) => r.type === T.secret && meta(r).name === `orders-${ids[1]}-credential`);
        assert.ok(isSecretValue(credential.inputs["stringData"]) || isSecretValue((credential.inputs["stringData"] as Record<string, unknown>)["credential"]));
        const tls = one(second, (r) => r.type === T.secret && meta(r).name === `orders-${ids[1]}-tls`);
        assert.equal(tls.inputs["type"], "kubernetes.io/tls");
        assert.match(JSON.stringify(plain(tls.inputs["stringData"])), new RegExp(`leaf-${ids[1]}`), "a fresh certificate for this generation");
    });

    it("points the preview Service at the candidate before the gate Job, which probes it", () => {
        const preview = one(second, named("orders-preview-service"));
        assert.deepEqual((preview.inputs["spec"] as { selector: unknown }).selector, { "repave.dev/api": "orders", "repave.dev/generation": ids[1] });
        assertBefore(second, named("orders-preview-service"), isGateJob, "preview before gate");
        assertBefore(second, byType(T.deployment), isGateJob, "deployment before gate");
        const job = one(second, isMainGateJob);
        assert.equal(meta(job).annotations?.["pulumi.com/skipAwait"], "false", "the provider waits for the Job to complete");
        const pod = (job.inputs["spec"] as { template: { spec: PodSpec }; backoffLimit: number }).template.spec;
        const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]));
        assert.equal(env["REPAVE_MODE"], "gate");
        assert.equal(env["REPAVE_TARGET_HOST"], "orders-preview.default.svc");
        assert.equal(env["REPAVE_SERVER_NAME"], "orders.example.com");
        assert.equal(env["REPAVE_CREDENTIAL"], `orders-${ids[1]}-credential`, "the candidate's credential");
        assert.deepEqual(pod.volumes.find((v) => v.name === "ca")?.secret?.items, [{ key: "ca.crt", path: "ca.crt" }], "the gate sees ca.crt, never the key");
    });

    it("switches the production Service and Ingress only after the gate Job, to the generation it gated (I2)", () => {
        for (const [run, id] of [[first, ids[0]], [second, ids[1]]] as const) {
            assertBefore(run, isGateJob, isSwitch, "gate before switch");
            for (const job of run.filter(isGateJob)) assert.equal(meta(job).labels?.["repave.dev/generation"], id);
            const service = one(run, named("orders-service"));
            assert.equal(meta(service).annotations?.["repave.dev/gate-passed"], id);
            assert.deepEqual((service.inputs["spec"] as { selector: unknown }).selector, { "repave.dev/api": "orders", "repave.dev/generation": id });
            const ingress = one(run, named("orders-ingress"));
            assert.equal(meta(ingress).annotations?.["repave.dev/gate-passed"], id);
            // The provider's 10 s endpoints "settle" is skipped for production (the bake and the old pods' drain
            // cover kube-proxy), never for the preview (a gate must not probe what it selected before).
            assert.equal(meta(service).annotations?.["pulumi.com/skipAwait"], "true");
            assert.equal(meta(service).annotations?.["pulumi.com/patchForce"], "true", "the switch takes the selector back from a failed bake's patch");
            assert.equal(meta(one(run, named("orders-preview-service"))).annotations?.["pulumi.com/skipAwait"], undefined);
        }
    });

    it("creates the certificate before the switch, and the Ingress's TLS Secret moves to it in the switch", () => {
        assertBefore(second, named("orders-certificate"), isSwitch, "certificate before switch");
        const tls = (one(second, named("orders-ingress")).inputs["spec"] as { tls: { secretName: string; hosts: string[] }[] }).tls;
        assert.deepEqual(tls, [{ hosts: ["orders.example.com"], secretName: `orders-${ids[1]}-tls` }]);
        const firstTls = (one(first, named("orders-ingress")).inputs["spec"] as { tls: { secretName: string }[] }).tls;
        assert.equal(firstTls[0]?.secretName, `orders-${ids[0]}-tls`, "a per-generation Secret name is not stable: it moves");
    });

    it("gates with positive and negative probes, shipped with the shared runner", () => {
        const files = one(second, byType(T.configMap)).inputs["data"] as Record<string, string>;
        const suite = JSON.parse(files["suite.json"]!) as { positive: unknown[]; negative: unknown[] };
        assert.ok(suite.positive.length > 0 && suite.negative.length > 0);
        assert.deepEqual(Object.keys(files).sort(), ["package.json", "probes.ts", "runner.ts", "spec.ts", "suite.json"]);
    });

    it("monitors production with a CronJob running the positive probes, with what callers use: the stable Secret's current key", () => {
        assertBefore(second, named("orders-service"), byType(T.cronJob), "switch before monitor");
        assertBefore(second, named("orders-credential-current"), byType(T.cronJob), "promotion before monitor");
        const cron = one(second, byType(T.cronJob));
        const pod = (cron.inputs["spec"] as { jobTemplate: { spec: { template: { spec: PodSpec } } } }).jobTemplate.spec.template.spec;
        const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]));
        assert.equal(env["REPAVE_MODE"], "monitor");
        assert.equal(env["REPAVE_TARGET_HOST"], "orders.default.svc");
        assert.equal(env["REPAVE_CREDENTIAL"], "orders-credential");
        assert.equal(pod.containers[0]!.env.find((e) => e.name === "REPAVE_CREDENTIAL")?.valueFrom?.secretKeyRef?.key, "current");
    });
});

describe("kubernetes target (mocks): cert-manager and the deployer's gate", () => {
    const options: KubernetesArgsInput = { certManager: { issuerName: "letsencrypt" }, gateFromDeployer: true, previewAddress: "203.0.113.7", namespace: "orders" };
    let first: Registration[] = [];
    let second: Registration[] = [];
    let ids: [string, string] = ["", ""];
    before(async () => {
        freshCluster();
        first = await deploy(1, options);
        second = await deploy(2, options);
        ids = [generationOf(first), generationOf(second)];
    });
    const isGate = byType(T.gate);

    it("issues a cert-manager Certificate per generation that always rotates its key", () => {
        const cert = one(second, byType(T.certificate));
        const certSpec = cert.inputs["spec"] as Record<string, unknown>;
        assert.equal(cert.inputs["apiVersion"], "cert-manager.io/v1");
        assert.deepEqual(certSpec["privateKey"], { rotationPolicy: "Always", algorithm: "ECDSA", size: 256 });
        assert.deepEqual(certSpec["issuerRef"], { name: "letsencrypt", kind: "ClusterIssuer", group: "cert-manager.io" });
        assert.equal(certSpec["secretName"], `orders-${ids[1]}-tls`);
        assert.deepEqual(certSpec["dnsNames"], ["orders.example.com"]);
        assert.equal(second.filter(byType(T.ca)).length, 0, "no repave CA with cert-manager");
        // The Secret cert-manager writes is repave's own, created empty: no key of repave's in it, and the engine
        // deletes it with the generation (cert-manager never deletes it). The Certificate depends on it, so the
        // engine deletes the Certificate first and cert-manager cannot write the Secret again.
        const tlsSecret = one(second, (r) => r.type === T.secret && meta(r).name === `orders-${ids[1]}-tls`);
        assert.equal(tlsSecret.inputs["type"], "kubernetes.io/tls");
        assert.deepEqual(plain(tlsSecret.inputs["stringData"]), { "tls.crt": "", "tls.key": "" }, "empty: the issuer writes the key");
        assert.equal(meta(tlsSecret).labels?.["repave.dev/generation"], ids[1], "a generation object: replaced with it");
        assert.ok(cert.dependencies.includes(tlsSecret.urn), "the Certificate depends on its Secret: deleted before it");
        assert.ok(first.some((r) => r.type === T.secret && r.urn === tlsSecret.urn && meta(r).name === `orders-${ids[0]}-tls`), "same logical name, so the engine retires the old one");
        assert.deepEqual(secretsReadBy(podOf(one(second, byType(T.deployment)))), [`orders-${ids[1]}-credential`, `orders-${ids[1]}-tls`]);
    });

    it("replaces the generation and keeps the front door", () => {
        assertGenerationReplaced(first, second, isGeneration, ids);
        assertStableFrontDoor(first, second, isFrontDoor);
    });

    it("gates from the deployer with ProbeGate, before the switch, with positive and negative probes (I2)", () => {
        for (const run of [first, second]) assertGateBeforeSwitch(run, isGate, named("orders-service"), generationOf(run));
        assertGateProbes(second, isGate);
        assertBefore(second, byType(T.certificate), named("orders-service"), "certificate before switch");
        const gate = one(second, named("orders-gate"));
        assert.equal(gate.inputs["host"], "203.0.113.7");
        assert.equal(gate.inputs["port"], 443);
        assert.ok(isSecretValue(gate.inputs["credential"]), "the gate's credential is a secret (I8)");
        assert.equal(second.filter(isGateJob).length, 0, "no gate Job");
    });
});

describe("kubernetes target: callers keep working across the switch (a Secret per generation, one stable Secret)", () => {
    const runs: Registration[][] = [];
    const held: string[] = [];
    const moves: (typeof promotions)[] = [];
    before(async () => {
        freshCluster();
        for (const n of [1, 2, 3]) {
            held.push(cluster.value("default/orders-credential", "current") ?? "");
            runs.push(await deploy(n));
            moves.push(promotions);
        }
    });
    /** What a generation's pods accept: the two keys of its credential Secret their env reads. */
    const acceptedBy = (run: Registration[]): string[] => {
        const env = podOf(one(run, byType(T.deployment))).containers[0]!.env;
        return ["REPAVE_CREDENTIAL", "REPAVE_PREVIOUS_CREDENTIAL"].map((name) => {
            const ref = env.find((e) => e.name === name)!.valueFrom!.secretKeyRef!;
            const secret = one(run, (r) => r.type === T.secret && !r.name.includes("credential-") && meta(r).name === ref.name);
            return String(plain((plain(secret.inputs["stringData"]) as Record<string, unknown>)[ref.key]));
        });
    };
    const timeline = (k: 1 | 2) => {
        const run = runs[k]!;
        return {
            before: { production: generationOf(runs[k - 1]!), reference: held[k]!, monitors: { cronjob: held[k]! } },
            events: [
                { index: one(run, named("orders-service")).index, production: generationOf(run) },
                // The CronJob reads the stable Secret's `current` at each run: it moves exactly when the key does.
                ...moves[k]!.map((m) => ({ index: one(run, named(m.name)).index, reference: m.current, monitor: { name: "cronjob", credential: m.current } })),
            ],
            candidate: generationOf(run),
            accepts: (generation: string) => acceptedBy(runs.find((r) => generationOf(r) === generation)!),
            refused: ["not-a-credential", ...(k === 2 ? [credentialOf(generationOf(runs[0]!))] : [])],
        };
    };

    it("reads the stable Secret before building the candidate, and patches it only after the switch", () => {
        const run = runs[1]!;
        assertBefore(run, named("orders-credential-live"), byType(T.secrets), "read before the candidate is minted");
        assertBefore(run, isSwitch, named("orders-credential-current"), "switch before the promotion");
        assert.equal(cluster.value("default/orders-credential", "previous"), credentialOf(generationOf(runs[1]!)), "`previous`: the generation before");
    });

    it("the candidate accepts its own and the live credential; the grace gate Job sends the live one before the switch", () => {
        const [previous, run] = [runs[0]!, runs[1]!];
        assert.deepEqual(acceptedBy(previous), [credentialOf(generationOf(previous)), credentialOf(generationOf(previous))], "a first generation: its own twice");
        assert.deepEqual(acceptedBy(run), [credentialOf(generationOf(run)), credentialOf(generationOf(previous))]);
        const grace = one(run, named("orders-gate-grace"));
        const env = (grace.inputs["spec"] as { template: { spec: PodSpec } }).template.spec.containers[0]!.env;
        assert.deepEqual(env.find((e) => e.name === "REPAVE_CREDENTIAL")?.valueFrom?.secretKeyRef, { name: `orders-${generationOf(run)}-credential`, key: "previous" });
        assertBefore(run, named("orders-gate", "orders-gate-grace"), isSwitch, "both gates before the switch");
    });

    it("no caller and no monitor is handed a credential production refuses, on the second and the third deploy", () => {
        assertCallersKeepWorking(timeline(1));
        assertCallersKeepWorking(timeline(2));
    });
});

describe("kubernetes target: the generation id covers every setting that shapes a generation", () => {
    const pinned = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" } }])[0]!;
    const changes: [string, KubernetesArgsInput, typeof pinned][] = [
        ["drainSeconds (preStop, grace period)", {}, parseApiSpecs([{ ...specInput, repave: { policy: "pinned" }, drainSeconds: 45 }])[0]!],
        ["the cert-manager issuer", { certManager: { issuerName: "letsencrypt" } }, pinned],
        ["another issuer", { certManager: { issuerName: "internal-ca", issuerKind: "Issuer" } }, pinned],
        ["the namespace", { namespace: "orders" }, pinned],
        ["the probe image (gate Jobs)", { probeImage: "node:24-alpine" }, pinned],
        ["imagePullSecrets", { imagePullSecrets: ["registry"] }, pinned],
        ["the service account", { serviceAccountName: "orders-api" }, pinned],
    ];
    const ids = new Map<string, string>();
    before(async () => {
        freshCluster();
        ids.set("before", generationOf(await deploy(1, {}, [], pinned, "d1")));
        ids.set("again", generationOf(await deploy(1, {}, [], pinned, "d2")));
        for (const [what, k8s, specArg] of changes) ids.set(what, generationOf(await deploy(1, k8s, [], specArg, `d-${what}`)));
    });

    it("a pinned redeploy with nothing changed keeps its generation", () => {
        assert.equal(ids.get("again"), ids.get("before"));
    });

    for (const [what] of changes) {
        it(`a new ${what} is a new generation, never the live Deployment changed in place (I1)`, () => {
            assert.notEqual(ids.get(what), ids.get("before"));
        });
    }
    it("...and two of them are two generations", () => {
        assert.notEqual(ids.get("the cert-manager issuer"), ids.get("another issuer"));
    });
});

describe("kubernetes target: a consumer's dependsOn on the component", () => {
    it("waits for every child the changeover registers (the component works in initialize())", async () => {
        freshCluster();
        const run = await completeRun(
            () => {
                // The registry answers over the network: the digest arrives a while after the constructor returned.
                const registry: ImageResolver = { resolve: (repository, tag) => new Promise((r) => setTimeout(() => r(resolverFor(1, []).resolve(repository, tag)), 20)) };
                const api = new StatelessApi("orders", { spec, imageResolver: registry, deployId: "deploy-consumer" });
                new Consumer("consumer", { dependsOn: [api] });
                return api;
            },
            { outputs: providerOutputs },
        );
        assertDependsOnWaitsForChildren(run, "consumer");
    });
});

describe("kubernetes target: what its dynamic resources mint in the engine", () => {
    it("mints per generation a credential and a fresh key + certificate for the domains, signed by the repave CA", async () => {
        const ca = (await caProvider.create({ commonName: "repave CA (orders)", lifetimeDays: 30 })).outs as { certPem: string; keyPem: string };
        const inputs = { api: "orders", generation: "g111111", domains: ["orders.example.com"], lifetimeDays: 7, ca };
        const minted = (await generationSecretsProvider.create(inputs)).outs as Record<string, string>;
        const again = (await generationSecretsProvider.create(inputs)).outs as Record<string, string>;
        const leaf = new X509Certificate(minted["certPem"]!);
        assert.ok(leaf.checkIssued(new X509Certificate(ca.certPem)), "signed by the CA");
        assert.match(String(leaf.subjectAltName), /DNS:orders\.example\.com/);
        assert.ok(leaf.checkPrivateKey(createPrivateKey(minted["keyPem"]!)), "the key belongs to the certificate");
        assert.ok(new Date(leaf.validTo).getTime() - Date.now() <= 7 * 86_400_000, "lives at most lifetimeDays");
        assert.notEqual(again["keyPem"], minted["keyPem"], "a fresh key pair every time");
        assert.notEqual(again["credential"], minted["credential"], "a fresh credential every time");
        const diff = await generationSecretsProvider.diff!("id", inputs, { ...inputs, generation: "g222222" });
        assert.deepEqual(diff.replaces, ["generation"]);
        // `pinned`: the stable Secret now names this generation's own credential; the generation must not follow it.
        const later = await generationSecretsProvider.diff!("id", { ...minted, previous: "cred-live" }, { ...inputs, previous: minted["credential"] });
        assert.deepEqual(later.changes, false, "what a generation accepts is kept from its create");
    });

    it("mints only the credential when cert-manager issues the certificate", async () => {
        const minted = (await generationSecretsProvider.create({ api: "orders", generation: "g111111", domains: ["orders.example.com"], lifetimeDays: 7, ca: null })).outs as Record<string, unknown>;
        assert.equal(minted["certPem"], null);
        assert.equal(minted["keyPem"], null);
        assert.match(String(minted["credential"]), /^[A-Za-z0-9_-]{43}$/);
    });
});

describe("kubernetes target: every image the manifests name is pinned by digest, none from Docker Hub", () => {
    const images = (run: Registration[]): string[] =>
        run.flatMap((r) => {
            const spec = r.inputs["spec"] as { template?: { spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } } | undefined;
            const pod = spec?.template?.spec ?? spec?.jobTemplate?.spec.template.spec;
            return pod ? pod.containers.map((c) => c.image) : [];
        });
    let run: Registration[] = [];
    const calls: string[] = [];
    before(async () => {
        freshCluster();
        run = await deploy(1, {}, calls);
    });

    it("the API's pods, both gate Jobs, the bake Job and the monitor CronJob: repository@sha256, in a registry named by host", () => {
        const all = images(run);
        assert.equal(all.length, 5, `Deployment, two gate Jobs, bake Job, monitor CronJob: ${all.join(", ")}`);
        for (const image of all) {
            assert.match(image, /^[^@]+@sha256:[0-9a-f]{64}$/, `${image} is pinned by digest`);
            const { registry } = parseRepository(image.slice(0, image.indexOf("@")));
            assert.ok(registry !== parseRepository("library").registry, `${image} does not name Docker Hub`);
            assert.doesNotMatch(image, /^node[:@]/, "no node image from the internet");
        }
        assert.ok(all.includes(`registry.example.com/repave/probe-runner@${digestOf(1)}`), "the default probe image: the project's runner beside the API's image");
    });

    it("a probeImage named by tag is resolved to its digest too; one named by digest is used as is", async () => {
        const resolver = resolverFor(7, []);
        assert.equal(await pinProbeImage(resolver, "registry.example.com/acme/orders", "registry.internal:5000/tools/node:24", "orders.kubernetes"), `registry.internal:5000/tools/node@${digestOf(7)}`);
        const pinned = `registry.internal:5000/tools/node@${digestOf(3)}`;
        assert.equal(await pinProbeImage(resolver, "registry.example.com/acme/orders", pinned, "orders.kubernetes"), pinned);
    });

    it("without probeImage, an API image with no registry of its own is refused with a hint, never pulled from Docker Hub", async () => {
        const asked: string[] = [];
        await assert.rejects(
            pinProbeImage(resolverFor(1, asked), "acme/orders", undefined, "orders.kubernetes"),
            /orders\.kubernetes\.probeImage: not set, and the API's image acme\/orders names no registry .*never Docker Hub.*hint: set probeImage/,
        );
        assert.deepEqual(asked, [], "no registry was asked");
    });

    it("without probeImage, a registry that lacks the probe runner is refused with a hint naming what to push", async () => {
        const missing: ImageResolver = { resolve: async (repository, tag) => Promise.reject(new Error(`HEAD https://${repository}/manifests/${tag}: HTTP 404`)) };
        await assert.rejects(
            pinProbeImage(missing, "registry.internal:5000/acme/orders", undefined, "orders.kubernetes"),
            /orders\.kubernetes\.probeImage: not set, and the default registry\.internal:5000\/repave\/probe-runner:24 is not in the registry: .*HTTP 404 \(hint: push the project's probe runner there \(scripts\/kubernetes\/build-images\.sh/,
        );
    });
});

describe("kubernetes target: a pod spec common clusters accept", () => {
    let run: Registration[] = [];
    let single: Registration[] = [];
    before(async () => {
        freshCluster();
        run = await deploy(1, { resources: { limits: { memory: "512Mi" } } });
        freshCluster();
        single = await deploy(1, { runAsUser: 10001, runAsGroup: 10002 }, [], parseApiSpecs([{ ...specInput, capacity: 1 }])[0]);
    });
    const podSpecs = (r: Registration[]) =>
        r.flatMap((x) => {
            const s = x.inputs["spec"] as { template?: { spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } } | undefined;
            const pod = s?.template?.spec ?? s?.jobTemplate?.spec.template.spec;
            return pod ? [{ kind: x.type, pod: pod as PodSpec & { securityContext: Record<string, unknown>; topologySpreadConstraints?: Record<string, unknown>[] } }] : [];
        });

    it("every pod runs as a numeric non-root user and group (runAsNonRoot alone refuses an image whose USER is a name)", () => {
        for (const { kind, pod } of [...podSpecs(run), ...podSpecs(single)]) {
            assert.equal(pod.securityContext["runAsNonRoot"], true, kind);
            assert.ok(Number.isInteger(pod.securityContext["runAsUser"]) && Number(pod.securityContext["runAsUser"]) > 0, `${kind}: numeric runAsUser`);
            assert.ok(Number.isInteger(pod.securityContext["runAsGroup"]) && Number(pod.securityContext["runAsGroup"]) > 0, `${kind}: numeric runAsGroup`);
        }
        assert.equal(podOf(one(run, byType(T.deployment))).containers.length, 1);
        assert.deepEqual(
            pick((podOf(one(run, byType(T.deployment))) as unknown as { securityContext: Record<string, unknown> }).securityContext, "runAsUser", "runAsGroup"),
            { runAsUser: 65532, runAsGroup: 65532 },
            "default",
        );
        assert.deepEqual(pick((podOf(one(single, byType(T.deployment))) as unknown as { securityContext: Record<string, unknown> }).securityContext, "runAsUser", "runAsGroup"), {
            runAsUser: 10001,
            runAsGroup: 10002,
        });
    });

    it("every container requests CPU and memory (namespaces with a ResourceQuota refuse pods without); limits where configured", () => {
        for (const { kind, pod } of podSpecs(run)) {
            const resources = pod.containers[0]!["resources"] as { requests?: Record<string, string>; limits?: Record<string, string> } | undefined;
            assert.ok(resources?.requests?.["cpu"] && resources.requests["memory"], `${kind}: requests`);
            if (kind !== T.deployment) assert.ok(resources.limits?.["cpu"] && resources.limits["memory"], `${kind}: the probe pods have limits too`);
        }
        const api = podOf(one(run, byType(T.deployment))).containers[0]!["resources"];
        assert.deepEqual(api, { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } });
        assert.deepEqual(podOf(one(single, byType(T.deployment))).containers[0]!["resources"], { requests: { cpu: "100m", memory: "128Mi" } }, "no limits unless configured");
    });

    it("spreads a generation's pods over nodes and zones without ever leaving one unscheduled", () => {
        const pod = podSpecs(run).find((p) => p.kind === T.deployment)!.pod;
        const id = generationOf(run);
        assert.deepEqual(
            pod.topologySpreadConstraints?.map((c) => [c["topologyKey"], c["whenUnsatisfiable"], c["maxSkew"], JSON.stringify(c["labelSelector"])]),
            ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map((k) => [k, "ScheduleAnyway", 1, JSON.stringify({ matchLabels: { "repave.dev/api": "orders", "repave.dev/generation": id } })]),
        );
    });

    it("a PodDisruptionBudget of maxUnavailable 1 at capacity > 1; none at capacity 1, where it would block or protect nothing", () => {
        assert.deepEqual((one(run, byType(T.pdb)).inputs["spec"] as { maxUnavailable: number }).maxUnavailable, 1);
        assert.equal(single.filter(byType(T.pdb)).length, 0);
    });

    it("refuses a bad user, group or quantity with a hint", () => {
        assert.throws(
            () => parseKubernetesConfig({ orders: { runAsUser: 0, runAsGroup: "x", resources: { requests: { cpu: "lots" }, limits: { memory: "-1" } } } }, [spec]),
            (err: unknown) => {
                const text = (err as SpecError).problems.join("\n");
                assert.match(text, /orders\.runAsUser: .*hint: a numeric uid other than 0/);
                assert.match(text, /orders\.runAsGroup: /);
                assert.match(text, /orders\.resources\.requests\.cpu: must be a Kubernetes quantity/);
                assert.match(text, /orders\.resources\.limits\.memory: must be a Kubernetes quantity/);
                return true;
            },
        );
    });
});

const pick = (o: Record<string, unknown>, ...keys: string[]) => Object.fromEntries(keys.map((k) => [k, o[k]]));

describe("kubernetes target: the bake after the switch, with switch-back", () => {
    let first: Registration[] = [];
    let second: Registration[] = [];
    let none: Registration[] = [];
    before(async () => {
        freshCluster();
        first = await deploy(1);
        second = await deploy(2);
        freshCluster();
        none = await deploy(1, {}, [], parseApiSpecs([{ ...specInput, keepWarmSeconds: 0 }])[0]);
    });
    const isBake = named("orders-bake");

    it("a bake Job per generation probes production after the switch, before the promotion and the monitor", () => {
        for (const run of [first, second]) {
            assertBefore(run, named("orders-service"), isBake, "switch before bake");
            assertBefore(run, isBake, named("orders-credential-current"), "bake before the promotion");
            const bake = one(run, isBake);
            assert.ok(bake.dependencies.includes(one(run, named("orders-service")).urn), "the bake waits for the switch");
            assert.ok(one(run, named("orders-credential-current")).dependencies.includes(bake.urn), "the promotion waits for the bake");
            assert.equal(meta(bake).labels?.["repave.dev/generation"], generationOf(run), "a generation object");
            assert.equal(meta(bake).annotations?.["pulumi.com/skipAwait"], "false", "the update waits for it: a failed bake fails the update");
            const pod = (bake.inputs["spec"] as { template: { spec: PodSpec & { serviceAccountName?: string; automountServiceAccountToken?: boolean } } }).template.spec;
            const env = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]));
            assert.equal(env["REPAVE_MODE"], "bake");
            assert.equal(env["REPAVE_TARGET_HOST"], "orders.default.svc", "production, not the preview");
            assert.equal(env["REPAVE_SERVICE"], "orders");
            assert.equal(env["REPAVE_BAKE_SECONDS"], String(spec.keepWarmSeconds));
            assert.equal(env["REPAVE_CREDENTIAL"], `orders-${generationOf(run)}-credential`);
            assert.equal(pod.serviceAccountName, "orders-bake");
            assert.equal(pod.automountServiceAccountToken, true, "the one probe pod with an API token");
        }
    });

    it("the switch records the generation to switch back to; the bake's ServiceAccount may only get and patch that Service", () => {
        const annotation = (run: Registration[]) => meta(one(run, named("orders-service"))).annotations?.["repave.dev/previous-generation"];
        assert.equal(annotation(first), "", "a first deploy has nothing to switch back to");
        assert.equal(annotation(second), generationOf(first), "the generation production served before");
        const role = one(second, byType("kubernetes:rbac.authorization.k8s.io/v1:Role"));
        assert.deepEqual(role.inputs["rules"], [{ apiGroups: [""], resources: ["services"], resourceNames: ["orders"], verbs: ["get", "patch"] }]);
        const binding = one(second, byType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"));
        assert.deepEqual(binding.inputs["subjects"], [{ kind: "ServiceAccount", name: "orders-bake", namespace: "default" }]);
        for (const pick of [byType("kubernetes:rbac.authorization.k8s.io/v1:Role"), byType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"), byType("kubernetes:core/v1:ServiceAccount")]) {
            assert.equal(one(first, pick).urn, one(second, pick).urn, "stable, with the front door");
        }
    });

    it("keepWarmSeconds 0: no bake, the promotion follows the switch", () => {
        assert.equal(none.filter(isBake).length, 0);
        assertBefore(none, named("orders-service"), named("orders-credential-current"), "switch before the promotion");
    });
});

describe("kubernetes target: the example stack", () => {
    it("stacks/Pulumi.k8s-example.yaml passes the same validation the program runs", () => {
        const stack = { config: readExampleStack("Pulumi.k8s-example.yaml") };
        assert.equal(stack.config["repave:target"], "kubernetes");
        const specs = parseApiSpecs(stack.config["repave:apis"]);
        const args = parseKubernetesConfig(stack.config["repave:kubernetes"], specs);
        assert.deepEqual(Object.keys(args), specs.map((s) => s.name));
    });
});

describe("kubernetes target: bad config is refused before anything is registered (I7)", () => {
    it("lists every problem in repave:kubernetes and the spec by path, with hints", () => {
        const specs = parseApiSpecs([specInput, { ...specInput, name: "billing", image: { source: "gcp-image-family", family: "f", project: "p" } }]);
        let error: unknown;
        try {
            parseKubernetesConfig(
                {
                    orders: { namespace: "Orders_NS", serviceType: "Ingress", certManager: { issuer: "le" }, monitorSchedule: "often", previewAddress: "10.0.0.1" },
                    invoices: {},
                },
                specs,
            );
        } catch (err) {
            error = err;
        }
        assert.ok(error instanceof SpecError, String(error));
        const text = error.problems.join("\n");
        assert.match(text, /repave:kubernetes\.orders\.namespace: must be a DNS label.*hint: write an existing namespace/);
        assert.match(text, /repave:kubernetes\.orders\.serviceType: .*hint: choose ClusterIP, NodePort or LoadBalancer/);
        assert.match(text, /repave:kubernetes\.orders\.certManager: .*remove issuer/);
        assert.match(text, /repave:kubernetes\.orders\.certManager\.issuerName: /);
        assert.match(text, /repave:kubernetes\.orders\.monitorSchedule: must be a cron schedule/);
        assert.match(text, /repave:apis\[1\]\.image\.source: the kubernetes target runs container images, not gcp-image-family/);
        assert.match(text, /repave:kubernetes\.invoices: no API named invoices/);
    });

    it("refuses the deployer-only previewAddress without gateFromDeployer", () => {
        assert.throws(() => parseKubernetesConfig({ orders: { previewAddress: "10.0.0.1" } }, [spec]), /repave:kubernetes\.orders\.previewAddress: only the deployer's gate uses it/);
        assert.deepEqual(Object.keys(parseKubernetesConfig(undefined, [spec])), ["orders"], "every field has a default");
    });

    it("the component itself throws before registering anything, itself included", async () => {
        let error: unknown;
        const calls: string[] = [];
        const registered = await runWithMocks(() => {
            try {
                new StatelessApi("orders", { spec, kubernetes: { servicePort: 0, probeImage: "" }, imageResolver: resolverFor(1, calls) });
            } catch (err) {
                error = err;
            }
        });
        assert.ok(error instanceof SpecError, String(error));
        assert.match(error.message, /orders\.kubernetes\.servicePort: .*hint/);
        assert.match(error.message, /orders\.kubernetes\.probeImage: .*hint/);
        assert.deepEqual(registered, []);
        assert.deepEqual(calls, [], "not even the image was resolved");
    });
});

describe("kubernetes target: registry repository names", () => {
    it("splits registry and name like docker does", () => {
        assert.deepEqual(parseRepository("nginx"), { registry: "registry-1.docker.io", name: "library/nginx" });
        assert.deepEqual(parseRepository("acme/orders"), { registry: "registry-1.docker.io", name: "acme/orders" });
        assert.deepEqual(parseRepository("registry.example.com/acme/orders"), { registry: "registry.example.com", name: "acme/orders" });
        assert.deepEqual(parseRepository("localhost:5000/orders"), { registry: "localhost:5000", name: "orders" });
    });
});

// The gate Job's bundle, run for real: the ConfigMap's files in a folder, `node runner.ts`, as the Job's container
// would, against a correct API and a flawed one on loopback TLS.
describe("kubernetes target: the probe bundle the gate Job runs", () => {
    const TOKEN = "candidate-credential";
    let dir: string;
    let ca: IssuedCertificate;
    let leaf: IssuedCertificate;
    before(async () => {
        dir = mkdtempSync(join(tmpdir(), "repave-k8s-probes-"));
        for (const [file, text] of Object.entries(probeFiles({ positive: spec.probes.positive, negative: spec.probes.negative }))) writeFileSync(join(dir, file), text);
        ca = await createCertificateAuthority("k8s probe test CA", 1);
        leaf = await issueServerCertificate(ca, ["orders.example.com"], 1);
        writeFileSync(join(dir, "ca.crt"), ca.certPem);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    function api(anyCredential: boolean): Promise<{ port: number; close: () => void }> {
        const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem, minVersion: "TLSv1.2" }, (req, res) => {
            const send = (status: number, body: object) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
            if (req.headers.host !== "orders.example.com") return send(421, {});
            const auth = req.headers.authorization;
            if (!auth) return send(401, {});
            if (!anyCredential && auth !== `Bearer ${TOKEN}`) return send(403, {});
            if (req.url === "/v1/hello") return send(200, { message: "hello" });
            let raw = "";
            req.on("data", (c: Buffer) => (raw += c.toString())).on("end", () => {
                try {
                    send(200, { echo: JSON.parse(raw) as unknown });
                } catch {
                    send(400, {});
                }
            });
        });
        return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })));
    }

    function runBundle(port: number, extra: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
        const env = {
            PATH: process.env["PATH"] ?? "",
            REPAVE_MODE: "gate",
            REPAVE_SUITE_FILE: join(dir, "suite.json"),
            REPAVE_CA_FILE: join(dir, "ca.crt"),
            REPAVE_TARGET_HOST: "127.0.0.1",
            REPAVE_TARGET_PORT: String(port),
            REPAVE_SERVER_NAME: "orders.example.com",
            REPAVE_CREDENTIAL: TOKEN,
            REPAVE_SETTLE_SECONDS: "0",
            // A moved clock (scripts/test.sh runs the unit tests a year ahead) reaches the bundle too: it checks
            // certificates this process minted.
            ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k === "LD_PRELOAD" || k.startsWith("FAKETIME"))),
            ...extra,
        };
        return new Promise((resolve) =>
            execFile(process.execPath, [join(dir, "runner.ts")], { env, timeout: 30_000 }, (err, stdout) =>
                resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout }),
            ),
        );
    }

    it("passes a correct API: positive and negative probes, TLS refusals included", async () => {
        const server = await api(false);
        try {
            const { code, stdout } = await runBundle(server.port);
            assert.equal(code, 0, stdout);
            const report = JSON.parse(stdout.split("\n")[0]!) as { passed: boolean; results: { name: string; kind: string; ok: boolean }[] };
            assert.equal(report.passed, true);
            assert.ok(report.results.some((r) => r.kind === "positive") && report.results.some((r) => r.name === "tls-legacy-version"));
        } finally {
            server.close();
        }
    });

    it("fails (exit 1) an API that accepts a wrong credential: the Job fails and the update stops before the switch", async () => {
        const server = await api(true);
        try {
            const { code, stdout } = await runBundle(server.port);
            assert.equal(code, 1, stdout);
            assert.match(stdout, /gate FAILED: .*hello-wrong-credential/);
        } finally {
            server.close();
        }
    });

    /** A webhook receiver on loopback: what the monitor posts when production fails. */
    function webhook(): Promise<{ url: string; posts: { path: string; body: string }[]; close: () => void }> {
        const posts: { path: string; body: string }[] = [];
        const server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c: Buffer) => (body += c.toString())).on("end", () => {
                posts.push({ path: `${req.method} ${req.url}`, body });
                res.writeHead(200).end("ok");
            });
        });
        return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T0KEN`, posts, close: () => server.close() })));
    }

    it("a failed monitor run posts an alert to the webhook (case names, never the credential) and fails its Job", async () => {
        const [hook, down] = [await webhook(), await api(false)];
        down.close(); // production down: nothing listens on that port any more
        try {
            const monitor = { REPAVE_MODE: "monitor", REPAVE_API: "orders", REPAVE_GENERATION: "g-1234", REPAVE_ALERT_WEBHOOK_URL: hook.url };
            const { code, stdout } = await runBundle(down.port, monitor);
            assert.equal(code, 1, stdout);
            assert.match(stdout, /alert webhook: HTTP 200/);
            assert.equal(hook.posts.length, 1, stdout);
            assert.equal(hook.posts[0]!.path, "POST /hooks/T0KEN");
            const alert = JSON.parse(hook.posts[0]!.body) as { source: string; api: string; generation: string; failed: string[]; text: string };
            assert.equal(alert.source, "repave-monitor");
            assert.equal(alert.api, "orders");
            assert.equal(alert.generation, "g-1234");
            assert.ok(alert.failed.length > 0, "names the failed cases");
            assert.match(alert.text, /repave monitor: orders FAILED in production \(generation g-1234\)/);
            assert.ok(!hook.posts[0]!.body.includes(TOKEN) && !stdout.includes(TOKEN), "never the credential");
            assert.ok(!stdout.includes("T0KEN"), "never the webhook URL (it carries a token)");

            // A healthy production posts nothing; an unreachable webhook still fails the Job (its Event alerts).
            const up = await api(false);
            try {
                assert.equal((await runBundle(up.port, monitor)).code, 0);
                assert.equal(hook.posts.length, 1, "no alert when production passes");
            } finally {
                up.close();
            }
            hook.close();
            const unreachable = await runBundle(down.port, monitor);
            assert.equal(unreachable.code, 1);
            assert.match(unreachable.stdout, /alert webhook: not delivered/);
        } finally {
            hook.close();
        }
    });
});

describe("kubernetes target: the monitor alerts somebody", () => {
    let run: Registration[] = [];
    before(async () => {
        freshCluster();
        run = await deploy(1, { alertWebhook: { secretName: "orders-alerts" } });
    });
    const envOf = (r: Registration) => {
        const s = r.inputs["spec"] as { template?: { spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } };
        return (s.template?.spec ?? s.jobTemplate!.spec.template.spec).containers[0]!.env;
    };

    it("the monitor CronJob reads the webhook URL from the named Secret (key `url` by default); the gate Jobs do not alert", () => {
        const cron = one(run, byType(T.cronJob));
        assert.deepEqual(envOf(cron).find((e) => e.name === "REPAVE_ALERT_WEBHOOK_URL")?.valueFrom?.secretKeyRef, { name: "orders-alerts", key: "url" });
        assert.equal(envOf(cron).find((e) => e.name === "REPAVE_API")?.value, "orders");
        for (const job of run.filter(byType(T.job))) assert.equal(envOf(job).find((e) => e.name === "REPAVE_ALERT_WEBHOOK_URL"), undefined, job.name);
        assert.equal(run.filter(byType(T.job)).length, 3, "two gate Jobs and the bake Job");
        const spec = cron.inputs["spec"] as { failedJobsHistoryLimit: number; jobTemplate: { spec: { backoffLimit: number } } };
        assert.ok(spec.failedJobsHistoryLimit >= 1, "failed runs are kept: their Jobs and Events are what an operator sees");
        assert.equal(spec.jobTemplate.spec.backoffLimit, 0, "one failed run fails the Job at once (BackoffLimitExceeded Event)");
    });

    it("refuses a webhook Secret that is not a Kubernetes name", () => {
        assert.throws(() => parseKubernetesConfig({ orders: { alertWebhook: { secretName: "Alerts!" } } }, [spec]), /orders\.alertWebhook\.secretName: .*hint: write the name of a Secret/);
    });
});
