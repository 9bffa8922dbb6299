// The GCP target under Pulumi mocks: two program runs (two deploys, the second with a newer image in the family)
// checked against the shared invariant suite, plus the GCP-specific properties: TLS policy, least-privilege secret
// access, certificates moving without being replaced under a proxy, the monitor, and bad config refused.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { SpecError, parseApiSpecs, type StatelessApiSpecInput } from "../../../components/spec.ts";
import { StatelessApi, parseGcpConfig, type GcpArgsInput } from "../../../components/gcp/index.ts";
import { credentialProvider } from "../../../components/gcp/credential.ts";
import { retirementProvider } from "../../../components/gcp/retirement.ts";
import { FakeCertificateIssuer } from "./fake-gcp-certificates.ts";
import { FakeSecretManager } from "./fake-gcp-secret-manager.ts";
import { CloudNames, GCP_IMMUTABLE, GCP_NAME_RULES } from "./fake-names.ts";
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
    stackMark,
    type Pick,
    type Registration,
} from "./invariants.ts";

const project = "orders-prod-123";
const specInput: StatelessApiSpecInput = {
    name: "orders",
    image: { source: "gcp-image-family", family: "orders-api", project: "orders-images" },
    capacity: 3,
    certificate: { domains: ["orders.example.com", "api.example.com"] },
    drainSeconds: 15,
};
const spec = parseApiSpecs([specInput])[0]!;
const gcpArgs = { project, region: "europe-west1", dnsZone: "example-com" };

const T = {
    address: "gcp:compute/globalAddress:GlobalAddress",
    tlsPolicy: "gcp:compute/sSLPolicy:SSLPolicy",
    firewall: "gcp:compute/firewall:Firewall",
    urlMap: "gcp:compute/uRLMap:URLMap",
    proxy: "gcp:compute/targetHttpsProxy:TargetHttpsProxy",
    rule: "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    account: "gcp:serviceaccount/account:Account",
    secret: "gcp:secretmanager/secret:Secret",
    secretVersion: "gcp:secretmanager/secretVersion:SecretVersion",
    secretIam: "gcp:secretmanager/secretIamMember:SecretIamMember",
    template: "gcp:compute/instanceTemplate:InstanceTemplate",
    healthCheck: "gcp:compute/healthCheck:HealthCheck",
    group: "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager",
    backend: "gcp:compute/backendService:BackendService",
    /** The compute certificate the target used before Certificate Manager (load-balancer authorization). */
    cert: "gcp:compute/managedSslCertificate:ManagedSslCertificate",
    cmCert: "gcp:certificatemanager/certificate:Certificate",
    certMap: "gcp:certificatemanager/certificateMap:CertificateMap",
    mapEntry: "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry",
    dnsAuth: "gcp:certificatemanager/dnsAuthorization:DnsAuthorization",
    issuance: "gcp:certificatemanager/certificateIssuanceConfig:CertificateIssuanceConfig",
    recordSet: "gcp:dns/recordSet:RecordSet",
    uptime: "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
    alert: "gcp:monitoring/alertPolicy:AlertPolicy",
    gate: "pulumi-nodejs:dynamic/repave:ProbeGate",
    bake: "pulumi-nodejs:dynamic/repave:Bake",
    securityPolicy: "gcp:compute/securityPolicy:SecurityPolicy",
    runnerAccess: "pulumi-nodejs:dynamic/repave:RunnerAccess",
    afterSwitch: "pulumi-nodejs:dynamic/repave:AfterSwitch",
    credential: "pulumi-nodejs:dynamic/repave:GenerationCredential",
    retirement: "pulumi-nodejs:dynamic/repave:Retirement",
};

const collection: Record<string, string> = {
    [T.address]: "global/addresses",
    [T.tlsPolicy]: "global/sslPolicies",
    [T.firewall]: "global/firewalls",
    [T.urlMap]: "global/urlMaps",
    [T.proxy]: "global/targetHttpsProxies",
    [T.rule]: "global/forwardingRules",
    [T.template]: "global/instanceTemplates",
    [T.healthCheck]: "global/healthChecks",
    [T.group]: "regions/europe-west1/instanceGroupManagers",
    [T.backend]: "global/backendServices",
    [T.cert]: "global/sslCertificates",
    [T.securityPolicy]: "global/securityPolicies",
};

/** A minted credential: random in the real provider, opaque here too (it names no generation). */
const credentialOf = (generation: string) => `cred-${createHash("sha256").update(`credential/${generation}`).digest("hex").slice(0, 16)}`;
const unwrap = (v: unknown): unknown => (isSecretValue(v) ? v.value : v);

/** Certificate Manager ids by type (REST: projects/<p>/locations/global/<collection>/<name>). */
const certificateManager: Record<string, string> = {
    [T.cmCert]: "certificates",
    [T.certMap]: "certificateMaps",
    [T.dnsAuth]: "dnsAuthorizations",
    [T.issuance]: "certificateIssuanceConfigs",
};
/** Which certificates Google has issued, and which DNS records exist (one project's, across its deploys). */
let issuer = new FakeCertificateIssuer();
/** The project's objects as last written, by self-link: what a forwarding rule's proxy serves. */
let objects = new Map<string, Record<string, unknown>>();
/** The live test map entry's certificates and test proxy (what the gate handshakes with), as last written. */
let testRoute: { proxy?: Record<string, unknown>; entry?: Record<string, unknown> } = {};
/** Gates that handshook with a certificate Google had not issued: each would have failed the deploy. */
let gateFailures: string[] = [];
/** One Secret Manager per test account: what a deploy adds, the next deploy reads. */
let secretManager = new FakeSecretManager();
/** The project's physical names: a second stack asking for a name the first holds is "already exists". */
let names = new CloudNames(GCP_NAME_RULES, GCP_IMMUTABLE);
/** The versions added so far, by logical name, secret and data: what an unchanged re-registration answers. */
let versionsAdded = new Map<string, { name: string; version: string }>();
/** Each generation's credential as first created (the engine keeps a resource's outputs while its diff says no change). */
let credentialsMinted = new Map<string, Record<string, unknown>>();
/** The versions each run added to the stable secret, in order (what `latest` became). */
let latestMoves: { name: string; latest: string }[] = [];
/** The mark of this file's default stack ("test" of project "repave") in the names of the API "orders". */
const SCOPE = stackMark("repave", "test", "orders");
const STORE = `projects/${project}/secrets/orders-${SCOPE}-credential`;

