// The command-line options one stack and a fleet share, declared once for node:util's parseArgs: a flag added here
// reaches `repave run` and `repave run --stacks 'prod-*'` alike, with the same spelling and type.
export const sharedOptions = {
    cwd: { type: "string" },
    format: { type: "string", default: "text" },
    out: { type: "string" },
    "audit-file": { type: "string" },
    "if-older-than": { type: "string" },
    "max-age": { type: "string" },
    "max-image-age": { type: "string" },
    "min-cert-validity": { type: "string" },
    "policy-pack": { type: "string", multiple: true },
    verbose: { type: "boolean", short: "v" },
    refresh: { type: "boolean" },
    "allow-front-door-change": { type: "boolean" },
    help: { type: "boolean", short: "h" },
} as const;
