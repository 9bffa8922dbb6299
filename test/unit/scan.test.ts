// The image scan gate shared by every target: reading reports (repave's summary, Trivy JSON), refusing a candidate
// above the policy with the findings named, refusing one with no report (fail closed) or with a report of another
// image, and letting an unscanned one through only when the spec says so.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scanInputs } from "../../components/gate.ts";
import { checkScan, readScanReport, reportNamesImage, type ScanPolicy, type ScanSummary } from "../../components/scan.ts";
import { parseApiSpecs } from "../../components/spec.ts";

const digest = `sha256:${"ab12".repeat(16)}`;
const otherDigest = `sha256:${"cd34".repeat(16)}`;
const pinned = `registry.example.com/r/orders@${digest}`;
const strict: ScanPolicy = { maxCritical: 0, maxHigh: null, allowMissingReport: false };
const clean = (images: string[]): ScanSummary => ({ critical: 0, high: 0, findings: [], images, scanner: "test" });

describe("image scan gate", () => {
    const dir = mkdtempSync(join(tmpdir(), "repave-scan-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, body: unknown) => {
        const file = join(dir, name);
        writeFileSync(file, JSON.stringify(body));
        return file;
    };

    it("reads Trivy JSON: counts by severity, names critical and high findings, and the image it scanned", () => {
        const file = write("trivy.json", {
            ArtifactName: "registry.example.com/r/orders:1.2",
            Metadata: { ImageID: `sha256:${"ef56".repeat(16)}`, RepoDigests: [pinned] },
            Results: [
                { Target: "app", Vulnerabilities: [{ VulnerabilityID: "CVE-2026-1", Severity: "CRITICAL", PkgName: "openssl" }, { VulnerabilityID: "CVE-2026-2", Severity: "LOW" }] },
                { Target: "os", Vulnerabilities: [{ VulnerabilityID: "CVE-2026-3", Severity: "HIGH", PkgName: "zlib" }] },
                { Target: "empty", Vulnerabilities: null },
            ],
        });
        assert.deepEqual(readScanReport(file), {
            critical: 1,
            high: 1,
            findings: ["CVE-2026-1 (critical, openssl)", "CVE-2026-3 (high, zlib)"],
            images: ["registry.example.com/r/orders:1.2", `sha256:${"ef56".repeat(16)}`, pinned],
            scanner: "trivy",
        });
    });

    it("reads repave's summary with the image it names, and refuses anything else with a hint", () => {
        const summary = readScanReport(write("s.json", { image: "ami-0123456789abcdef0", critical: 0, high: 2, findings: ["x"] }));
        assert.deepEqual({ ...summary, scanner: "" }, { critical: 0, high: 2, findings: ["x"], images: ["ami-0123456789abcdef0"], scanner: "" });
        assert.deepEqual(readScanReport(write("noimage.json", { critical: 0, high: 0 })).images, []);
        assert.throws(() => readScanReport(write("bad.json", { vulnerabilities: [] })), /neither a Trivy JSON report/);
        assert.throws(() => readScanReport(join(dir, "missing.json")), /scan\.reportFile: .* does not exist \(hint/);
    });

    it("binds a report to the pinned image: same id or same content digest; a tag or another digest never binds", () => {
        assert.ok(reportNamesImage([pinned], pinned));
        assert.ok(reportNamesImage([`docker.io/mirror/orders@${digest}`], pinned), "same content digest, another repository name");
        assert.ok(reportNamesImage(["ami:ami-0123456789abcdef0"], "ami-0123456789abcdef0"), "trivy vm names an AMI ami:<id>");
        assert.ok(reportNamesImage(["projects/p/global/images/api-20261101"], "https://www.googleapis.com/compute/v1/projects/p/global/images/api-20261101"));
        assert.ok(reportNamesImage([digest], digest), "a local build's content hash");
        assert.ok(!reportNamesImage(["registry.example.com/r/orders:1.2"], pinned), "a tag moves: it does not bind");
        assert.ok(!reportNamesImage([`registry.example.com/r/orders@${otherDigest}`], pinned));
        assert.ok(!reportNamesImage([`sha256:${"ef56".repeat(16)}`], pinned), "the config digest (ImageID) is not the pinned manifest digest");
        assert.ok(!reportNamesImage(["ami-0aaaaaaaaaaaaaaaa"], "ami-0123456789abcdef0"));
        assert.ok(!reportNamesImage([], pinned));
    });

    it("refuses a candidate over the policy, naming the findings; passes one within it", () => {
        const scan = { ...clean([pinned]), critical: 1, high: 3, findings: ["CVE-2026-1 (critical, openssl)"] };
        assert.throws(() => checkScan(scan, strict, pinned, "orders 1.2"), /image gate: orders 1\.2 has 1 critical \(max 0\) vulnerabilities: CVE-2026-1/);
        assert.throws(() => checkScan({ ...scan, critical: 0 }, { ...strict, maxHigh: 2 }, pinned), /3 high \(max 2\)/);
        assert.match(checkScan({ ...scan, critical: 0 }, strict, pinned), /^scanned by test: 0 critical, 3 high, report bound to registry/);
    });

    it("fails closed: no report is refused, unless the spec allows it, and then the verdict says so", () => {
        assert.throws(() => checkScan(null, strict, pinned), /image gate: no scan report for .*orders@sha256.*never promoted \(hint: point scan\.reportFile .* or set scan\.allowMissingReport: true/);
        assert.match(checkScan(null, { ...strict, allowMissingReport: true }, pinned), /no scan report for .*promoted unscanned because scan\.allowMissingReport is true/);
    });

    it("refuses a clean report of another image, even when missing reports are allowed", () => {
        const lenient = { ...strict, allowMissingReport: true };
        assert.throws(() => checkScan(clean([`registry.example.com/r/orders@${otherDigest}`]), lenient, pinned), /the scan report \(test\) is for .*cd34.*, not the pinned image .*ab12.*; refused/);
        assert.throws(() => checkScan(clean([]), lenient, pinned), /is for an image it does not name, not the pinned image/);
    });

    it("a spec's reportFile becomes the gate's scan input, read at deploy time, with the fail-closed policy", () => {
        const file = write("report.json", { image: pinned, critical: 2, high: 0, findings: ["CVE-A", "CVE-B"] });
        const [spec] = parseApiSpecs([{ name: "orders", image: { source: "container", repository: "r/orders" }, scan: { maxCritical: 1, reportFile: file } }]);
        const inputs = scanInputs(spec!, pinned);
        assert.deepEqual({ ...inputs.scan, scanner: "" }, { critical: 2, high: 0, findings: ["CVE-A", "CVE-B"], images: [pinned], scanner: "" });
        assert.deepEqual(inputs.scanPolicy, { maxCritical: 1, maxHigh: null, allowMissingReport: false });
        assert.equal(inputs.image, pinned);
        const [none] = parseApiSpecs([{ name: "orders", image: { source: "container", repository: "r/orders" } }]);
        const missing = scanInputs(none!, pinned);
        assert.equal(missing.scan, null);
        assert.throws(() => checkScan(missing.scan ?? null, missing.scanPolicy!, pinned), /no scan report/);
    });
});
