// repave:gcp:StatelessApi - the GCP target: Compute Engine instances behind a global external Application Load
// Balancer, repaved by red/green changeover on every deploy. The model (spec, generation identity, probes, gate,
// ordering rules) is shared (components/changeover.ts); this file wires the GCP roles in changeover order:
//
//   1 image       newest image of the family, pinned by self-link                 image.ts
//   2 front door  static address, TLS policy, firewall: stable                   frontdoor.ts
//                 DNS authorizations (+ CNAMEs) or CA pool issuance: stable       certificates.ts
//   - credential  the API's stable secret: callers use its latest version         credential.ts
//   3 generation  account, credential + secrets, template, MIG, backend, cert     generation.ts
//   4 test route  test URL map + certificate map entry -> candidate, testPort      frontdoor.ts
//   5 gate        ProbeGate: positive + negative probes on the test listener       ../gate.ts
//   6 switch      production URL map + certificate map entry -> gated generation   frontdoor.ts
//   - bake        production probed for keepWarmSeconds, the old generation warm;   ../bake.ts
//                 a failure points the URL map back at it and fails the update
//   7 promote     a new version of the stable secret: callers move to the new one   credential.ts
//   8 monitor     uptime check + alert on the production name, with that credential monitor.ts
//   9 retire      the engine deletes the old generation after the update; its Retirement waits first
import * as pulumi from "@pulumi/pulumi";
import { Bake } from "../bake.ts";
import { AfterSwitch, CIDR, RunnerAccess, warnProblems } from "../temporary-access.ts";
import { beginChangeover, InitializeHandoff, protectFrontDoor } from "../changeover.ts";
import { ProbeGate, scanInputs } from "../gate.ts";
import { SpecError, type StatelessApiSpec } from "../spec.ts";
import { checkGcpArgs, generationShapeOf, type GcpArgs, type GcpArgsInput } from "./config.ts";
import { createCertificateAuthority } from "./certificates.ts";
import { createFrontDoor, createProductionRoute, createTestRoute, RUNNER_RULE_PRIORITY } from "./frontdoor.ts";
import { createCredentialStore, graceCredential, promoteCredential, readLiveCredential } from "./credential.ts";
import { createGeneration, gcpLabels } from "./generation.ts";
import { latestImageOfFamily } from "./image.ts";
import { createMonitor } from "./monitor.ts";

export type { GcpArgs, GcpArgsInput } from "./config.ts";
export { parseGcpConfig } from "./config.ts";

export interface StatelessApiArgs {
    /** The validated spec (components/spec.ts); `image.source` must be `gcp-image-family`. */
    readonly spec: StatelessApiSpec;
    /** GCP settings (components/gcp/config.ts): project and region at least. Validated before anything registers. */
    readonly gcp: GcpArgsInput;
    /** Identifies this deploy (default: REPAVE_DEPLOY_ID, else the time): `every-deploy` repaves once per id. */
    readonly deployId?: string;
    /**
     * Protect the front door (load balancer, address, listeners, maps, DNS, stable secret, monitor) from deletion
     * and replacement, for production stacks. Generations stay unprotected, so repaves go on; a component-level
     * `protect` would block them.
     */
    readonly protectFrontDoor?: boolean;
}

interface Facts {
    url: string;
    testUrl: string;
    address: pulumi.Output<string>;
    generation: pulumi.Output<string>;
    imageId: string;
    imageName: string;
    imageCreatedAt: string;
    certificate: pulumi.Output<string>;
    certNotAfter: string | undefined;
    dnsAuthorizationRecords: pulumi.Output<{ name: string; type: string; data: string }[]>;
    credentialCreatedAt: pulumi.Output<string>;
    credential: pulumi.Output<string>;
    uptimeCheckId: pulumi.Output<string>;
}