/** What the GCP provider would return: self-links and names derived from the physical names, like the real API. */
function providerOutputs(r: { type: string; name: string; inputs: Record<string, unknown> }): Record<string, unknown> {
    names.create(r.type, r.inputs, pulumi.getStack());
    const name = typeof r.inputs["name"] === "string" ? r.inputs["name"] : "";
    const base = `https://www.googleapis.com/compute/v1/projects/${project}`;
    const out: Record<string, unknown> = {};
    if (collection[r.type]) out["selfLink"] = `${base}/${collection[r.type]}/${name}`;
    if (r.type === T.template) out["selfLinkUnique"] = `${base}/global/instanceTemplates/${name}?uniqueId=1`;
    if (r.type === T.group) out["instanceGroup"] = `${base}/regions/europe-west1/instanceGroups/${name}`;
    if (r.type === T.address) out["address"] = "203.0.113.10";
    if (r.type === T.account) out["email"] = `${String(r.inputs["accountId"])}@${project}.iam.gserviceaccount.com`;
    if (r.type === T.secret) {
        out["name"] = out["id"] = `projects/${project}/secrets/${String(r.inputs["secretId"])}`;
        secretManager.createSecret(String(out["name"]));
    }
    if (r.type === T.secretVersion) {
        const secret = String(r.inputs["secret"]);
        const data = String(unwrap(r.inputs["secretData"]));
        // A later deploy registering the same version again (same generation) is no change, not a new version.
        const key = `${r.name}\n${secret}\n${data}`;
        const same = versionsAdded.get(key);
        if (same) return { ...out, ...same };
        const added = secretManager.addVersion(secret, data);
        versionsAdded.set(key, added);
        Object.assign(out, added);
        if (secret === STORE) latestMoves.push({ name: r.name, latest: secretManager.access(STORE).secretData });
    }
    if (r.type === T.cert) out["expireTime"] = "2027-03-01T00:00:00Z";
    if (certificateManager[r.type]) out["id"] = `projects/${project}/locations/global/${certificateManager[r.type]}/${name}`;
    if (r.type === T.mapEntry) out["id"] = `projects/${project}/locations/global/certificateMaps/${String(r.inputs["map"])}/certificateMapEntries/${name}`;
    if (r.type === T.dnsAuth) out["dnsResourceRecords"] = [issuer.authorize(String(out["id"]), String(r.inputs["domain"]))];
    if (r.type === T.recordSet) issuer.addRecord(String(r.inputs["name"]), String((r.inputs["rrdatas"] as string[])[0]));
    if (r.type === T.cmCert) issuer.issue(String(out["id"]), r.inputs["managed"] as { dnsAuthorizations?: string[]; issuanceConfig?: string });
    if (typeof out["selfLink"] === "string") objects.set(out["selfLink"], r.inputs);
    if (r.name === "orders-test-proxy") testRoute.proxy = r.inputs;
    if (r.name === "orders-test-certificate-map-entry") testRoute.entry = r.inputs;
    // A 443 listener serves its proxy's compute certificates: what authorizes them (fake-gcp-certificates.ts).
    if (r.type === T.rule && r.inputs["portRange"] === "443") issuer.serveOn443((objects.get(String(r.inputs["target"]))?.["sslCertificates"] as string[] | undefined) ?? []);
    if (r.type === T.gate) {
        // The gate's TLS handshake on the test listener: the certificate it is handed must be issued by now.
        const served = testRoute.proxy?.["certificateMap"] ? (testRoute.entry?.["certificates"] as string[] | undefined)?.[0] : (testRoute.proxy?.["sslCertificates"] as string[] | undefined)?.[0];
        const state = served === undefined ? "none" : issuer.state(served);
        if (state !== "ACTIVE") gateFailures.push(`${r.name} (${pulumi.getStack()}): the test listener serves ${served ?? "no certificate"}, ${state}: the handshake fails until gateSettleSeconds runs out`);
    }
    if (r.type === T.uptime) out["uptimeCheckId"] = "orders-uptime-1";
    if (r.type === T.credential) {
        // The provider's diff compares api and generation only (credential.ts): the same generation again is no
        // change, and keeps the `previous` it was created with, whatever the reference holds now.
        const generation = String(r.inputs["generation"]);
        const minted = credentialsMinted.get(generation) ?? { value: credentialOf(generation), createdAt: "2026-11-30T00:00:00Z", previous: r.inputs["previous"] };
        credentialsMinted.set(generation, minted);
        Object.assign(out, minted);
    }
    return out;
}

/** The image family's newest image: a different one on each deploy (a patched image was published in between). */
const imageOf = (n: number) => ({
    selfLink: `https://www.googleapis.com/compute/v1/projects/orders-images/global/images/orders-api-v2026113${n}`,
    name: `orders-api-v2026113${n}`,
    creationTimestamp: `2026-11-3${n}T00:00:00.000-08:00`,
});

/** A new, empty project: the next deploy is the stack's first. */
function freshProject(): void {
    issuer = new FakeCertificateIssuer();
    objects = new Map();
    testRoute = {};
    gateFailures = [];
    secretManager = new FakeSecretManager();
    versionsAdded = new Map();
    credentialsMinted = new Map();
    names = new CloudNames(GCP_NAME_RULES, GCP_IMMUTABLE);
}

function deploy(n: number, specArg = spec, deployId = `deploy-${n}`, stack = "test", gcp: GcpArgsInput = gcpArgs, consumer = false, protectFrontDoor = false): Promise<Registration[]> {
    latestMoves = [];
    return completeRun(
        () => {
            const api = new StatelessApi(specArg.name, { spec: specArg, gcp, deployId, protectFrontDoor });
            if (consumer) new Consumer("consumer", { dependsOn: [api] });
            return api;
        },
        {
            outputs: providerOutputs,
            call: (token, inputs) => {
                if (token === "gcp:secretmanager/getSecretVersionAccess:getSecretVersionAccess") {
                    try {
                        return secretManager.access(`projects/${project}/secrets/${String(inputs["secret"])}`);
                    } catch (err) {
                        throw providerError(token, (err as Error).message);
                    }
                }
                assert.equal(token, "gcp:compute/getImage:getImage");
                assert.deepEqual(inputs, { family: "orders-api", project: "orders-images" });
                return imageOf(n);
            },
        },
        stack,
    );
}

