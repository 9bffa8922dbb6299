// `repave recover` on a file backend damaged by a kill: a metadata sidecar cut short by SIGKILL made every command
// fail with "failed to load checkpoint: EOF". recover removes damaged sidecars only; the files they describe stay.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { repairFileBackend } from "../../cli/recover.ts";
import { engineEnv } from "../../cli/environment.ts";

describe("recover repairs a file backend", () => {
    const root = mkdtempSync(join(tmpdir(), "repave-repair-"));
    after(() => rmSync(root, { recursive: true, force: true }));

    it("removes damaged .attrs sidecars and nothing else", () => {
        const stacks = join(root, "state", ".pulumi", "stacks", "repave");
        mkdirSync(stacks, { recursive: true });
        writeFileSync(join(stacks, "e2e.json"), '{"version":3}');
        writeFileSync(join(stacks, "e2e.json.attrs"), ""); // cut short by the kill
        writeFileSync(join(stacks, "e2e.json.bak"), '{"version":3}');
        writeFileSync(join(stacks, "e2e.json.bak.attrs"), '{"user.cache_control":"","user.content_type":"application/json"}');
        const removed = repairFileBackend(`file://${join(root, "state")}`);
        assert.deepEqual(removed, [join("stacks", "repave", "e2e.json.attrs")]);
        assert.ok(!existsSync(join(stacks, "e2e.json.attrs")));
        assert.ok(existsSync(join(stacks, "e2e.json.bak.attrs")), "an intact sidecar stays");
        assert.equal(readFileSync(join(stacks, "e2e.json"), "utf8"), '{"version":3}', "the checkpoint itself is untouched");
        assert.deepEqual(repairFileBackend("s3://bucket"), [], "only file backends are touched");
    });

    it("the default local backend writes no sidecars at all (metadata=skip)", () => {
        const work = join(root, "work");
        mkdirSync(work);
        const env = engineEnv(work, { pulumi: "", binDir: "/x/bin", version: "v3.274.0", source: "project", reason: "" }, { HOME: join(root, "home") });
        assert.equal(env["PULUMI_BACKEND_URL"], `file://${join(work, ".pulumi-state")}?metadata=skip`);
        assert.ok(env["PULUMI_CONFIG_PASSPHRASE_FILE"]?.endsWith(join(".pulumi-state", ".passphrase")), "still the default local backend");
    });
});
