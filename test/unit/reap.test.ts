// Orphans of an interrupted run: processes recorded in a generation folder but in no state are stopped by
// `repave recover` (reapGenerations), and a pid is only signalled while /proc says it is still ours.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { reapGenerations } from "../../components/local/changeover.ts";
import { isOurs, startDetached } from "../../components/local/processes.ts";

describe("reaping orphaned generations", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-reap-"));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("stops the processes of generations the state does not know, and keeps the others", async () => {
        const script = join(dir, "idle.mjs");
        writeFileSync(script, "setInterval(() => {}, 1000);\n");
        const start = (generation: string) => {
            const marker = `--repave-generation=hello/${generation}@${dir}`;
            const gdir = join(dir, "generations", generation);
            mkdirSync(gdir, { recursive: true });
            const pid = startDetached(script, [marker], {}, join(gdir, "app.log"), dir);
            writeFileSync(join(gdir, "pids.json"), JSON.stringify({ marker, pids: [pid] }));
            return { pid, marker };
        };
        const live = start("glive01");
        const orphan = start("gorphan");
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(isOurs(orphan.pid, orphan.marker) && isOurs(live.pid, live.marker));

        const reaped = await reapGenerations(dir, (generation) => generation !== "glive01");
        assert.deepEqual(reaped, ["gorphan"]);
        assert.ok(!isOurs(orphan.pid, orphan.marker), "orphan stopped");
        assert.ok(!existsSync(join(dir, "generations", "gorphan")));
        assert.ok(isOurs(live.pid, live.marker), "the known generation keeps running");

        await reapGenerations(dir, () => true);
        assert.ok(!isOurs(live.pid, live.marker));
    });

    it("never signals a pid whose command line lacks the marker", () => {
        assert.equal(isOurs(process.pid, "--repave-generation=hello/gnope@/nowhere"), false);
    });
});