const named = (...names: string[]): Pick => (r) => names.includes(r.name);
const isGate = byType(T.gate);
const isMainGate = named("orders-gate");
// The production proxy names its certificate map, which never changes: the map's entry moves instead.
const isSwitch = named("orders-url-map", "orders-certificate-map-entry");
const isFrontDoor = byType(T.address, T.tlsPolicy, T.firewall, T.urlMap, T.proxy, T.rule, T.uptime, T.alert, T.certMap, T.mapEntry, T.dnsAuth, T.recordSet, T.securityPolicy);
// The stable secret is front door; its promotion version is replaced per generation (replacementTrigger) but has no
// name or labels to carry the id: a secret version coexists with the live one by nature.
const isGeneration: Pick = (r) =>
    byType(T.account, T.credential, T.secret, T.secretVersion, T.secretIam, T.template, T.healthCheck, T.group, T.backend, T.cmCert, T.retirement)(r) &&
    !["orders-credential-store", "orders-credential-current"].includes(r.name);
const one = (run: Registration[], pick: Pick): Registration => {
    const found = run.filter(pick);
    assert.equal(found.length, 1, `expected exactly one match, got ${found.map((r) => r.name).join(", ")}`);
    return found[0]!;
};
const generationOf = (run: Registration[]) => String(one(run, isMainGate).inputs["generation"]);
const isSecretValue = (v: unknown): v is { value: unknown } =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270";