/** Checks spec and args together; every problem by path, before any resource is registered (I7). */
function validate(name: string, args: StatelessApiArgs): GcpArgs {
    const checked = checkGcpArgs(args.spec, args.gcp, { spec: `${name}.spec`, args: `${name}.gcp` });
    // An alert nobody receives is no monitor: a protected (production) front door must name who is told; any other
    // stack is reminded on every deploy.
    if (checked.args && checked.args.notificationChannels.length === 0) {
        if (args.protectFrontDoor) {
            checked.problems.push(`${name}.gcp.notificationChannels: empty on a protected front door: the production probe's alert would notify nobody (hint: list channel ids from \`gcloud beta monitoring channels list\`)`);
        } else {
            void pulumi.log.warn(`${name}.gcp.notificationChannels is empty: the alert policy on the production probe notifies nobody`);
        }
    }
    if (checked.problems.length > 0 || !checked.args) throw new SpecError(checked.problems);
    return checked.args;
}

const handoff = new InitializeHandoff<{ name: string; spec: StatelessApiSpec; target: GcpArgs; deployId: string | undefined; protect: boolean }>();

export class StatelessApi extends pulumi.ComponentResource<Facts> {
    /** Production URL: the first certificate domain on 443 (point its DNS A record at `address`). */
    declare readonly url: pulumi.Output<string>;
    /** Test listener URL: the candidate answers here before it takes traffic. */
    declare readonly testUrl: pulumi.Output<string>;
    /** The global static address both listeners use (stable across repaves). */
    declare readonly address: pulumi.Output<string>;
    /** The generation serving production after this update (the one the gate passed). */
    declare readonly generation: pulumi.Output<string>;
    /** The pinned image's self-link. */
    declare readonly imageId: pulumi.Output<string>;
    declare readonly imageName: pulumi.Output<string>;
    declare readonly imageCreatedAt: pulumi.Output<string>;
    /** Name of the generation's Certificate Manager certificate. */
    declare readonly certificate: pulumi.Output<string>;
    /** Not reported: Certificate Manager exposes no expiry for a managed certificate (Google renews it). */
    declare readonly certNotAfter: pulumi.Output<string | undefined>;
    /** The CNAME records the DNS authorizations need (created for you when `dnsZone` is set). */
    declare readonly dnsAuthorizationRecords: pulumi.Output<{ name: string; type: string; data: string }[]>;
    declare readonly credentialCreatedAt: pulumi.Output<string>;
    /** Secret: the live generation's bearer credential, for callers of the API. */
    declare readonly credential: pulumi.Output<string>;
    declare readonly uptimeCheckId: pulumi.Output<string>;

    constructor(name: string, args: StatelessApiArgs, opts?: pulumi.ComponentResourceOptions) {
        const target = validate(name, args);
        handoff.put({ name, spec: args.spec, target, deployId: args.deployId, protect: args.protectFrontDoor === true });
        super("repave:gcp:StatelessApi", name, {}, opts);

        // The image lookup is an invoke (a promise), and the generation id depends on it: the roles are wired in
        // initialize(), once it resolved, and a consumer's dependsOn on this component waits for all of them.
        // Invokes run in previews too, so a preview shows the same generation a deploy would build.
        const facts = this.getData();
        const fact = <K extends keyof Facts>(key: K) => pulumi.output(facts.then((f) => f[key])) as pulumi.Output<pulumi.Unwrap<Facts[K]>>;

        this.url = fact("url");
        this.testUrl = fact("testUrl");
        this.address = fact("address");
        this.generation = fact("generation");
        this.imageId = fact("imageId");
        this.imageName = fact("imageName");
        this.imageCreatedAt = fact("imageCreatedAt");
        this.certificate = fact("certificate");
        this.certNotAfter = fact("certNotAfter");
        this.dnsAuthorizationRecords = fact("dnsAuthorizationRecords");
        this.credentialCreatedAt = fact("credentialCreatedAt");
        this.credential = pulumi.secret(fact("credential"));
        this.uptimeCheckId = fact("uptimeCheckId");
        this.registerOutputs({
            url: this.url,
            testUrl: this.testUrl,
            address: this.address,
            generation: this.generation,
            imageId: this.imageId,
            imageName: this.imageName,
            imageCreatedAt: this.imageCreatedAt,
            certificate: this.certificate,
            certNotAfter: this.certNotAfter,
            dnsAuthorizationRecords: this.dnsAuthorizationRecords,
            credentialCreatedAt: this.credentialCreatedAt,
            uptimeCheckId: this.uptimeCheckId,
        });
    }

