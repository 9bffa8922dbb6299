// A Secrets Manager that keeps state across the mocked deploys of one test, so a test can follow the staging labels
// the way callers see them. Only what the AWS target relies on is modelled, each rule from its source:
//
//   - A version is put by the provider's SecretVersion create, PutSecretValue with the configured VersionStages
//     (terraform-provider-aws internal/service/secretsmanager/secret_version.go, resourceSecretVersionCreate).
//   - PutSecretValue (AWS Secrets Manager API Reference, PutSecretValue and PutSecretValueRequest.VersionStages):
//     the first version of a secret gets AWSCURRENT whatever the request says; without VersionStages, AWSCURRENT
//     moves to the new version; a label named in the request moves from whichever version held it; when
//     AWSCURRENT moves, AWSPREVIOUS moves to the version it left.
//   - Version ids are UUIDs that say nothing about what they hold (API Reference: VersionId, 32-64 characters).
//   - GetSecretValue by label or id (the getSecretVersion data source): an unknown secret, or a label no version
//     carries, is "couldn't find resource" (secret_version_data_source.go: findSecretVersion -> NotFoundError).
import { createHash } from "node:crypto";

interface Version {
    id: string;
    value: string;
    stages: Set<string>;
}

export class FakeSecretsManager {
    private readonly secrets = new Map<string, { arn: string; versions: Version[] }>();
    private puts = 0;

    /** CreateSecret: the resource's physical name and the ARN the mocks hand out for it. */
    createSecret(name: string, arn: string): void {
        if (!this.secrets.has(name)) this.secrets.set(name, { arn, versions: [] });
    }

    private find(secretId: string) {
        return [...this.secrets.entries()].find(([name, s]) => name === secretId || s.arn === secretId)?.[1];
    }

    putSecretValue(secretId: string, value: string, requested: readonly string[] | undefined): { versionId: string; versionStages: string[] } {
        const secret = this.find(secretId);
        if (!secret) throw new Error(`ResourceNotFoundException: Secrets Manager can't find the specified secret (${secretId})`);
        const id = createHash("sha256").update(`version-${++this.puts}`).digest("hex").slice(0, 32);
        const stages = new Set(requested && requested.length > 0 ? requested : ["AWSCURRENT"]);
        if (secret.versions.length === 0) stages.add("AWSCURRENT");
        const current = secret.versions.find((v) => v.stages.has("AWSCURRENT"));
        for (const v of secret.versions) for (const stage of stages) v.stages.delete(stage);
        if (stages.has("AWSCURRENT") && current) {
            for (const v of secret.versions) v.stages.delete("AWSPREVIOUS");
            current.stages.add("AWSPREVIOUS");
        }
        secret.versions.push({ id, value, stages });
        return { versionId: id, versionStages: [...stages].sort() };
    }

    getSecretValue(secretId: string, by: { versionStage?: string; versionId?: string }): { secretString: string; versionId: string; versionStages: string[] } {
        const label = by.versionId ?? by.versionStage ?? "AWSCURRENT";
        const version = this.find(secretId)?.versions.find((v) => (by.versionId ? v.id === by.versionId : v.stages.has(by.versionStage ?? "AWSCURRENT")));
        if (!version) throw new Error(`reading Secrets Manager Secret Version (${secretId}|${label}): couldn't find resource`);
        return { secretString: version.value, versionId: version.id, versionStages: [...version.stages].sort() };
    }

    /** What a caller reading the secret's AWSCURRENT gets now (undefined before the first version). */
    current(secretId: string): string | undefined {
        return this.find(secretId)?.versions.find((v) => v.stages.has("AWSCURRENT"))?.value;
    }
}
