// The local CA rotates with overlap: the trust bundle clients hold names the signing CA and its successor, so a
// client that refreshed its bundle within the last period trusts every leaf served after the next rotation too.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { caRotationDue, createCa, rotateCa } from "../../components/local/changeover.ts";
import { issueServerCertificate } from "../../components/local/pki.ts";

const certsOf = (bundle: string) => (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
const trusts = (bundle: string, leafPem: string) => {
    const leaf = new X509Certificate(leafPem);
    return certsOf(bundle).some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
};

describe("local CA rotation", () => {
    const inputs = { commonName: "repave local CA (test)", rotationSeconds: 30 * 86_400 };

    it("publishes the next CA a period before it signs; a client's bundle from one period ago still verifies", async () => {
        const first = await createCa(inputs);
        assert.equal(certsOf(first.certPem).length, 2, "the bundle holds the signing CA and the next");
        const leaf1 = await issueServerCertificate({ certPem: first.signingCertPem, keyPem: first.keyPem }, ["localhost"], 7);
        assert.ok(trusts(first.certPem, leaf1.certPem));

        const second = await rotateCa(first, inputs);
        assert.equal(second.signingCertPem, first.next.certPem, "the published successor now signs");
        const leaf2 = await issueServerCertificate({ certPem: second.signingCertPem, keyPem: second.keyPem }, ["localhost"], 7);
        assert.ok(trusts(first.certPem, leaf2.certPem), "a client holding the previous bundle trusts the new leaves");
        assert.ok(trusts(second.certPem, leaf2.certPem));

        const third = await rotateCa(second, inputs);
        const leaf3 = await issueServerCertificate({ certPem: third.signingCertPem, keyPem: third.keyPem }, ["localhost"], 7);
        assert.ok(!trusts(first.certPem, leaf3.certPem), "a bundle two periods old is no longer enough");
        assert.ok(!trusts(third.certPem, leaf1.certPem), "the retired CA leaves the bundle");
        assert.match(new X509Certificate(third.next.certPem).subject, /repave local CA \(test\) 4/);
    });

    it("is due after its period, and at once for a CA from before rotation existed", () => {
        const rotatedAt = new Date(Date.now() - 31 * 86_400_000).toISOString();
        assert.equal(caRotationDue({ next: { certPem: "", keyPem: "", serial: "", notAfter: "" }, rotatedAt }, inputs), true);
        assert.equal(caRotationDue({ next: { certPem: "", keyPem: "", serial: "", notAfter: "" }, rotatedAt: new Date().toISOString() }, inputs), false);
        assert.equal(caRotationDue({}, inputs), true, "a single pre-rotation CA gets its successor published");
    });

    it("adopts a CA from before rotation: it signs one more period while its successor is published", async () => {
        const legacy = await createCa(inputs);
        const old = { commonName: inputs.commonName, certPem: legacy.signingCertPem, keyPem: legacy.keyPem, serial: legacy.serial, notAfter: legacy.notAfter };
        const adopted = await rotateCa(old, inputs);
        assert.equal(adopted.signingCertPem, legacy.signingCertPem);
        const leaf = await issueServerCertificate({ certPem: adopted.signingCertPem, keyPem: adopted.keyPem }, ["localhost"], 7);
        assert.ok(trusts(old.certPem, leaf.certPem), "clients holding the old single-CA ca.pem keep working");
    });
});