// Suites' bodies run as they are declared, so the deploys (which swap the process-wide mocks) run in before().
describe("gcp target (mocks): two deploys", () => {
    let first: Registration[] = [];
    let second: Registration[] = [];
    let ids: [string, string] = ["", ""];
    before(async () => {
        freshProject();
        first = await deploy(1);
        second = await deploy(2);
        ids = [generationOf(first), generationOf(second)];
    });

    it("keeps the front door: address, TLS policy, listeners, URL maps and proxies keep names and URNs (I4)", () => {
        assertStableFrontDoor(first, second, isFrontDoor);
        const listeners = second.filter(byType(T.rule));
        assert.deepEqual(listeners.map((r) => r.inputs["portRange"]).sort(), ["443", "8443"]);
        for (const rule of listeners) {
            assert.equal(rule.inputs["ipAddress"], "203.0.113.10", "both listeners share the one static address");
            assert.equal(rule.inputs["loadBalancingScheme"], "EXTERNAL_MANAGED");
        }
    });

    it("replaces the generation: same logical names, physical names carry the new id, new image pinned (I1, I5)", () => {
        assertGenerationReplaced(first, second, isGeneration, ids);
        const template = one(second, byType(T.template));
        const disks = template.inputs["disks"] as { sourceImage: string }[];
        assert.equal(disks[0]?.sourceImage, imageOf(2).selfLink, "the template pins the new image by self-link");
        assert.equal(one(second, byType(T.group)).inputs["targetSize"], 3, "target size is spec.capacity");
        assert.equal(one(second, byType(T.cmCert)).inputs["name"], `orders-${SCOPE}-${ids[1]}-cert`);
        assert.deepEqual((one(second, byType(T.cmCert)).inputs["managed"] as { domains: string[] }).domains, ["orders.example.com", "api.example.com"]);
    });

    it("switches only after the gate, with the gated generation as an input (I2)", () => {
        for (const run of [first, second]) assertGateBeforeSwitch(run, isGate, isSwitch, generationOf(run));
        const urlMap = one(second, named("orders-url-map"));
        assert.match(String(urlMap.inputs["description"]), new RegExp(`generation ${ids[1]} \\(gate passed\\)`));
        assert.equal(urlMap.inputs["defaultService"], `https://www.googleapis.com/compute/v1/projects/${project}/global/backendServices/orders-${SCOPE}-${ids[1]}`);
    });

    it("points the test route at the candidate before the gate, on the test listener's address and port", () => {
        assertBefore(second, named("orders-test-url-map", "orders-test-proxy"), isGate, "test route before gate");
        const testMap = one(second, named("orders-test-url-map"));
        assert.ok(String(testMap.inputs["defaultService"]).endsWith(`/backendServices/orders-${SCOPE}-${ids[1]}-test`), "the candidate's test backend");
        const gate = one(second, isMainGate);
        assert.equal(gate.inputs["host"], "203.0.113.10");
        assert.equal(gate.inputs["port"], 8443);
        assert.equal(gate.inputs["serverName"], "orders.example.com");
        assert.ok(isSecretValue(gate.inputs["credential"]), "the gate's credential is a secret (I8)");
    });

    it("issues each generation's certificate before any proxy serves it: the gate handshakes with an ACTIVE one (issue #13)", () => {
        // A load-balancer-authorized certificate on the test listener is never ACTIVE before the switch
        // (fake-gcp-certificates.ts): the first deploy's gate waited out gateSettleSeconds and failed.
        assert.deepEqual(gateFailures, [], "a gate handshook with a certificate Google had not issued");
        assert.deepEqual(second.filter(byType(T.cert)), [], "no load-balancer-authorized (compute) certificate");
        const auths = second.filter(byType(T.dnsAuth));
        assert.deepEqual(auths.map((a) => a.inputs["domain"]), ["orders.example.com", "api.example.com"], "one DNS authorization per domain");
        const cert = one(second, byType(T.cmCert));
        const managed = cert.inputs["managed"] as { domains: string[]; dnsAuthorizations: string[] };
        assert.deepEqual(managed.dnsAuthorizations, auths.map((a) => `projects/${project}/locations/global/dnsAuthorizations/${String(a.inputs["name"])}`));
        assert.equal(second.filter(byType(T.recordSet)).length, 2, "with dnsZone, the CNAMEs are created in Cloud DNS");
        for (const record of second.filter(byType(T.recordSet))) {
            assert.equal(record.inputs["managedZone"], "example-com");
            assert.equal(record.inputs["type"], "CNAME");
        }
    });

    it("keeps the DNS authorizations, their records and both certificate maps across repaves (I4)", () => {
        for (const type of [T.dnsAuth, T.recordSet, T.certMap, T.mapEntry]) {
            const names = (run: Registration[]) => run.filter(byType(type)).map((r) => `${r.name} ${String(r.inputs["name"])}`);
            assert.deepEqual(names(second), names(first), `${type} changes between deploys`);
        }
    });

    it("moves the test map's entry to the candidate before the gate, production's in the switch (pulumi/pulumi#6350)", () => {
        const certId = `projects/${project}/locations/global/certificates/orders-${SCOPE}-${ids[1]}-cert`;
        assertBefore(second, byType(T.cmCert), isSwitch, "certificate before switch");
        assertBefore(second, named("orders-test-certificate-map-entry"), isGate, "test map entry before gate");
        assert.deepEqual(one(second, named("orders-test-certificate-map-entry")).inputs["certificates"], [certId], "the test listener serves the candidate's certificate");
        assert.deepEqual(one(second, named("orders-certificate-map-entry")).inputs["certificates"], [certId], "production moves to it in the switch");
        for (const entry of second.filter(byType(T.mapEntry))) assert.equal(entry.inputs["matcher"], "PRIMARY", "one entry serves every SNI (matcher is ForceNew: never changed)");
        const maps = Object.fromEntries(second.filter(byType(T.certMap)).map((m) => [m.name, `//certificatemanager.googleapis.com/projects/${project}/locations/global/certificateMaps/${String(m.inputs["name"])}`]));
        assert.equal(one(second, named("orders-test-proxy")).inputs["certificateMap"], maps["orders-test-certificate-map"]);
        assert.equal(one(second, named("orders-https-proxy")).inputs["certificateMap"], maps["orders-certificate-map"]);
        const firstCert = one(first, byType(T.cmCert));
        const secondCert = one(second, byType(T.cmCert));
        assert.equal(firstCert.name, secondCert.name, "one logical certificate: the engine replaces it...");
        assert.notEqual(firstCert.inputs["name"], secondCert.inputs["name"], "...under a new physical name, so the old one outlives the switch");
    });

    it("bakes production after the switch with the old generation still there, and knows the way back (issue #13 item 8)", () => {
        const bake = one(second, byType(T.bake));
        assertBefore(second, isSwitch, byType(T.bake), "switch before the bake");
        assertBefore(second, byType(T.bake), named("orders-credential-current"), "bake before the promotion");
        assert.equal(bake.inputs["generation"], ids[1]);
        assert.equal(bake.inputs["host"], "203.0.113.10");
        assert.equal(bake.inputs["port"], 443);
        assert.equal(bake.inputs["serverName"], "orders.example.com");
        assert.equal(bake.inputs["keepWarmSeconds"], spec.keepWarmSeconds);
        assert.ok(isSecretValue(bake.inputs["credential"]), "the bake's credential is a secret (I8)");
        // Its route points the production URL map at this generation's backend (gcloud compute url-maps
        // set-default-service); the next deploy's bake goes back along it if its own generation fails.
        const urlMap = String(one(second, named("orders-url-map")).inputs["name"]);
        const backend = `https://www.googleapis.com/compute/v1/projects/${project}/global/backendServices/orders-${SCOPE}-${ids[1]}`;
        assert.deepEqual(bake.inputs["route"], ["gcloud", "compute", "url-maps", "set-default-service", urlMap, `--default-service=${backend}`, "--global", `--project=${project}`]);
    });

    it("gates with positive and negative probes", () => {
        assertGateProbes(second, isGate);
        const probes = one(second, isMainGate).inputs["probes"] as { positive: { name: string }[]; negative: { name: string }[] };
        assert.deepEqual(probes.negative.map((p) => p.name), ["hello-unauthenticated", "hello-wrong-credential", "echo-malformed"]);
    });

    it("serves TLS 1.2 or newer on both listeners", () => {
        const policy = one(second, byType(T.tlsPolicy));
        assert.equal(policy.inputs["minTlsVersion"], "TLS_1_2");
        assert.ok(["MODERN", "RESTRICTED"].includes(String(policy.inputs["profile"])));
        const policyLink = `https://www.googleapis.com/compute/v1/projects/${project}/global/sslPolicies/orders-${SCOPE}-tls`;
        for (const proxy of second.filter(byType(T.proxy))) assert.equal(proxy.inputs["sslPolicy"], policyLink, `${proxy.name} uses the policy`);
    });

    it("grants secret access least-privilege: one generation's account, on that generation's two secrets only", () => {
        const account = one(second, byType(T.account));
        const member = `serviceAccount:${String(account.inputs["accountId"])}@${project}.iam.gserviceaccount.com`;
        const template = one(second, byType(T.template));
        const metadata = template.inputs["metadata"] as Record<string, string>;
        for (const [suffix, key] of [["credential", "repave-credential-secret"], ["previous", "repave-previous-credential-secret"]] as const) {
            const secret = one(second, named(`orders-${suffix}-secret`));
            assert.equal(secret.inputs["secretId"], `orders-${SCOPE}-${ids[1]}-${suffix}`);
            const grant = one(second, named(`orders-${suffix}-access`));
            assert.equal(grant.inputs["role"], "roles/secretmanager.secretAccessor");
            assert.equal(grant.inputs["secretId"], secret.inputs["secretId"], "the grant is on this generation's secret");
            assert.equal(grant.inputs["member"], member);
            const version = one(second, named(`orders-${suffix}-version`));
            assert.ok(isSecretValue(version.inputs["secretData"]), "the credential is stored as a Pulumi secret (I8)");
            assert.equal(version.inputs["secret"], `projects/${project}/secrets/orders-${SCOPE}-${ids[1]}-${suffix}`);
            assert.equal(metadata[key], `projects/${project}/secrets/orders-${SCOPE}-${ids[1]}-${suffix}/versions/1`, `the instances find ${suffix} through ${key}`);
        }
        assert.ok(String(account.inputs["accountId"]).length <= 30 && String(account.inputs["accountId"]).includes(ids[1]));
        assert.equal((template.inputs["serviceAccount"] as { email: string }).email, `orders-${SCOPE}-${ids[1]}@${project}.iam.gserviceaccount.com`);
        const iamTypes = [...new Set(second.map((r) => r.type))].filter((t) => /iam/i.test(t));
        assert.deepEqual(iamTypes, [T.secretIam], "no project-wide or other IAM grants");
        assert.equal(second.filter(byType(T.secretIam)).length, 2, "no grant on the stable secret: instances never read what callers use");
    });

    it("health-checks within GCP's limits, drains the backend, and waits before retiring the old generation (I6)", () => {
        const hc = one(second, byType(T.healthCheck));
        assert.ok(Number(hc.inputs["timeoutSec"]) <= Number(hc.inputs["checkIntervalSec"]), "timeout <= interval");
        assert.equal((hc.inputs["httpHealthCheck"] as { requestPath: string }).requestPath, "/healthz");
        // Unset, the checker sends the load balancer's IP as Host, which an app keeping the contract refuses on
        // every path but the health path; set, even a stricter app stays healthy.
        assert.equal((hc.inputs["httpHealthCheck"] as { host?: string }).host, "orders.example.com", "the health check names the API as Host");
        const metadata = one(second, byType(T.template)).inputs["metadata"] as Record<string, string>;
        assert.equal(metadata["repave-domains"], "orders.example.com,api.example.com", "the app learns which Hosts it serves");
        assert.equal(one(second, named("orders-backend-service")).inputs["connectionDrainingTimeoutSec"], 15);
        const retirement = one(second, byType(T.retirement));
        assert.equal(retirement.inputs["waitSeconds"], 120 + 15);
        assert.ok(String(retirement.inputs["backendService"]).endsWith(`/backendServices/orders-${SCOPE}-${ids[1]}`));
    });

    it("monitors production with the first positive probe, after the switch, with a masked secret credential", () => {
        assertBefore(second, isSwitch, byType(T.uptime), "switch before monitor");
        assertBefore(second, named("orders-credential-current"), byType(T.uptime), "promotion before the monitor moves");
        const uptime = one(second, byType(T.uptime));
        // The check carries the credential, so the SDK keeps the whole httpCheck secret in state.
        const httpCheck = uptime.inputs["httpCheck"];
        assert.ok(isSecretValue(httpCheck), "the check's credential is a secret (I8)");
        const check = httpCheck.value as Record<string, unknown>;
        assert.equal(check["path"], "/v1/hello");
        assert.equal(check["requestMethod"], "GET");
        assert.equal(check["useSsl"], true);
        assert.equal(check["maskHeaders"], true);
        assert.deepEqual(check["acceptedResponseStatusCodes"], [{ statusValue: 200 }]);
        assert.deepEqual(check["headers"], { Authorization: `Bearer ${credentialOf(ids[1])}` }, "the promoted credential");
        assert.deepEqual(uptime.inputs["monitoredResource"], { type: "uptime_url", labels: { project_id: project, host: "orders.example.com" } });
        const alert = one(second, byType(T.alert));
        assert.match(JSON.stringify(alert.inputs["conditions"]), /uptime_check\/check_passed.*orders-uptime-1/);
    });
});

