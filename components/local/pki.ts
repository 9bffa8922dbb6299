// The local target's certificate authority: one CA per front door, one leaf certificate per generation.
// X.509 encoding is @peculiar/x509's job; keys come from Node's WebCrypto.
import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface IssuedCertificate {
    certPem: string;
    keyPem: string;
    /** Hex serial number, as `openssl x509 -serial` prints it. */
    serial: string;
    notBefore: string;
    notAfter: string;
}

function serialNumber(): string {
    const bytes = randomBytes(16);
    bytes[0] = bytes[0]! & 0x7f; // DER integers are signed: keep the serial positive.
    return bytes.toString("hex");
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
    const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
    return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
    const der = x509.PemConverter.decodeFirst(pem);
    return crypto.subtle.importKey("pkcs8", der, ecdsa, false, ["sign"]);
}

export async function createCertificateAuthority(commonName: string, lifetimeDays: number): Promise<IssuedCertificate> {
    const keys = (await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]));
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(notBefore.getTime() + lifetimeDays * 86_400_000);
    const serial = serialNumber();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial,
        name: `CN=${commonName}`,
        notBefore,
        notAfter,
        signingAlgorithm: ecdsa,
        keys,
        extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
            await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
    });
    return {
        certPem: cert.toString("pem"),
        keyPem: await privateKeyPem(keys.privateKey),
        serial,
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
    };
}

/** Issues a fresh key pair and a server certificate for `domains` (plus 127.0.0.1: the local front door's address). */
export async function issueServerCertificate(
    ca: { certPem: string; keyPem: string },
    domains: readonly string[],
    lifetimeDays: number,
): Promise<IssuedCertificate> {
    const caCert = new x509.X509Certificate(ca.certPem);
    const signingKey = await importSigningKey(ca.keyPem);
    const keys = (await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]));
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(Math.min(notBefore.getTime() + lifetimeDays * 86_400_000, caCert.notAfter.getTime()));
    const serial = serialNumber();
    const names: x509.JsonGeneralName[] = domains.map((d) => ({ type: isIP(d) ? "ip" : "dns", value: d }));
    if (!domains.includes("127.0.0.1")) names.push({ type: "ip", value: "127.0.0.1" });
    const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial,
        subject: `CN=${domains[0] ?? "localhost"}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: ecdsa,
        publicKey: keys.publicKey,
        signingKey,
        extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
            new x509.SubjectAlternativeNameExtension(names),
            await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
            await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ],
    });
    return {
        certPem: cert.toString("pem"),
        keyPem: await privateKeyPem(keys.privateKey),
        serial,
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
    };
}
