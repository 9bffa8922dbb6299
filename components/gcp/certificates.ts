// Certificates on GCP: Certificate Manager, not compute ManagedSslCertificate.
//
// A compute ManagedSslCertificate is authorized through the load balancer: Google issues it only once a proxy that
// serves it answers for the domain on 443, which a candidate's certificate - served on the test listener only,
// before the gate - never is, so a first deploy's gate waited out `gateSettleSeconds` and failed (issue #13).
// Certificate Manager with DNS authorization proves the domain by a CNAME record instead, so a certificate is
// issued before any proxy serves it:
//
//   front door   one DnsAuthorization per domain (stable), and its CNAME record in Cloud DNS when `dnsZone` is
//                set (printed otherwise, for your DNS); or, with `caPool`, one CertificateIssuanceConfig
//   generation   one certificatemanager.Certificate per generation (managed: domains + those authorizations)
//   test route   the test certificate map's PRIMARY entry -> the candidate's certificate, before the gate
//   switch       the production certificate map's PRIMARY entry -> the gated generation's certificate
//
// Both maps and their entries keep their names; an entry's `certificates` is updated in place (PATCH with an update
// mask: terraform-provider-google resource_certificate_manager_certificate_map_entry.go; `hostname`, `matcher`
// and `map` are ForceNew). The old generation's certificate is deleted after the update, when no entry names it.
import { createHash } from "node:crypto";
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorOptions, generationOptions, namedFrontDoorOptions, switchOptions, type Changeover } from "../changeover.ts";
import type { ProbeGate } from "../gate.ts";
import type { GcpArgs } from "./config.ts";

/** What proves the domains for every generation's certificate: DNS authorizations (public) or a CA pool (private). */
export interface CertificateAuthority {
    /** Public certificates: one authorization per domain, in `spec.certificate.domains` order. Empty with a CA pool. */
    dnsAuthorizations: gcp.certificatemanager.DnsAuthorization[];
    /** The CNAME records each authorization needs, created in Cloud DNS when `dnsZone` is set. */
    dnsRecords: gcp.dns.RecordSet[];
    /** Private certificates from a CA Service pool. */
    issuanceConfig: gcp.certificatemanager.CertificateIssuanceConfig | undefined;
    /** `name -> data` of every CNAME the authorizations need: what to add to your DNS without a `dnsZone`. */
    records: pulumi.Output<{ name: string; type: string; data: string }[]>;
}

export interface CertificateMapRoute {
    map: gcp.certificatemanager.CertificateMap;
    entry: gcp.certificatemanager.CertificateMapEntry;
    /** What a target HTTPS proxy's `certificateMap` takes (compute API: targetHttpsProxies.certificateMap). */
    reference: pulumi.Output<string>;
}

/** A short, stable key of a domain for physical names (RFC 1035 names cannot hold dots, and domains run long). */
const domainKey = (domain: string): string => createHash("sha256").update(domain).digest("hex").slice(0, 6);

/**
 * Front door: what lets Certificate Manager issue a certificate before any proxy serves it. Stable across repaves:
 * the CNAME a DNS authorization asks for stays the same for the authorization's life, so DNS is set up once.
 */
export function createCertificateAuthority(name: string, parent: pulumi.Resource, changeover: Changeover, target: GcpArgs): CertificateAuthority {
    const project = target.project;
    if (target.caPool) {
        // Private certificates: CA Service issues them, no domain proof; callers must trust the pool's root.
        const issuanceConfig = new gcp.certificatemanager.CertificateIssuanceConfig(
            `${name}-issuance-config`,
            {
                project,
                name: changeover.stableName("issuance"),
                certificateAuthorityConfig: { certificateAuthorityServiceConfig: { caPool: target.caPool } },
                // Certificate Manager's limits (certificateIssuanceConfigs: lifetime 21-30 days; renewal at least 7
                // days after issue and 7 before expiry): 30 days, renewed after 66 % (about 20 days).
                lifetime: "2592000s",
                rotationWindowPercentage: 66,
                keyAlgorithm: "ECDSA_P256",
            },
            namedFrontDoorOptions(parent),
        );
        return { dnsAuthorizations: [], dnsRecords: [], issuanceConfig, records: pulumi.output([]) };
    }
    const dnsAuthorizations = changeover.spec.certificate.domains.map(
        (domain) =>
            new gcp.certificatemanager.DnsAuthorization(
                `${name}-dns-authorization-${domain}`,
                {
                    project,
                    name: changeover.stableName(`auth-${domainKey(domain)}`),
                    domain,
                    // One record per project (`_acme-challenge_<x>.<domain>`): a staging and a production project
                    // can authorize the same domain independently (Certificate Manager docs, "Manage DNS
                    // authorizations": per-project DNS authorization).
                    type: "PER_PROJECT_RECORD",
                    description: `repave ${changeover.spec.name}: proves ${domain} for every generation's certificate`,
                },
                namedFrontDoorOptions(parent),
            ),
    );
    const records = pulumi.all(dnsAuthorizations.map((a) => a.dnsResourceRecords)).apply((all) => all.flat().map(({ name: n, type, data }) => ({ name: n, type, data })));
    const dnsRecords = target.dnsZone
        ? dnsAuthorizations.map(
              (authorization, i) =>
                  new gcp.dns.RecordSet(
                      `${name}-dns-authorization-record-${changeover.spec.certificate.domains[i]!}`,
                      {
                          project,
                          managedZone: target.dnsZone!,
                          name: authorization.dnsResourceRecords.apply((r) => r[0]!.name),
                          type: authorization.dnsResourceRecords.apply((r) => r[0]!.type),
                          ttl: 300,
                          rrdatas: [authorization.dnsResourceRecords.apply((r) => r[0]!.data)],
                      },
                      frontDoorOptions(parent),
                  ),
          )
        : [];
    if (!target.dnsZone) {
        // Without a zone, DNS is yours: say what to add while the first deploy's gate waits for the certificate.
        records.apply((rs) => {
            if (rs.length === 0) return;
            const lines = rs.map((r) => `${r.name} ${r.type} ${r.data}`).join("; ");
            void pulumi.log.info(`${changeover.spec.name}: certificates are issued once these DNS records exist (set repave:gcp dnsZone to create them): ${lines}`, parent);
        });
    }
    return { dnsAuthorizations, dnsRecords, issuanceConfig: undefined, records };
}

