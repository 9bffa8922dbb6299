// The image gate fails closed, on the real engine against the local target: a build whose scan report was made for
// other content, or that has none, is never promoted; the spec's explicit opt-out lets an unscanned build through
// and the gate records that in its outputs.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalStack } from "./harness.ts";

interface BuildRecord {
    scan?: { imageHash: string };
}

describe("the image gate fails closed", () => {
    let stack: LocalStack;
    let live = { generation: "", imageHash: "" };
    before(async () => {
        stack = await LocalStack.create("imagegate");
        stack.api = { ...stack.api, capacity: 1 };
        stack.writeConfig();
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        live = await stack.hello();
    });
    after(async () => stack && (await stack.cleanup()));

    /** Builds `version` into the store now and rewrites its record, as a swapped or lost report would leave it. */
    const tamper = (version: string, edit: (record: BuildRecord) => void) => {
        stack.addBuild(version);
        const recordFile = join(dirname(stack.prebuild(version, new Date()).dir), "build.json");
        const record = JSON.parse(readFileSync(recordFile, "utf8")) as BuildRecord;
        edit(record);
        writeFileSync(recordFile, JSON.stringify(record));
    };
    const gateOutputs = async () =>
        (await stack.exportState()).deployment.resources.find((r) => r.type.endsWith(":Gate"))?.outputs as { imageScan?: string } | undefined;

    it("records which report the live build passed with, bound to its content hash", async () => {
        assert.match((await gateOutputs())?.imageScan ?? "", new RegExp(`^scanned by repave-local-declared.*report bound to ${live.imageHash}$`));
    });

    it("refuses a build whose scan report was made for other content", async () => {
        tamper("1.2.0", (record) => (record.scan!.imageHash = live.imageHash));
        const r = await stack.up();
        assert.notEqual(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`image gate: the scan report \\(repave-local-declared.*\\) is for ${live.imageHash}, not the pinned image sha256:[0-9a-f]{64}; refused`));
        assert.equal((await stack.hello()).generation, live.generation, "production stays on the live generation");
        stack.removeBuild("1.2.0");
    });

    it("refuses a build without a scan report (fail closed)", async () => {
        tamper("1.3.0", (record) => delete record.scan);
        const r = await stack.up();
        assert.notEqual(r.code, 0, r.out);
        assert.match(r.out, /image gate: no scan report for 1\.3\.0; an unscanned image is never promoted \(hint: .*scan\.allowMissingReport: true/);
        assert.equal((await stack.hello()).generation, live.generation, "production stays on the live generation");
    });

    it("promotes it with scan.allowMissingReport: true, and the gate says so", async () => {
        stack.api = { ...stack.api, scan: { allowMissingReport: true } };
        stack.writeConfig();
        const r = await stack.up();
        assert.equal(r.code, 0, r.out);
        assert.equal((await stack.hello()).imageVersion, "1.3.0");
        assert.match((await gateOutputs())?.imageScan ?? "", /^no scan report for 1\.3\.0: promoted unscanned because scan\.allowMissingReport is true$/);
    });
});
