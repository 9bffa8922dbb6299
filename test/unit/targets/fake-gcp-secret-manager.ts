// A Secret Manager that keeps state across the mocked deploys of one test, so a test can follow what callers read.
// Only what the GCP target relies on is modelled, each rule from its source:
//
//   - AddSecretVersion numbers versions 1, 2, ... per secret; `latest` is an alias to the most recently created
//     version (Secret Manager REST reference, projects.secrets.versions.access: "projects/*/secrets/*/versions/
//     latest is an alias to the most recently created SecretVersion").
//   - An empty payload is refused: "googleapi: Error 400: Field [payload] is required."
//     (hashicorp/terraform-provider-google#10475).
//   - Accessing a secret that does not exist or has no version is a 404, which the provider's data source wraps
//     (data_source_secret_manager_secret_version_access.go: "error retrieving available secret manager secret
//     version access: googleapi: Error 404: Secret [...] not found or has no versions.").
export class FakeSecretManager {
    private readonly secrets = new Map<string, string[]>();

    /** CreateSecret: `name` is `projects/<p>/secrets/<id>`. */
    createSecret(name: string): void {
        if (!this.secrets.has(name)) this.secrets.set(name, []);
    }

    addVersion(secret: string, data: string): { name: string; version: string } {
        const versions = this.secrets.get(secret);
        if (!versions) throw new Error(`googleapi: Error 404: Secret [${secret}] not found.`);
        if (data === "") throw new Error("Error creating SecretVersion: googleapi: Error 400: Field [payload] is required.");
        versions.push(data);
        return { name: `${secret}/versions/${versions.length}`, version: String(versions.length) };
    }

    access(secret: string, version = "latest"): { name: string; version: string; secretData: string } {
        const versions = this.secrets.get(secret) ?? [];
        const n = version === "latest" ? versions.length : Number(version);
        const data = versions[n - 1];
        if (data === undefined) {
            throw new Error(`error retrieving available secret manager secret version access: googleapi: Error 404: Secret [${secret}] not found or has no versions.`);
        }
        return { name: `${secret}/versions/${n}`, version: String(n), secretData: data };
    }

    /** By the full version name `projects/<p>/secrets/<id>/versions/<n>`. */
    read(versionName: string): string {
        const [, secret = "", version = ""] = /^(.*)\/versions\/(\d+)$/.exec(versionName) ?? [];
        return this.access(secret, version).secretData;
    }
}
