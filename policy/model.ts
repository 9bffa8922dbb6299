// What the policy pack checks that the model also says: the front door's role marker, the tags and annotations a
// generation carries, and the shapes of every secret repave mints. Said once, here, and imported by the components
// (components/roles.ts), the driver (cli/audit.ts, cli/plan.ts) and the pack (policy/policies.ts) - inside the
// pack's folder, so a published pack carries it. No imports on purpose: each of those loads it on its own.

/** The component type that marks its children as the front door: stable, never replaced or deleted by a repave (I4). */
export const frontDoorRoleType = "repave:role:FrontDoorRole";

/**
 * The local target's resource type (`FrontDoor`, `Generation`, ...) of a type token, or undefined: `repave:local:<T>`,
 * served by repave's provider plugin, or `pulumi-nodejs:dynamic/local:<T>`, the dynamic resource a stack deployed
 * before the plugin still holds until its next update.
 */
export function localResourceType(type: string): string | undefined {
    return /^(?:repave:local:|pulumi-nodejs:dynamic\/local:)([A-Za-z]+)$/.exec(type)?.[1];
}

/** The parent type chain of a URN (`urn:pulumi:<stack>::<project>::<chain>::<name>`), each type on its own. */
function typeChain(urn: string): string[] {
    return (urn.split("::")[2] ?? "").split("$");
}

/** Whether a resource is part of a front door: a descendant of the front-door role component (not the component itself). */
export function isFrontDoorUrn(urn: string): boolean {
    return typeChain(urn).slice(0, -1).includes(frontDoorRoleType);
}

/** Where a generation says when its image was built: the AWS launch template's tag, the Kubernetes Deployment's annotation. */
export const imageCreatedAtKeys = { tag: "repave:image-created-at", annotation: "repave.dev/image-created-at" } as const;

/**
 * What no audit line, log or plain state value may contain: PEM private keys, bearer tokens, repave's credentials
 * (32 random bytes in base64url: 43 characters), the front door's admin token (64 hex characters), JWTs, Pulumi
 * ciphertext envelopes.
 */
export const secretPatterns: ReadonlyArray<readonly [string, RegExp]> = [
    ["a private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ["a bearer token", /Bearer [A-Za-z0-9._~+/-]{16,}/],
    ["a Pulumi ciphertext", /"ciphertext"|"secure":/],
    ["a credential", /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/],
    ["an admin token", /(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])/],
    ["a JWT", /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/],
];

/** What in `text` looks like a secret, by kind; empty when nothing does. Digests (`sha256:` + 64 hex) are not. */
export function secretsIn(text: string): string[] {
    const scrubbed = text.replace(/sha256:[0-9a-f]{64}/g, "sha256:<digest>");
    return secretPatterns.filter(([, pattern]) => pattern.test(scrubbed)).map(([kind]) => kind);
}