describe("gcp target: certificates without a Cloud DNS zone, and from a private CA", () => {
    const { dnsZone: _zone, ...noZone } = gcpArgs;
    it("the model: a load-balancer-authorized certificate is ACTIVE only once a 443 listener serves it; a DNS-authorized one once its CNAME exists", () => {
        const model = new FakeCertificateIssuer();
        assert.equal(model.state("https://www.googleapis.com/compute/v1/projects/p/global/sslCertificates/c"), "PROVISIONING");
        model.serveOn443(["https://www.googleapis.com/compute/v1/projects/p/global/sslCertificates/c"]);
        assert.equal(model.state("https://www.googleapis.com/compute/v1/projects/p/global/sslCertificates/c"), "ACTIVE");
        const record = model.authorize("auth-1", "orders.example.com");
        model.issue("cert-1", { dnsAuthorizations: ["auth-1"] });
        assert.equal(model.state("cert-1"), "PROVISIONING", "no CNAME yet");
        model.addRecord(record.name, record.data);
        assert.equal(model.state("cert-1"), "ACTIVE");
        model.issue("cert-2", { issuanceConfig: "issuance-1" });
        assert.equal(model.state("cert-2"), "ACTIVE");
    });

    it("without dnsZone: the first gate waits for the records you add; the records stay the same on every repave", async () => {
        freshProject();
        const first = await deploy(1, spec, "deploy-1", "test", noZone);
        assert.deepEqual(first.filter(byType(T.recordSet)), [], "no zone: no Cloud DNS records");
        assert.equal(gateFailures.length, 2, "both gates handshake with a certificate still waiting for its CNAMEs");
        // The user adds the records the deploy printed (and `dnsAuthorizationRecords` exports).
        const ids = first.filter(byType(T.dnsAuth)).map((a) => `projects/${project}/locations/global/dnsAuthorizations/${String(a.inputs["name"])}`);
        const records = ids.map((id) => issuer.recordOf(id)!);
        for (const r of records) issuer.addRecord(r.name, r.data);
        gateFailures = [];
        const second = await deploy(2, spec, "deploy-2", "test", noZone);
        assert.deepEqual(gateFailures, [], "once the CNAMEs exist, every generation's certificate is ACTIVE before the gate");
        assert.deepEqual(second.filter(byType(T.dnsAuth)).map((a) => issuer.recordOf(`projects/${project}/locations/global/dnsAuthorizations/${String(a.inputs["name"])}`)), records);
    });

    it("with caPool: private certificates from the pool, no DNS authorization, issued before the gate", async () => {
        freshProject();
        const caPool = `projects/${project}/locations/europe-west1/caPools/orders-internal`;
        const caRootPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        const run = await deploy(1, spec, "deploy-ca", "test", { ...noZone, caPool, caRootPem });
        assert.deepEqual(gateFailures, []);
        assert.equal(one(run, isMainGate).inputs["caPem"], caRootPem, "the gate trusts the pool's root, as callers must");
        assert.deepEqual(run.filter(byType(T.dnsAuth)), []);
        const config = one(run, byType(T.issuance));
        assert.deepEqual(config.inputs["certificateAuthorityConfig"], { certificateAuthorityServiceConfig: { caPool } });
        const managed = one(run, byType(T.cmCert)).inputs["managed"] as Record<string, unknown>;
        assert.equal(managed["issuanceConfig"], `projects/${project}/locations/global/certificateIssuanceConfigs/${String(config.inputs["name"])}`);
        assert.equal(managed["dnsAuthorizations"], undefined, "either an issuance config or DNS authorizations, not both");
        assert.notEqual(generationOf(run), generationOf(await deploy(1, spec, "deploy-ca", "test", noZone)), "another issuer is another generation (managed is ForceNew)");
    });
});

