// The GCP front door: a global external Application Load Balancer (EXTERNAL_MANAGED) on one static address, with a
// production listener on 443 and a test listener on `testPort`. Everything here keeps its logical and physical
// name on every deploy (I4); two parts move in place: the test route before the gate (to the candidate) and the
// production route in the switch (to the gated generation).
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { namedFrontDoorOptions, switchOptions, type Changeover } from "../changeover.ts";
import type { ProbeGate } from "../gate.ts";
import { createProductionCertificateMap, createTestCertificateMap, type CertificateMapRoute } from "./certificates.ts";
import type { GcpArgs } from "./config.ts";
import { loadBalancerSourceRanges, networkTag, type GcpGeneration } from "./generation.ts";

export interface FrontDoor {
    address: gcp.compute.GlobalAddress;
    tlsPolicy: gcp.compute.SSLPolicy;
    firewall: gcp.compute.Firewall;
    /** Cloud Armor on the test backends: `testListenerCidrs` (and, for a gate, the runner) allowed, the rest 403. */
    testAllowList: gcp.compute.SecurityPolicy;
}

/** The priority of the runner's temporary Cloud Armor rule: before the allow-list (1000) and the default deny. */
export const RUNNER_RULE_PRIORITY = 900;

export interface Route {
    urlMap: gcp.compute.URLMap;
    proxy: gcp.compute.TargetHttpsProxy;
    listener: gcp.compute.GlobalForwardingRule;
    /** The listener's certificate map; its entry names the certificate the route serves. */
    certificates: CertificateMapRoute;
}

export function createFrontDoor(name: string, parent: pulumi.Resource, changeover: Changeover, target: GcpArgs): FrontDoor {
    const project = target.project;
    const address = new gcp.compute.GlobalAddress(
        `${name}-address`,
        { project, name: changeover.stableName("ip"), addressType: "EXTERNAL", ipVersion: "IPV4" },
        namedFrontDoorOptions(parent),
    );
    // TLS 1.2 at least on both listeners: the gate's legacy-TLS probe proves it on the test listener.
    const tlsPolicy = new gcp.compute.SSLPolicy(
        `${name}-tls-policy`,
        { project, name: changeover.stableName("tls"), profile: target.sslPolicyProfile, minTlsVersion: "TLS_1_2" },
        namedFrontDoorOptions(parent),
    );
    // Health checkers and Google front ends reach every generation's instances on the API port.
    const firewall = new gcp.compute.Firewall(
        `${name}-allow-load-balancer`,
        {
            project,
            name: changeover.stableName("allow-lb"),
            network: target.network,
            direction: "INGRESS",
            sourceRanges: loadBalancerSourceRanges,
            allows: [{ protocol: "tcp", ports: [String(changeover.spec.port)] }],
            targetTags: [networkTag(changeover.spec.name)],
        },
        namedFrontDoorOptions(parent),
    );
    // The test listener serves every candidate before its gate: nobody but the allow-list reaches it. Cloud Armor
    // acts on a backend service, so each generation's test route has a backend of its own with this policy
    // (generation.ts), while production's backend has none. The last rule (priority 2147483647) is the default one
    // every policy must have (Cloud Armor docs, "Security policy overview": default rule).
    const cidrs = target.testListenerCidrs;
    const testAllowList = new gcp.compute.SecurityPolicy(
        `${name}-test-allow-list`,
        {
            project,
            name: changeover.stableName("test-allow"),
            description: `repave ${changeover.spec.name}: who may reach the test listener`,
            type: "CLOUD_ARMOR",
            rules: [
                ...(cidrs.length > 0
                    ? [{ priority: 1000, action: "allow", description: "testListenerCidrs", match: { versionedExpr: "SRC_IPS_V1", config: { srcIpRanges: cidrs } } }]
                    : []),
                { priority: 2147483647, action: "deny(403)", description: "everyone else", match: { versionedExpr: "SRC_IPS_V1", config: { srcIpRanges: ["*"] } } },
            ],
        },
        namedFrontDoorOptions(parent),
    );
    return { address, tlsPolicy, firewall, testAllowList };
}

