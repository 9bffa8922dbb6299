// Starting a detached process and waiting for it to say it is ready (components/local/processes.ts): a child that
// ends before it is ready is reported with how it ended - its exit code or the signal that stopped it - and the log
// it left, never as a bare "exited".
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startDetached, waitForFile } from "../../components/local/processes.ts";

describe("a detached child that is not ready", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-proc-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const marker = (name: string) => `--repave-test=${join(dir, name)}`;
    const script = (name: string, body: string) => {
        const file = join(dir, `${name}.mjs`);
        writeFileSync(file, body);
        return file;
    };

    it("that exits: its exit code and its log", async () => {
        const log = join(dir, "exits.log");
        const pid = startDetached(script("exits", 'console.error("no port for me"); process.exit(3);'), [marker("exits")], {}, log, dir);
        await assert.rejects(waitForFile(join(dir, "never"), pid, marker("exits"), 10_000, log), /exited \(code 3\) before it was ready; its log ends with:\nno port for me/);
    });

    it("that is killed: the signal", async () => {
        const log = join(dir, "killed.log");
        const pid = startDetached(script("killed", "setInterval(() => {}, 1000);"), [marker("killed")], {}, log, dir);
        setTimeout(() => process.kill(pid, "SIGTERM"), 300);
        await assert.rejects(waitForFile(join(dir, "never"), pid, marker("killed"), 10_000, log), /exited \(signal SIGTERM\)/);
    });

    it("that gets ready: what it wrote", async () => {
        const log = join(dir, "ready.log");
        const ready = join(dir, "ready");
        const pid = startDetached(script("ready", `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(ready)}, "4242"); setTimeout(() => {}, 2000);`), [marker("ready")], {}, log, dir);
        assert.equal(await waitForFile(ready, pid, marker("ready"), 10_000, log), "4242");
        process.kill(pid, "SIGKILL");
    });
});