describe("gcp target: exposure and reach (issue #13 items 7 and 9)", () => {
    let run: Registration[] = [];
    before(async () => {
        freshProject();
        run = await deploy(1);
    });

    it("the test listener answers nobody but the allow-list: Cloud Armor on the candidate's test backend, default deny", () => {
        const policy = one(run, byType(T.securityPolicy));
        const rules = policy.inputs["rules"] as { priority: number; action: string; match: { config: { srcIpRanges: string[] } } }[];
        assert.deepEqual(rules.map((r) => [r.priority, r.action, r.match.config.srcIpRanges]), [[2147483647, "deny(403)", ["*"]]], "nobody by default");
        const policyLink = `https://www.googleapis.com/compute/v1/projects/${project}/global/securityPolicies/${String(policy.inputs["name"])}`;
        assert.equal(one(run, named("orders-test-backend-service")).inputs["securityPolicy"], policyLink);
        assert.equal(one(run, named("orders-backend-service")).inputs["securityPolicy"], undefined, "production stays open");
        const test = one(run, named("orders-test-backend-service")).inputs;
        const prod = one(run, named("orders-backend-service")).inputs;
        assert.deepEqual(test["backends"], prod["backends"], "the same instances behind both");
    });

    it("the gate's runner is allowed for the gate only: a rule added before the gates, deleted after the bake", () => {
        const access = one(run, byType(T.runnerAccess));
        const policy = String(one(run, byType(T.securityPolicy)).inputs["name"]);
        assert.deepEqual(access.inputs["open"], ["gcloud", "compute", "security-policies", "rules", "create", "900", `--security-policy=${policy}`, `--project=${project}`, "--src-ip-ranges={cidr}", "--action=allow", "--description=repave-gate-runner"]);
        assert.deepEqual(access.inputs["close"], ["gcloud", "compute", "security-policies", "rules", "delete", "900", `--security-policy=${policy}`, `--project=${project}`, "--quiet"]);
        assertBefore(run, byType(T.runnerAccess), isGate, "runner rule before the gates");
        const after = one(run, byType(T.afterSwitch));
        assertBefore(run, byType(T.bake), byType(T.afterSwitch), "bake before the runner rule goes");
        assert.deepEqual(after.inputs["commands"], [access.inputs["close"]]);
    });

    it("listed CIDRs are allowed for good; without the runner rule they must be listed", async () => {
        freshProject();
        const fixed = await deploy(1, spec, "deploy-fixed", "test", { ...gcpArgs, gateFromRunner: false, testListenerCidrs: ["10.0.0.0/16"] });
        const rules = one(fixed, byType(T.securityPolicy)).inputs["rules"] as { priority: number; match: { config: { srcIpRanges: string[] } } }[];
        assert.deepEqual(rules.find((r) => r.priority === 1000)?.match.config.srcIpRanges, ["10.0.0.0/16"]);
        assert.deepEqual(fixed.filter(byType(T.runnerAccess, T.afterSwitch)), []);
        assert.throws(() => parseGcpConfig({ orders: { ...gcpArgs, gateFromRunner: false } }, [spec]), /repave:gcp\.orders\.testListenerCidrs: empty while gateFromRunner is false/);
    });

    it("instances retry their secret reads while a new service account's access propagates", () => {
        const metadata = one(run, byType(T.template)).inputs["metadata"] as Record<string, string>;
        assert.ok(Number(metadata["repave-secret-wait-seconds"]) >= 420, "IAM: up to 7 minutes");
    });
});

describe("gcp target: callers keep working across the switch (one secret, versions)", () => {
    const runs: Registration[][] = [];
    const held: string[] = [];
    const moves: (typeof latestMoves)[] = [];
    before(async () => {
        freshProject();
        for (const n of [1, 2, 3]) {
            held.push(n === 1 ? "" : secretManager.access(STORE).secretData);
            runs.push(await deploy(n));
            moves.push(latestMoves);
        }
    });
    /** What a generation accepts: the two secret versions its instances read (instance metadata), in the project. */
    const acceptedBy = (run: Registration[]): string[] => {
        const metadata = one(run, byType(T.template)).inputs["metadata"] as Record<string, string>;
        return [secretManager.read(metadata["repave-credential-secret"]!), secretManager.read(metadata["repave-previous-credential-secret"]!)];
    };
    const uptimeCredential = (run: Registration[]) => {
        const check = one(run, byType(T.uptime)).inputs["httpCheck"] as { value: { headers: { Authorization: string } } };
        return check.value.headers.Authorization.replace(/^Bearer /, "");
    };
    const timeline = (k: 1 | 2) => {
        const run = runs[k]!;
        return {
            before: { production: generationOf(runs[k - 1]!), reference: held[k]!, monitors: { uptime: uptimeCredential(runs[k - 1]!) } },
            events: [
                { index: one(run, named("orders-url-map")).index, production: generationOf(run) },
                ...moves[k]!.map((m) => ({ index: one(run, named(m.name)).index, reference: m.latest })),
                { index: one(run, byType(T.uptime)).index, monitor: { name: "uptime", credential: uptimeCredential(run) } },
            ],
            candidate: generationOf(run),
            accepts: (generation: string) => acceptedBy(runs.find((r) => generationOf(r) === generation)!),
            refused: ["not-a-credential", ...(k === 2 ? [credentialOf(generationOf(runs[0]!))] : [])],
        };
    };

    it("a first generation has no previous: its second secret holds its own credential (an empty payload is refused)", () => {
        assert.deepEqual(acceptedBy(runs[0]!), [credentialOf(generationOf(runs[0]!)), credentialOf(generationOf(runs[0]!))]);
    });

    it("the candidate accepts its own and the live credential; the grace gate proves the live one before the switch", () => {
        const [previous, run] = [runs[0]!, runs[1]!];
        assert.deepEqual(acceptedBy(run), [credentialOf(generationOf(run)), credentialOf(generationOf(previous))]);
        assert.deepEqual(unwrap(one(run, named("orders-gate-grace")).inputs["credential"]), credentialOf(generationOf(previous)));
        assertGateBeforeSwitch(run, isGate, isSwitch, generationOf(run));
    });

    it("no caller and no uptime check is handed a credential production refuses, on the second and the third deploy", () => {
        assertCallersKeepWorking(timeline(1));
        assertCallersKeepWorking(timeline(2));
    });
});