/**
 * The generation's certificate: a new one per generation (I5), Google-managed through the front door's DNS
 * authorizations (or issued by the CA pool). Its create returns once the certificate resource exists, not when it is
 * ACTIVE (terraform-provider-google resource_certificate_manager_certificate.go waits for the create operation
 * only): the gate, which handshakes with it on the test listener, is what waits for issuance.
 */
export function createGenerationCertificate(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    authority: CertificateAuthority,
    labels: Record<string, string>,
): gcp.certificatemanager.Certificate {
    const domains = changeover.spec.certificate.domains;
    const managed = authority.issuanceConfig
        ? { domains, issuanceConfig: authority.issuanceConfig.id }
        : { domains, dnsAuthorizations: authority.dnsAuthorizations.map((a) => a.id) };
    return new gcp.certificatemanager.Certificate(
        `${name}-certificate`,
        { project: target.project, name: changeover.name("cert"), description: `repave ${changeover.spec.name} generation ${changeover.identity.id}`, scope: "DEFAULT", managed, labels },
        generationOptions(parent, changeover, { dependsOn: authority.dnsRecords }),
    );
}

function certificateMap(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    which: "test" | "production",
    certificate: pulumi.Input<string>,
    entryOptions: pulumi.CustomResourceOptions,
): CertificateMapRoute {
    const project = target.project;
    const logical = which === "test" ? `${name}-test-certificate-map` : `${name}-certificate-map`;
    const map = new gcp.certificatemanager.CertificateMap(
        logical,
        { project, name: changeover.stableName(which === "test" ? "test-certs" : "certs"), description: `repave ${changeover.spec.name}: ${which} listener` },
        namedFrontDoorOptions(parent),
    );
    // PRIMARY: served for any SNI the map has no hostname entry for - one entry covers every domain the generation's
    // certificate does. Its `certificates` moves in place; `matcher` and `map` never change (both ForceNew).
    const entry = new gcp.certificatemanager.CertificateMapEntry(
        `${logical}-entry`,
        { project, name: changeover.stableName(which === "test" ? "test-primary" : "primary"), map: map.name, matcher: "PRIMARY", certificates: [certificate] },
        entryOptions,
    );
    // The proxy names the map by its full resource name (compute API, targetHttpsProxies: "Accepted format is
    // //certificatemanager.googleapis.com/projects/{project}/locations/{location}/certificateMaps/{resourceName}").
    return { map, entry, reference: pulumi.interpolate`//certificatemanager.googleapis.com/${map.id}` };
}

/** The test listener's map: its entry moves to the candidate's certificate before the gate. */
export function createTestCertificateMap(name: string, parent: pulumi.Resource, changeover: Changeover, target: GcpArgs, certificate: gcp.certificatemanager.Certificate): CertificateMapRoute {
    return certificateMap(name, parent, changeover, target, "test", certificate.id, namedFrontDoorOptions(parent));
}

/** Production's map: its entry moves to the gated generation's certificate in the switch, never before the gate (I2). */
export function createProductionCertificateMap(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    certificate: pulumi.Input<string>,
    gate: ProbeGate,
    grace: ProbeGate,
): CertificateMapRoute {
    return certificateMap(name, parent, changeover, target, "production", certificate, switchOptions(parent, gate, { dependsOn: [grace], ignoreChanges: ["name"] }));
}
