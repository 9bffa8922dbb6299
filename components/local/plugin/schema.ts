// The package schema of repave's provider plugin (`pulumi package get-schema ./provider`): the local target's
// resources, their inputs and outputs. The components are the supported API; the schema documents the plugin's
// surface for tools that read schemas (and for another language's SDK, were one generated).
import { secretsOf } from "../secret-properties.ts";

type Kind = "string" | "integer" | "boolean" | "strings" | "any";

const spec = (kind: Kind, description: string) => ({
    ...(kind === "strings" ? { type: "array", items: { type: "string" } } : kind === "any" ? { $ref: "pulumi.json#/Any" } : { type: kind }),
    description,
});

/** Properties with `secret: true` where secret-properties.ts says so (inputs and outputs alike). */
const marked = (token: string, properties: Record<string, object>) =>
    Object.fromEntries(Object.entries(properties).map(([k, p]) => [k, secretsOf(token).includes(k) ? { ...p, secret: true } : p]));

const routeInputs = {
    api: spec("string", "The API's name."),
    generation: spec("string", "The generation's serving name."),
    imageVersion: spec("string", "The image version the generation runs."),
    backends: spec("strings", "The generation's instances, host:port."),
    certPem: spec("string", "The generation's serving certificate."),
    keyPem: spec("string", "The certificate's key."),
    certSerial: spec("string", "The certificate's serial."),
    domains: spec("strings", "The names the certificate and the front door serve."),
    credential: spec("string", "The generation's bearer credential."),
    caCertPem: spec("string", "The trust bundle clients hold."),
    stateDir: spec("string", "The front door's state folder."),
    frontDoorToken: spec("string", "The front door's admin token."),
};

const resources: Record<string, { description: string; inputs: Record<string, object>; outputs: Record<string, object>; requiredInputs: string[] }> = {
    "repave:index:ImageLedger": {
        description: "Which image an API served before the one it serves now: what `repave rollback` redeploys. Moves only after a changeover succeeded.",
        inputs: { current: spec("any", "The image serving now: its immutable id and its version.") },
        outputs: { previous: spec("any", "The image served before, or null.") },
        requiredInputs: ["current"],
    },
    "repave:local:FrontDoor": {
        description: "The stable TLS front door of one API: a production and a test listener on loopback; never replaced by a repave.",
        inputs: {
            api: spec("string", "The API's name."),
            port: spec("integer", "The production listener's port (identity: a change replaces the front door)."),
            testPort: spec("integer", "The test listener's port (identity)."),
            stateDir: spec("string", "Where it keeps routes, logs and processes' files; relative to the project."),
            adminTokenRotationSeconds: spec("integer", "How often the admin token is replaced (the previous one stays valid until the next rotation)."),
        },
        outputs: {
            pid: spec("integer", "The daemon's process; 0 when `refresh` found it dead."),
            url: spec("string", "The production URL."),
            testUrl: spec("string", "The test listener's URL."),
            adminToken: spec("string", "The admin channel's token."),
            adminTokenIssuedAt: spec("string", "When the admin token was issued."),
        },
        requiredInputs: ["api", "port", "testPort", "stateDir", "adminTokenRotationSeconds"],
    },
    "repave:local:CertificateAuthority": {
        description: "The local CA; rotates in place, publishing its successor one period ahead.",
        inputs: { commonName: spec("string", "The CA's common name."), rotationSeconds: spec("integer", "How long a CA signs.") },
        outputs: {
            certPem: spec("string", "The trust bundle: the signing CA and the next."),
            signingCertPem: spec("string", "The CA that signs now."),
            keyPem: spec("string", "Its key."),
            serial: spec("string", "Its serial."),
            notAfter: spec("string", "When it expires."),
            next: spec("any", "The CA that signs after this one, published a period ahead: its certificate and key."),
        },
        requiredInputs: ["commonName", "rotationSeconds"],
    },
    "repave:local:Generation": {
        description: "One generation: the API's processes from one pinned image, with their own certificate and credential. Replaced, never updated, when what it runs changes.",
        inputs: {
            ...routeInputs,
            imageDir: spec("string", "The build's folder."),
            imageEntry: spec("string", "The build's entry file."),
            imageHash: spec("string", "The build's content hash (its identity)."),
            imageCreatedAt: spec("string", "When the build was made."),
            capacity: spec("integer", "How many instances."),
            certLifetimeDays: spec("integer", "The certificate's lifetime."),
            caKeyPem: spec("string", "The CA's key."),
            healthCheck: spec("any", "The app contract's health check."),
            drainSeconds: spec("integer", "How long a retiring generation drains."),
        },
        outputs: {
            declaredGeneration: spec("string", "The generation id the program declared."),
            pids: spec("any", "The instances' processes; empty when `refresh` found them dead."),
            certNotAfter: spec("string", "When the certificate expires."),
            credentialCreatedAt: spec("string", "When the credential was minted."),
            createdAt: spec("string", "When the generation was created."),
        },
        requiredInputs: ["api", "generation", "imageDir", "imageEntry", "imageHash", "capacity", "domains", "caCertPem", "caKeyPem", "stateDir", "frontDoorToken", "healthCheck"],
    },
    "repave:local:Gate": {
        description: "The candidate's gate: image scan, health and the synthetic transactions on the test listener.",
        inputs: { ...routeInputs, testPort: spec("integer", "The test listener's port."), probes: spec("any", "The positive, negative and adversarial probes."), scan: spec("any", "The build's scan report.") },
        outputs: { passedAt: spec("string", "When the candidate passed."), imageScan: spec("string", "The scan's verdict."), results: spec("any", "Every probe's result.") },
        requiredInputs: ["api", "generation", "backends", "testPort", "stateDir", "frontDoorToken", "probes"],
    },
    "repave:local:Switch": {
        description: "The production route: moved to a generation that passed its gate, then baked; updated, never replaced.",
        inputs: { ...routeInputs, port: spec("integer", "The production port."), gatePassedGeneration: spec("string", "The generation the gate passed (I2)."), probes: spec("any", "The bake's probes."), keepWarmSeconds: spec("integer", "How long production is probed after the switch.") },
        outputs: { previousGeneration: spec("string", "The generation that served before."), previousImageVersion: spec("string", "Its image version."), switchedAt: spec("string", "When production moved.") },
        requiredInputs: ["api", "generation", "gatePassedGeneration", "backends", "port", "stateDir", "frontDoorToken"],
    },
};

export function schema(version: string) {
    return {
        name: "repave",
        displayName: "repave",
        version,
        description: "repave's local target: stateless APIs repaved by red/green changeover on loopback, no cloud account.",
        resources: Object.fromEntries(
            Object.entries(resources).map(([token, r]) => [
                token,
                { description: r.description, inputProperties: marked(token, r.inputs), requiredInputs: r.requiredInputs, properties: marked(token, { ...r.inputs, ...r.outputs }) },
            ]),
        ),
    };
}