describe("gcp target: two stacks, one project (names carry the stack)", () => {
    const pinned = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" } }])[0]!;
    let staging: Registration[] = [];
    let production: Registration[] = [];
    let longest: Registration[] = [];
    before(async () => {
        freshProject();
        // The same spec, image and deploy id: under `pinned` only the stack tells the two apart.
        staging = await deploy(1, pinned, "same-deploy", "staging");
        production = await deploy(1, pinned, "same-deploy", "production");
        longest = await deploy(1, parseApiSpecs([{ ...specInput, name: "a-twenty-four-char-api-x" }])[0], "deploy-long", "staging");
    });

    it("asks for no physical name the other stack holds, generation names included (their ids carry the stack)", () => {
        assertTwoStacksOneAccount(staging, production, GCP_NAME_RULES);
        assert.notEqual(generationOf(staging), generationOf(production));
        assert.deepEqual(names.refusals, [], "the project refused a name");
    });

    it("keeps every name within its resource's rules (RFC 1035, 63; service accounts 30; base instance names 58)", () => {
        assert.deepEqual(names.refusals, []);
        const account = String(one(longest, byType(T.account)).inputs["accountId"]);
        assert.ok(account.length <= 30 && account.startsWith("a-twenty"), account);
    });

    it("keeps the names of a stack deployed before names carried the stack (I4: a rename would replace the URL map and address)", () => {
        const isNamedFrontDoor: Pick = (r) => isFrontDoor(r) || r.name === "orders-credential-store";
        assertExistingStacksKeepNames(staging, isNamedFrontDoor, GCP_NAME_RULES);
    });
});

describe("gcp target: the generation id covers every setting that shapes a generation", () => {
    const pinned = parseApiSpecs([{ ...specInput, repave: { policy: "pinned" } }])[0]!;
    const changes: [string, GcpArgsInput, typeof pinned][] = [
        ["machineType", { ...gcpArgs, machineType: "n2-standard-2" }, pinned],
        ["network", { ...gcpArgs, network: "orders-vpc" }, pinned],
        ["subnetwork", { ...gcpArgs, subnetwork: "orders-europe-west1" }, pinned],
        ["propagationSeconds", { ...gcpArgs, propagationSeconds: 300 }, pinned],
        ["drainSeconds", gcpArgs, parseApiSpecs([{ ...specInput, repave: { policy: "pinned" }, drainSeconds: 60 }])[0]!],
    ];
    const runs = new Map<string, Registration[]>();
    before(async () => {
        freshProject();
        runs.set("before", await deploy(1, pinned, "d1"));
        for (const [what, gcp, specArg] of changes) runs.set(what, await deploy(1, specArg, `d-${what}`, "test", gcp));
    });

    it("a pinned redeploy with nothing changed keeps its generation", async () => {
        assert.equal(generationOf(await deploy(1, pinned, "d-again")), generationOf(runs.get("before")!));
    });

    for (const [what] of changes) {
        it(`a new ${what} is a new generation (a new instance template), never the live one changed in place`, () => {
            assert.notEqual(generationOf(runs.get(what)!), generationOf(runs.get("before")!), `${what} changed under the same generation`);
            assert.deepEqual(names.refusals, [], "the project refused a create");
        });
    }
});

