// The Secrets of a namespace, kept across the mocked deploys of one test, so a test can follow what callers read.
// Only what the Kubernetes target relies on is modelled, each rule from its source (Kubernetes API reference,
// Secret v1 core): `stringData` is write-only and merged into `data` on write, overwriting existing keys; reads
// return `data` only, base64-encoded. A SecretPatch is a server-side apply of its fields onto an existing object
// (pulumi-kubernetes, core/v1 SecretPatch: "patch resources ... require the object to exist").
export class FakeCluster {
    private readonly secrets = new Map<string, Record<string, string>>();
    private readonly annotations = new Map<string, Record<string, string>>();

    /** A Secret's create (or full apply): its data becomes the given stringData. */
    applySecret(id: string, stringData: Record<string, string> | undefined): void {
        this.secrets.set(id, { ...(this.secrets.get(id) ?? {}), ...(stringData ?? {}) });
    }

    /** A patch applies its stringData and its metadata.annotations (the promotion names its generation there). */
    patchSecret(id: string, stringData: Record<string, string>, annotations: Record<string, string> = {}): void {
        const existing = this.secrets.get(id);
        if (!existing) throw new Error(`secrets "${id.split("/")[1]}" not found: a patch needs the object to exist`);
        this.secrets.set(id, { ...existing, ...stringData });
        this.annotations.set(id, { ...(this.annotations.get(id) ?? {}), ...annotations });
    }

    /** A read (Secret.get): `data` base64-encoded, never `stringData`; metadata with the annotations. */
    readSecret(id: string): { data: Record<string, string>; metadata: { name: string; namespace: string; annotations: Record<string, string> } } {
        const stored = this.secrets.get(id);
        if (!stored) throw new Error(`secrets "${id.split("/")[1]}" not found`);
        const [namespace = "", name = ""] = id.split("/");
        return {
            data: Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")])),
            metadata: { name, namespace, annotations: this.annotations.get(id) ?? {} },
        };
    }

    value(id: string, key: string): string | undefined {
        return this.secrets.get(id)?.[key];
    }
}
