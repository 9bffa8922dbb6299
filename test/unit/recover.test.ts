// `repave recover` on a file backend damaged by a kill: a metadata sidecar cut short by SIGKILL made every command
// fail with "failed to load checkpoint: EOF". recover removes damaged sidecars only; the files they describe stay.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { fileBackendLocks, removeDeadLocks, repairFileBackend } from "../../cli/recover.ts";
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

describe("recover reads the lock back instead of trusting the cancel", () => {
    const root = mkdtempSync(join(tmpdir(), "repave-locks-"));
    after(() => rmSync(root, { recursive: true, force: true }));
    const backend = `file://${join(root, "state")}?metadata=skip`;
    const dir = join(root, "state", ".pulumi", "locks", "organization", "repave", "e2e");
    const lock = (name: string, pid: number, host = hostname()) =>
        writeFileSync(join(dir, `${name}.json`), JSON.stringify({ pid, username: "ci", hostname: host, timestamp: "2026-11-26T14:00:00Z" }));

    it("removes a dead run's lock (the file a successful cancel can leave behind) and reports the stack free", () => {
        mkdirSync(dir, { recursive: true });
        lock("dead", 2 ** 22 + 7); // no such process
        lock("other-machine", 1234, "ci-runner-7"); // only reached with --force: checkRecoverable refused before
        assert.equal(fileBackendLocks(backend, "repave", "e2e")?.length, 2);
        assert.deepEqual(removeDeadLocks(backend, "repave", "e2e"), []);
        assert.deepEqual(fileBackendLocks(backend, "repave", "e2e"), []);
    });

    it("keeps a lock whose owner is a live pulumi process, and says so", async () => {
        mkdirSync(dir, { recursive: true });
        // A process whose command line says pulumi, as a live `pulumi up` does.
        const live = spawn("sleep", ["30"], { argv0: "pulumi-up-standin", stdio: "ignore" });
        try {
            await new Promise((r) => setTimeout(r, 100));
            lock("live", live.pid!);
            lock("dead", 2 ** 22 + 7);
            const remaining = removeDeadLocks(backend, "repave", "e2e");
            assert.deepEqual(remaining.map((l) => l.pid), [live.pid]);
        } finally {
            live.kill();
        }
        assert.equal(removeDeadLocks("s3://bucket/state", "repave", "e2e").length, 0, "not a file backend: nothing read, nothing removed");
    });
});
