// When Google issues a managed certificate, kept across the mocked deploys of one test, so a test can ask whether
// the certificate a listener serves is ACTIVE when the gate handshakes with it. Each rule names its source:
//
//   - A compute ManagedSslCertificate is authorized through the load balancer: it stays PROVISIONING until a
//     target HTTPS proxy that serves it is behind a forwarding rule on port 443 (and DNS points at its address)
//     (Compute docs, "Use Google-managed SSL certificates": "the load balancer's target proxy must reference the
//     certificate ... forwarding rule ... port 443"; Certificate Manager docs, "Domain authorization": load balancer
//     authorization "provisions the certificate only after the load balancer is fully set up and serving traffic").
//     A candidate's certificate, served on the test listener only until the gate passed, is never ACTIVE there.
//   - A certificatemanager.Certificate with dnsAuthorizations is ACTIVE once every authorization's CNAME record is
//     in DNS, whether or not anything serves it (Certificate Manager docs, "Domain authorization": DNS
//     authorization "lets you provision the certificate before the load balancer is set up").
//   - One with an issuanceConfig (a CA Service pool) is issued by that CA: no domain proof, ACTIVE at once
//     (Certificate Manager docs, "Deploy a Google-managed certificate with a private CA").
//   - A DNS authorization's record is `_acme-challenge_<x>.<domain>.` CNAME `<...>.authorize.certificatemanager.goog.`
//     for PER_PROJECT_RECORD (Certificate Manager REST reference, dnsAuthorizations: DnsResourceRecord), the same for
//     the authorization's whole life.
import { createHash } from "node:crypto";

export type CertificateState = "ACTIVE" | "PROVISIONING";

export class FakeCertificateIssuer {
    /** Cloud DNS: CNAME name -> data. */
    private readonly dns = new Map<string, string>();
    /** DNS authorizations by id: the record each needs. */
    private readonly authorizations = new Map<string, { name: string; data: string }>();
    /** Certificate Manager certificates by id. */
    private readonly certificates = new Map<string, { dnsAuthorizations: string[]; issuanceConfig: string | undefined }>();
    /** compute ManagedSslCertificates (self-links) a proxy behind a 443 forwarding rule serves. */
    private readonly servedOn443 = new Set<string>();

    authorize(id: string, domain: string): { name: string; type: string; data: string } {
        const x = createHash("sha256").update(id).digest("hex");
        const record = { name: `_acme-challenge_${x.slice(0, 8)}.${domain}.`, data: `${x.slice(8, 44)}.7.authorize.certificatemanager.goog.` };
        this.authorizations.set(id, record);
        return { ...record, type: "CNAME" };
    }

    /** A CNAME added to DNS: by a Cloud DNS RecordSet, or by hand (a user following the printed records). */
    addRecord(name: string, data: string): void {
        this.dns.set(name, data);
    }

    /** The records an authorization needs, as the user would copy them. */
    recordOf(id: string): { name: string; data: string } | undefined {
        return this.authorizations.get(id);
    }

    issue(id: string, managed: { dnsAuthorizations?: string[]; issuanceConfig?: string }): void {
        this.certificates.set(id, { dnsAuthorizations: managed.dnsAuthorizations ?? [], issuanceConfig: managed.issuanceConfig });
    }

    /** A forwarding rule on 443 now routes to a proxy that serves these compute certificates. */
    serveOn443(sslCertificates: readonly string[]): void {
        for (const link of sslCertificates) this.servedOn443.add(link);
    }

    /** The state of a certificate by what a proxy or map entry names: a compute self-link or a Certificate Manager id. */
    state(reference: string): CertificateState {
        const managed = this.certificates.get(reference);
        if (managed) {
            if (managed.issuanceConfig) return "ACTIVE";
            const proven = managed.dnsAuthorizations.every((a) => {
                const record = this.authorizations.get(a);
                return record !== undefined && this.dns.get(record.name) === record.data;
            });
            return managed.dnsAuthorizations.length > 0 && proven ? "ACTIVE" : "PROVISIONING";
        }
        return this.servedOn443.has(reference) ? "ACTIVE" : "PROVISIONING";
    }
}