function listener(name: string, parent: pulumi.Resource, project: string, physical: string, proxy: gcp.compute.TargetHttpsProxy, address: gcp.compute.GlobalAddress, port: number) {
    return new gcp.compute.GlobalForwardingRule(
        name,
        {
            project,
            name: physical,
            target: proxy.selfLink,
            ipAddress: address.address,
            ipProtocol: "TCP",
            portRange: String(port),
            loadBalancingScheme: "EXTERNAL_MANAGED",
        },
        namedFrontDoorOptions(parent),
    );
}

/**
 * The test route: its own URL map, certificate map and target proxy, pointing at the candidate's backend service and certificate,
 * behind a second forwarding rule on the same address. Updated in place before the gate, so the gate probes the
 * candidate through the same kind of load balancer, TLS policy and certificate production will use.
 */
export function createTestRoute(name: string, parent: pulumi.Resource, changeover: Changeover, target: GcpArgs, frontDoor: FrontDoor, candidate: GcpGeneration): Route {
    const project = target.project;
    const urlMap = new gcp.compute.URLMap(
        `${name}-test-url-map`,
        {
            project,
            name: changeover.stableName("test"),
            description: `repave test route -> candidate ${changeover.identity.id}`,
            defaultService: candidate.testBackend.selfLink,
        },
        namedFrontDoorOptions(parent),
    );
    const certificates = createTestCertificateMap(name, parent, changeover, target, candidate.certificate);
    const proxy = new gcp.compute.TargetHttpsProxy(
        `${name}-test-proxy`,
        {
            project,
            name: changeover.stableName("test"),
            urlMap: urlMap.selfLink,
            certificateMap: certificates.reference,
            sslPolicy: frontDoor.tlsPolicy.selfLink,
        },
        namedFrontDoorOptions(parent),
    );
    return { urlMap, proxy, certificates, listener: listener(`${name}-test-listener`, parent, project, changeover.stableName("test"), proxy, frontDoor.address, target.testPort) };
}

/**
 * The switch: the production URL map's default service and the production certificate map's entry move to the
 * candidate, in place, only after both gates passed it (its own credential, and the one callers still hold). Both
 * take `gate.generation` as an input (ordering by data, I2) and refuse any generation but the candidate. The old certificate and backend are still there (the engine
 * deletes them after the update), so nothing the proxy or URL map uses is ever deleted under it (pulumi/pulumi#6350).
 */
export function createProductionRoute(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    frontDoor: FrontDoor,
    candidate: GcpGeneration,
    gate: ProbeGate,
    grace: ProbeGate,
): Route {
    const project = target.project;
    const gated = pulumi.all([gate.generation, grace.generation]).apply(([generation, graced]) => {
        for (const passed of [generation, graced]) {
            if (passed !== changeover.identity.id) {
                throw new Error(`switch: a gate passed ${passed}, not the candidate ${changeover.identity.id}; traffic stays where it is`);
            }
        }
        return generation;
    });
    const afterGate = <T>(value: pulumi.Input<T>): pulumi.Output<T> => pulumi.all([gated, value]).apply(([, v]) => v as T);

    const urlMap = new gcp.compute.URLMap(
        `${name}-url-map`,
        {
            project,
            name: changeover.stableName(),
            description: pulumi.interpolate`repave production route -> generation ${gated} (gate passed)`,
            defaultService: afterGate(candidate.backend.selfLink),
        },
        switchOptions(parent, gate, { dependsOn: [grace], ignoreChanges: ["name"] }),
    );
    const certificates = createProductionCertificateMap(name, parent, changeover, target, afterGate(candidate.certificate.id), gate, grace);
    // The proxy itself names the map, which never changes: on a stack deployed with compute certificates the first
    // update moves it from `sslCertificates` to the map (the map's entry already names the gated certificate).
    const proxy = new gcp.compute.TargetHttpsProxy(
        `${name}-https-proxy`,
        {
            project,
            name: changeover.stableName("https"),
            urlMap: urlMap.selfLink,
            certificateMap: certificates.reference,
            sslPolicy: frontDoor.tlsPolicy.selfLink,
        },
        switchOptions(parent, gate, { dependsOn: [grace, certificates.entry], ignoreChanges: ["name"] }),
    );
    return { urlMap, proxy, certificates, listener: listener(`${name}-https-listener`, parent, project, changeover.stableName("https"), proxy, frontDoor.address, 443) };
}
