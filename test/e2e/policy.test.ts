// The policy pack on the real engine: `pulumi preview --policy-pack policy` against a local stack.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalStack, repoRoot } from "./harness.ts";

describe("policy pack on the real engine", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("policy");
        // The sample content was first built ten days ago: the build store dates it, nothing in the source does.
        stack.prebuild("1.1.0", new Date(Date.now() - 10 * 86_400_000));
    });
    after(async () => stack && (await stack.cleanup()));

    const preview = (...extra: string[]) =>
        stack.pulumi(["preview", "--stack", stack.stack, "--policy-pack", join(repoRoot, "policy"), ...extra]);

    it("stays silent on the sample program", async () => {
        const r = await preview();
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /✅ repave@v0\.1\.0/);
        assert.doesNotMatch(r.out, /\[(mandatory|advisory)\]/);
    });

    it("fires on an image older than the policy's maximum", async () => {
        const config = join(stack.dir, "policy-config.json");
        writeFileSync(config, JSON.stringify({ "repave-image-max-age": { maxImageAgeDays: 1 } }));
        const r = await preview("--policy-pack-config", config);
        assert.notEqual(r.code, 0);
        assert.match(r.out, /\[mandatory\]\s+repave-image-max-age/);
        assert.match(r.out, /10\.0 days old \(max 1\)/);
    });

    it("fires on a certificate lifetime above 90 days", async () => {
        stack.writeConfig(JSON.stringify([{ ...stack.api, certificate: { domains: ["localhost"], lifetimeDays: 200 } }]));
        const r = await preview();
        assert.notEqual(r.code, 0);
        assert.match(r.out, /\[mandatory\]\s+repave-cert-lifetime/);
        assert.match(r.out, /200 days exceeds 90/);
    });
});
