// Which properties of each resource repave's provider plugin serves are secrets - said once, for the three places
// that must agree: the program's additionalSecretOutputs (resources.ts), the plugin's marking of what it returns
// (plugin/provider.ts) and the package schema's `secret: true` (plugin/schema.ts). Standalone on purpose: the
// program imports it without loading the plugin's handlers (and with them the changeover).

export const secretProperties = {
    "repave:index:ImageLedger": [],
    "repave:local:FrontDoor": ["adminToken"],
    "repave:local:CertificateAuthority": ["keyPem", "next"],
    "repave:local:Generation": ["keyPem", "credential", "caKeyPem", "frontDoorToken"],
    "repave:local:Gate": ["keyPem", "credential", "frontDoorToken"],
    "repave:local:Switch": ["keyPem", "credential", "frontDoorToken"],
} as const satisfies Record<string, readonly string[]>;

export type PluginType = keyof typeof secretProperties;

/** The secret properties of a type token; none for a token this plugin does not serve. */
export const secretsOf = (type: string): readonly string[] => (secretProperties as Record<string, readonly string[]>)[type] ?? [];
