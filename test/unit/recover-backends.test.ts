// recover's reach beyond a file backend: a bucket's lock objects (where they are, from the backend URL) and which
// processes count as a provider plugin a killed engine may have left.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isLanguageHost, isProviderPlugin } from "../../cli/orphan-providers.ts";
import { envCredentials, parseS3Backend } from "../../cli/s3-locks.ts";

describe("parseS3Backend", () => {
    it("reads an S3-compatible gateway's URL (path style, plain HTTP)", () => {
        assert.deepEqual(parseS3Backend("s3://state?endpoint=http://127.0.0.1:9000&use_path_style=true&disable_https=true&region=eu-west-1", {}), {
            bucket: "state", prefix: "", region: "eu-west-1", origin: "http://127.0.0.1:9000", pathStyle: true,
        });
    });
    it("an endpoint without a scheme takes disable_https; a path is a key prefix; the region falls back to AWS_REGION", () => {
        const b = parseS3Backend("s3://state/teams/api?endpoint=store.internal:9000&disable_https=true", { AWS_REGION: "us-west-2" });
        assert.deepEqual(b, { bucket: "state", prefix: "teams/api/", region: "us-west-2", origin: "http://store.internal:9000", pathStyle: false });
    });
    it("is undefined for other backends; credentials only from the environment", () => {
        assert.equal(parseS3Backend("file:///tmp/state"), undefined);
        assert.equal(parseS3Backend(undefined), undefined);
        assert.equal(envCredentials({ AWS_ACCESS_KEY_ID: "id" }), undefined);
        assert.deepEqual(envCredentials({ AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "s" }), { accessKey: "id", secretKey: "s" });
    });
});

describe("isProviderPlugin", () => {
    it("the dynamic-provider host, a pulumi-resource-* executable, repave's plugin module", () => {
        assert.ok(isProviderPlugin(["node", "/p/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js", "127.0.0.1:1"]));
        assert.ok(isProviderPlugin(["/home/u/.pulumi/plugins/resource-aws-v7.48.0/pulumi-resource-aws", "127.0.0.1:1"]));
        assert.ok(isProviderPlugin(["node", "/tmp/x/provider/../components/local/plugin/main.ts", "127.0.0.1:1"]));
    });
    it("not the engine, its language host, the program, or a generation of the local target", () => {
        assert.ok(!isProviderPlugin(["/engine/bin/pulumi", "up", "--yes"]));
        assert.ok(!isProviderPlugin(["/engine/bin/pulumi-language-nodejs", "127.0.0.1:1"]));
        assert.ok(isLanguageHost(["/engine/bin/pulumi-language-nodejs", "127.0.0.1:1"]), "a language host is orphaned with the providers");
        assert.ok(!isLanguageHost(["/engine/bin/pulumi", "up"]));
        assert.ok(!isProviderPlugin(["node", "/tmp/x/components/local/supervisor.ts", "--repave-supervisor=/tmp/x"]));
    });
});
