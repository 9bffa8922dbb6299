// The image scan gate shared by every target: reading reports (repave's summary, Trivy JSON) and refusing a
// candidate above the policy, with the findings named.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scanInputs } from "../../components/gate.ts";
import { checkScan, readScanReport } from "../../components/scan.ts";
import { parseApiSpecs } from "../../components/spec.ts";

describe("image scan gate", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-scan-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, body: unknown) => {
        const file = join(dir, name);
        writeFileSync(file, JSON.stringify(body));
        return file;
    };

    it("reads Trivy JSON: counts by severity, names critical and high findings", () => {
        const file = write("trivy.json", {
            Results: [
                { Target: "app", Vulnerabilities: [{ VulnerabilityID: "CVE-2026-1", Severity: "CRITICAL", PkgName: "openssl" }, { VulnerabilityID: "CVE-2026-2", Severity: "LOW" }] },
                { Target: "os", Vulnerabilities: [{ VulnerabilityID: "CVE-2026-3", Severity: "HIGH", PkgName: "zlib" }] },
                { Target: "empty", Vulnerabilities: null },
            ],
        });
        assert.deepEqual(readScanReport(file), { critical: 1, high: 1, findings: ["CVE-2026-1 (critical, openssl)", "CVE-2026-3 (high, zlib)"] });
    });

    it("reads repave's summary and refuses anything else with a hint", () => {
        assert.deepEqual(readScanReport(write("s.json", { critical: 0, high: 2, findings: ["x"] })), { critical: 0, high: 2, findings: ["x"] });
        assert.throws(() => readScanReport(write("bad.json", { vulnerabilities: [] })), /neither a Trivy JSON report/);
        assert.throws(() => readScanReport(join(dir, "missing.json")), /scan\.reportFile: .* does not exist \(hint/);
    });

    it("refuses a candidate over the policy, naming the findings; passes one within it or without a report", () => {
        const scan = { critical: 1, high: 3, findings: ["CVE-2026-1 (critical, openssl)"] };
        assert.throws(() => checkScan(scan, { maxCritical: 0, maxHigh: null }, "ami-123"), /image gate: ami-123 has 1 critical \(max 0\) vulnerabilities: CVE-2026-1/);
        assert.throws(() => checkScan({ ...scan, critical: 0 }, { maxCritical: 0, maxHigh: 2 }, "img"), /3 high \(max 2\)/);
        assert.doesNotThrow(() => checkScan({ ...scan, critical: 0 }, { maxCritical: 0, maxHigh: null }, "img"));
        assert.doesNotThrow(() => checkScan(null, { maxCritical: 0, maxHigh: 0 }, "img"));
    });

    it("a spec's reportFile becomes the gate's scan input, read at deploy time", () => {
        const file = write("report.json", { critical: 2, high: 0, findings: ["CVE-A", "CVE-B"] });
        const [spec] = parseApiSpecs([{ name: "orders", image: { source: "container", repository: "r/orders" }, scan: { maxCritical: 1, reportFile: file } }]);
        const inputs = scanInputs(spec!, "r/orders@sha256:abc");
        assert.deepEqual(inputs.scan, { critical: 2, high: 0, findings: ["CVE-A", "CVE-B"] });
        assert.deepEqual(inputs.scanPolicy, { maxCritical: 1, maxHigh: null });
        const [none] = parseApiSpecs([{ name: "orders", image: { source: "container", repository: "r/orders" } }]);
        assert.equal(scanInputs(none!, "x").scan, null);
    });
});
