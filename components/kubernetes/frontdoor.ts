// The Kubernetes front door: a production Service, a preview Service (the test route) and optionally an Ingress.
// They keep their names on every deploy (I4); what moves is the selector (and the Ingress's TLS Secret): the
// preview Service's to the candidate before the gate, the production Service's and the Ingress's to the gated
// generation in the switch. A selector change is an in-place update: no Service, address or DNS name is replaced.
import * as kubernetes from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorOptions, switchOptions, type Changeover } from "../changeover.ts";
import type { KubernetesArgs } from "./config.ts";
import { labelKeys, type KubernetesGeneration } from "./generation.ts";

const selectorFor = (api: string, generation: pulumi.Input<string>) => ({ [labelKeys.api]: api, [labelKeys.generation]: generation });

/** The test route: selects the candidate. Pulumi waits for a selector Service to have ready endpoints. */
export function createPreviewService(name: string, parent: pulumi.Resource, changeover: Changeover, target: KubernetesArgs, candidate: KubernetesGeneration): kubernetes.core.v1.Service {
    return new kubernetes.core.v1.Service(
        `${name}-preview-service`,
        {
            metadata: {
                name: changeover.stableName("preview"),
                namespace: target.namespace,
                labels: { [labelKeys.api]: changeover.spec.name },
                annotations: { "repave.dev/candidate": changeover.identity.id },
            },
            spec: {
                type: target.previewServiceType,
                selector: selectorFor(changeover.spec.name, changeover.identity.id),
                ports: [{ name: "https", port: target.servicePort, targetPort: "https" }],
            },
        },
        frontDoorOptions(parent, { dependsOn: [candidate.deployment] }),
    );
}

export interface ProductionRoute {
    service: kubernetes.core.v1.Service;
    ingress?: kubernetes.networking.v1.Ingress;
}

/**
 * The switch: the production Service's selector moves to the generation the gates passed (its own credential and
 * the one callers still hold), and the Ingress's TLS Secret with it. Both take the gated generation as an input (ordering by data, I2) and refuse any generation but
 * the candidate; the old generation's pods and Secrets still exist until the engine deletes them after the update.
 */
export function createProductionRoute(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: KubernetesArgs,
    candidate: KubernetesGeneration,
    gatePassed: pulumi.Output<string>,
    gates: pulumi.Resource[],
    previousGeneration: pulumi.Output<string | null>,
): ProductionRoute {
    const { spec, identity } = changeover;
    const gated = gatePassed.apply((generation) => {
        if (generation !== identity.id) {
            throw new Error(`switch: the gate passed ${generation}, not the candidate ${identity.id}; traffic stays where it is`);
        }
        return generation;
    });
    const service = new kubernetes.core.v1.Service(
        `${name}-service`,
        {
            metadata: {
                name: changeover.stableName(),
                namespace: target.namespace,
                labels: { [labelKeys.api]: spec.name },
                annotations: {
                    "repave.dev/gate-passed": gated,
                    // Where a failed bake switches production back to (the generation it served before this switch).
                    "repave.dev/previous-generation": previousGeneration.apply((g) => g ?? ""),
                    // The provider's Service await sleeps 10 s after every endpoints change ("settle",
                    // pulumi-kubernetes pkg/await/service.go) - 10 s of every repave for nothing here: the selected
                    // pods are Ready (the Deployment's await) and gated, the bake Job then proves production, and the
                    // old pods keep serving through their preStop drain after the engine deletes them, which covers
                    // kube-proxy's resync (I6). The preview Service keeps its await: a gate must not probe the
                    // generation the preview selected before.
                    "pulumi.com/skipAwait": "true",
                    // A failed bake moves the selector back with a patch of its own (field manager repave-bake), which
                    // then owns that field: the next switch must take it back, not fail on the conflict (the provider
                    // applies without force by default).
                    "pulumi.com/patchForce": "true",
                },
            },
            spec: {
                type: target.serviceType,
                selector: selectorFor(spec.name, gated),
                ports: [{ name: "https", port: target.servicePort, targetPort: "https" }],
            },
        },
        switchOptions(parent, gates[0]!, { dependsOn: gates.slice(1) }),
    );
    if (!target.ingress) return { service };

    const ingress = new kubernetes.networking.v1.Ingress(
        `${name}-ingress`,
        {
            metadata: {
                name: changeover.stableName(),
                namespace: target.namespace,
                labels: { [labelKeys.api]: spec.name },
                annotations: { ...target.ingress.annotations, "repave.dev/gate-passed": gated },
            },
            spec: {
                ...(target.ingress.className ? { ingressClassName: target.ingress.className } : {}),
                // The TLS Secret is per generation: it moves here, in the switch, with the selector.
                tls: [{ hosts: spec.certificate.domains, secretName: pulumi.all([gated, candidate.tlsSecretName]).apply(([, secret]) => secret) }],
                rules: spec.certificate.domains.map((host) => ({
                    host,
                    http: {
                        paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "https" } } } }],
                    },
                })),
            },
        },
        switchOptions(parent, gates[0]!, { dependsOn: gates.slice(1) }),
    );
    return { service, ingress };
}