describe("gcp target: protectFrontDoor (issue #13 item 12)", () => {
    it("protects the front door, the stable secret and the monitor, and nothing a repave replaces", async () => {
        freshProject();
        const run = await deploy(1, spec, "deploy-protect", "test", { ...gcpArgs, notificationChannels: [`projects/${project}/notificationChannels/42`] }, false, true);
        assertOnlyFrontDoorProtected(run, (r) => isFrontDoor(r) || r.name === "orders-credential-store");
    });

    it("a protected (production) front door must name who its alert notifies", async () => {
        let error: unknown;
        const registered = await runWithMocks(() => {
            try {
                new StatelessApi("orders", { spec, gcp: gcpArgs, protectFrontDoor: true });
            } catch (err) {
                error = err;
            }
        });
        assert.ok(error instanceof SpecError, String(error));
        assert.match(error.message, /orders\.gcp\.notificationChannels: empty on a protected front door: the production probe's alert would notify nobody \(hint: /);
        assert.deepEqual(registered, []);
    });

    it("protects nothing unless asked", async () => {
        freshProject();
        assert.deepEqual((await deploy(1)).filter((r) => r.protect).map((r) => r.name), []);
    });
});

describe("gcp target: the deploying identity's role (components/gcp/deploy-role.yaml)", () => {
    // What creating each registered type asks Google for (the API method's IAM permission, IAM docs "permissions
    // reference"), and what the deploy calls besides: its lookups and its gcloud steps.
    const createdBy: Record<string, string[]> = {
        [T.address]: ["compute.globalAddresses.create"],
        [T.tlsPolicy]: ["compute.sslPolicies.create"],
        [T.firewall]: ["compute.firewalls.create"],
        [T.urlMap]: ["compute.urlMaps.create", "compute.urlMaps.update"],
        [T.proxy]: ["compute.targetHttpsProxies.create", "compute.targetHttpsProxies.setCertificateMap", "compute.urlMaps.use", "compute.sslPolicies.use"],
        [T.rule]: ["compute.globalForwardingRules.create", "compute.targetHttpsProxies.use", "compute.globalAddresses.use"],
        [T.account]: ["iam.serviceAccounts.create", "iam.serviceAccounts.actAs"],
        [T.secret]: ["secretmanager.secrets.create"],
        [T.secretVersion]: ["secretmanager.versions.add"],
        [T.secretIam]: ["secretmanager.secrets.setIamPolicy"],
        [T.template]: ["compute.instanceTemplates.create", "compute.images.useReadOnly"],
        [T.healthCheck]: ["compute.healthChecks.create"],
        [T.group]: ["compute.instanceGroupManagers.create", "compute.instances.create", "compute.instanceTemplates.useReadOnly", "compute.subnetworks.use"],
        [T.backend]: ["compute.backendServices.create", "compute.backendServices.setSecurityPolicy", "compute.instanceGroups.use", "compute.healthChecks.useReadOnly"],
        [T.securityPolicy]: ["compute.securityPolicies.create", "compute.securityPolicies.update"],
        [T.cmCert]: ["certificatemanager.certs.create", "certificatemanager.dnsauthorizations.use"],
        [T.certMap]: ["certificatemanager.certmaps.create", "certificatemanager.certmaps.use"],
        [T.mapEntry]: ["certificatemanager.certmapentries.create", "certificatemanager.certmapentries.update", "certificatemanager.certs.use"],
        [T.dnsAuth]: ["certificatemanager.dnsauthorizations.create"],
        [T.issuance]: ["certificatemanager.certissuanceconfigs.create"],
        [T.recordSet]: ["dns.changes.create", "dns.resourceRecordSets.create"],
        [T.uptime]: ["monitoring.uptimeCheckConfigs.create"],
        [T.alert]: ["monitoring.alertPolicies.create"],
    };
    const alsoCalled = ["compute.images.getFromFamily", "secretmanager.versions.access"];
    const role = readFileSync(new URL("../../../components/gcp/deploy-role.yaml", import.meta.url), "utf8");
    const granted = new Set([...role.matchAll(/^ {2}- ([a-z]+\.[A-Za-z]+\.[A-Za-z]+)$/gm)].map((m) => m[1]!));

    it("grants every permission a deploy needs, for every GCP resource type it registers (DNS zone and CA pool included)", async () => {
        freshProject();
        const caPool = `projects/${project}/locations/europe-west1/caPools/orders-internal`;
        const runs = [await deploy(1), await deploy(2, spec, "deploy-role-ca", "test", { ...gcpArgs, caPool, caRootPem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" })];
        const types = [...new Set(runs.flat().filter((r) => r.type.startsWith("gcp:")).map((r) => r.type))];
        assert.deepEqual(types.filter((t) => !createdBy[t]), [], "a resource type the role table does not know: add what creating it needs, and grant it");
        const missing = [...types.flatMap((t) => createdBy[t]!), ...alsoCalled].filter((p) => !granted.has(p));
        assert.deepEqual(missing, [], "the deploy role lacks these");
    });
});

describe("gcp target: a consumer's dependsOn on the component", () => {
    it("waits for every child the changeover registers (the component works in initialize())", async () => {
        freshProject();
        assertDependsOnWaitsForChildren(await deploy(1, spec, "deploy-consumer", "test", gcpArgs, true), "consumer");
    });
});

describe("gcp target: what its dynamic resources do in the engine", () => {
    it("mints a fresh credential on each create, and replaces (never updates) it only with its generation", async () => {
        const built = { api: "orders", generation: "g111111", previous: "cred-live" };
        const a = await credentialProvider.create(built);
        const b = await credentialProvider.create(built);
        const value = (r: { outs?: Record<string, unknown> }) => String(r.outs?.["value"]);
        assert.match(value(a), /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
        assert.notEqual(value(a), value(b));
        assert.equal((a.outs as Record<string, unknown>)["previous"], "cred-live", "the credential callers held when it was built");
        // `pinned`: the stable secret now names this generation's own credential; the generation must not follow it.
        assert.deepEqual(await credentialProvider.diff!("id", a.outs, { ...built, previous: value(a) }), { changes: false, replaces: [], deleteBeforeReplace: false });
        assert.deepEqual(await credentialProvider.diff!("id", a.outs, { ...built, generation: "g222222" }), {
            changes: true,
            replaces: ["generation"],
            deleteBeforeReplace: false,
        });
    });

    it("holds a retiring generation for waitSeconds before its backend service may go", async () => {
        const started = performance.now();
        await retirementProvider.delete!("id", { api: "orders", generation: "g111111", backendService: "b", waitSeconds: 0.3 });
        assert.ok(performance.now() - started >= 290, "the delete waited");
    });
});

describe("gcp target: the example stack", () => {
    it("stacks/Pulumi.gcp-example.yaml passes the same validation the program runs", () => {
        const stack = { config: readExampleStack("Pulumi.gcp-example.yaml") };
        assert.equal(stack.config["repave:target"], "gcp");
        const specs = parseApiSpecs(stack.config["repave:apis"]);
        const args = parseGcpConfig(stack.config["repave:gcp"], specs);
        assert.deepEqual(Object.keys(args), specs.map((s) => s.name));
    });
});

describe("gcp target: bad config is refused before anything is registered (I7)", () => {
    it("lists every problem in repave:gcp by path, with hints", () => {
        const specs = parseApiSpecs([specInput, { ...specInput, name: "billing", certificate: { domains: ["billing.example.com"] } }]);
        let error: unknown;
        try {
            parseGcpConfig(
                {
                    orders: { project: "Orders Prod", region: "europe-west1", testPort: 443, sslPolicyProfile: "COMPATIBLE", zone: "b", caPool: `projects/${project}/locations/europe-west1/caPools/p` },
                    invoices: { project, region: "europe-west1" },
                },
                specs,
            );
        } catch (err) {
            error = err;
        }
        assert.ok(error instanceof SpecError, String(error));
        const text = error.problems.join("\n");
        assert.match(text, /repave:gcp\.orders\.project: must be a GCP project id .*hint: write the project id/);
        assert.match(text, /repave:gcp\.orders\.testPort: must differ from 443, .*hint/);
        assert.match(text, /repave:gcp\.orders\.sslPolicyProfile: .*hint: choose MODERN/);
        assert.match(text, /repave:gcp\.orders\.caRootPem: is required with caPool/);
        assert.match(text, /repave:gcp\.orders: .*remove zone/);
        assert.match(text, /repave:gcp\.billing: missing \(hint: add project and region for billing\)/);
        assert.match(text, /repave:gcp\.invoices: no API named invoices in repave:apis/);
        assert.match(error.message, /nothing was changed/);
    });

    it("refuses specs the GCP target cannot serve, naming each field", () => {
        const bad = parseApiSpecs([
            {
                name: "orders",
                image: { source: "container", repository: "ghcr.io/acme/orders" },
                certificate: { domains: ["*.example.com", "localhost"] },
                probes: { positive: [{ name: "put", method: "PUT", path: "/v1/x", expectStatus: 200 }] },
            },
        ]);
        let error: unknown;
        try {
            parseGcpConfig({ orders: gcpArgs }, bad);
        } catch (err) {
            error = err;
        }
        assert.ok(error instanceof SpecError);
        const text = error.problems.join("\n");
        assert.match(text, /repave:apis\[0\]\.image\.source: the gcp target boots Compute Engine images, not container/);
        assert.match(text, /repave:apis\[0\]\.certificate\.domains\[0\]: Google-managed certificates cannot cover a wildcard/);
        assert.match(text, /repave:apis\[0\]\.certificate\.domains\[1\]: localhost is not a public DNS name/);
        assert.match(text, /repave:apis\[0\]\.probes\.positive\[0\]\.method: the uptime check .* not PUT/);
    });

    it("the component itself throws before registering anything, itself included", async () => {
        let error: unknown;
        const registered = await runWithMocks(() => {
            try {
                new StatelessApi("orders", { spec, gcp: { project, region: "Europe West", machineType: "E2 Small" } });
            } catch (err) {
                error = err;
            }
        });
        assert.ok(error instanceof SpecError, String(error));
        assert.match(error.message, /orders\.gcp\.region: must be a GCP region/);
        assert.match(error.message, /orders\.gcp\.machineType: must be a machine type/);
        assert.deepEqual(registered, [], "no resource was registered");
    });
});