    protected override async initialize(): Promise<Facts> {
        const { name, spec, target, deployId, protect } = handoff.take();
        if (protect) protectFrontDoor(this);
        return this.changeover(name, spec, target, deployId);
    }

    private async changeover(name: string, spec: StatelessApiSpec, target: GcpArgs, deployId: string | undefined): Promise<Facts> {
        if (spec.image.source !== "gcp-image-family") throw new Error("unreachable: validated above");

        // 1. Resolve the newest image of the family and pin it: the generation id is derived from it.
        const image = await latestImageOfFamily(spec.image.family, spec.image.project, { parent: this }, spec.image.pinned);
        const changeover = beginChangeover(spec, image.selfLink, { deployId, scoped: true, shape: generationShapeOf(spec, target) });

        // 2. Front door: created once, unchanged by a repave (I4).
        const frontDoor = createFrontDoor(name, this, changeover, target);
        // What proves the domains, once: every generation's certificate is issued before any proxy serves it.
        const authority = createCertificateAuthority(name, this, changeover, target);

        // The credential callers hold now (the stable secret's latest version), read before anything changes: the
        // candidate accepts it too, so nobody is cut off at the switch (components/changeover.ts, LiveCredential).
        const { ["repave:generation"]: _generation, ...stable } = changeover.tags;
        const store = createCredentialStore(name, this, changeover, target.project, gcpLabels(stable));
        const live = await readLiveCredential(target.project, changeover.stableName("credential"), { parent: this });

        // 3. The candidate generation beside the live one (create-before-delete: the live one is untouched, I1).
        const candidate = createGeneration(name, this, changeover, target, image, live, authority, frontDoor.testAllowList);

        // 4. The test route moves to the candidate; production does not.
        const testRoute = createTestRoute(name, this, changeover, target, frontDoor, candidate);

        // 5. Gate: health and synthetic transactions, positive and negative, through the test listener. It waits
        //    for the instance group to be stable and its secret to be readable; it retries while the load balancer
        //    and the new certificate settle, and fails the update (traffic stays on live) if they never pass (I2, I3).
        const domain = spec.certificate.domains[0]!;
        // The runner reaches the test listener through a Cloud Armor rule for its current address, added here and
        // removed after the switch (gcloud compute security-policies rules create/delete: the policy's other
        // rules are the program's). Hosted runners have no stable address to allow-list.
        const policy = frontDoor.testAllowList.name;
        const runnerRule = (verb: "create" | "delete") =>
            policy.apply((p) => [
                "gcloud", "compute", "security-policies", "rules", verb, String(RUNNER_RULE_PRIORITY), `--security-policy=${p}`, `--project=${target.project}`,
                ...(verb === "create" ? [`--src-ip-ranges=${CIDR}`, "--action=allow", "--description=repave-gate-runner"] : ["--quiet"]),
            ]);
        // What the API answers for a rule that is there already (a retry) or gone already: no failure.
        const alreadyDone = ["already exists", "does not exist", "was not found"];
        const access = target.gateFromRunner
            ? new RunnerAccess(`${name}-gate-access`, { api: spec.name, generation: changeover.identity.id, open: runnerRule("create"), close: runnerRule("delete"), alreadyDone }, { parent: this })
            : undefined;
        const gateInputs = {
            api: spec.name,
            generation: changeover.identity.id,
            host: frontDoor.address.address,
            port: target.testPort,
            serverName: domain,
            // A private CA's root with `caPool` (callers trust it the same way); public roots otherwise.
            caPem: target.caRootPem ?? null,
            probes: { positive: spec.probes.positive, negative: spec.probes.negative },
            settleSeconds: target.gateSettleSeconds,
            ...scanInputs(spec, image.selfLink),
        };
        const gateOpts = {
            parent: this,
            dependsOn: [
                testRoute.listener,
                testRoute.proxy,
                testRoute.urlMap,
                testRoute.certificates.entry,
                candidate.certificate,
                candidate.group,
                candidate.backend,
                candidate.secretVersion,
                candidate.secretAccess,
                candidate.previousVersion,
                candidate.previousAccess,
                ...(access ? [access] : []),
            ],
        };
        const gate = new ProbeGate(`${name}-gate`, { ...gateInputs, credential: pulumi.secret(candidate.credential.value) }, gateOpts);
        // Callers still hold the live credential: the candidate must serve them too, proven before the switch (the
        // pinned previous one, or its own on a first generation: this gate exists on every deploy).
        const grace = new ProbeGate(`${name}-gate-grace`, { ...gateInputs, credential: graceCredential(candidate.credential) }, gateOpts);

        // 6. Switch: production URL map and certificate move to the generation both gates passed.
        const production = createProductionRoute(name, this, changeover, target, frontDoor, candidate, gate, grace);

        // Bake: production is probed for keepWarmSeconds while the old generation's backend is still there and warm
        // (the engine deletes it only after a successful update). A failure points the production URL map back at
        // the old backend service - `gcloud compute url-maps set-default-service`, the same urlMaps call the
        // provider makes - and fails the update: no promotion, no retirement. The old certificate need not come
        // back: the new one covers the same names and stays on the map entry.
        const bake = new Bake(
            `${name}-bake`,
            {
                api: spec.name,
                generation: gate.generation,
                host: frontDoor.address.address,
                port: 443,
                serverName: domain,
                caPem: target.caRootPem ?? null,
                credential: pulumi.secret(candidate.credential.value),
                probes: { positive: spec.probes.positive, negative: spec.probes.negative },
                keepWarmSeconds: spec.keepWarmSeconds,
                intervalSeconds: spec.probes.intervalSeconds,
                // Google front ends pick up a URL map change over a minute or two (the retirement waits as long).
                settleSeconds: target.propagationSeconds,
                route: pulumi
                    .all([production.urlMap.name, candidate.backend.selfLink])
                    .apply(([urlMap, backend]) => ["gcloud", "compute", "url-maps", "set-default-service", urlMap, `--default-service=${backend}`, "--global", `--project=${target.project}`]),
            },
            { parent: this, dependsOn: [production.urlMap, production.proxy, production.certificates.entry] },
        );

        // After the bake the runner's address leaves the allow-list again; what cannot be done is a warning.
        if (access) {
            const after = new AfterSwitch(
                `${name}-after-switch`,
                { api: spec.name, generation: changeover.identity.id, commands: access.close.apply((c) => [c]), cidr: access.cidr, alreadyDone },
                { parent: this, dependsOn: [bake] },
            );
            warnProblems(after, spec.name, this);
        }

        // 7. Promote: production accepts both credentials now and has baked; the stable secret's latest moves.
        const promotion = promoteCredential(name, this, changeover, store, candidate.credential, [bake]);

        // 8. Continuous monitor on production with what callers use. The uptime check holds the credential in its
        //    settings, so it is updated after the promotion; until then it sends the live one, which the new
        //    generation accepts too: no alarm at the switch.
        const monitor = createMonitor(name, this, changeover, target, candidate.credential.value, [promotion]);

        // 9. Retire: nothing to write. The old generation is a pending delete the engine runs after this update
        //    succeeded; its Retirement waits for propagation and drain before its backend and instances go.
        return {
            url: `https://${domain}`,
            testUrl: `https://${domain}:${target.testPort}`,
            address: frontDoor.address.address,
            generation: bake.generation,
            imageId: image.selfLink,
            imageName: image.name,
            imageCreatedAt: image.createdAt,
            certificate: candidate.certificate.name,
            certNotAfter: undefined,
            dnsAuthorizationRecords: authority.records,
            credentialCreatedAt: candidate.credential.createdAt,
            credential: candidate.credential.value,
            uptimeCheckId: monitor.uptimeCheck.uptimeCheckId,
        };
    }
}
