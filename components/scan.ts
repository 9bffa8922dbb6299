// The image scan gate, once for every target: a candidate whose scan report has more findings than the spec's
// `scan` policy allows is never promoted. Reports come from the image itself (the local builds' manifest) or from
// the file the pipeline's scanner wrote (`scan.reportFile`: repave's own summary, or Trivy's JSON).
import { existsSync, readFileSync } from "node:fs";

export interface ScanSummary {
    critical: number;
    high: number;
    findings: string[];
}

export interface ScanPolicy {
    maxCritical: number;
    maxHigh: number | null;
}

interface TrivyReport {
    Results?: Array<{ Target?: string; Vulnerabilities?: Array<{ VulnerabilityID: string; Severity: string; PkgName?: string }> | null }>;
}

/** Reads a scan report: `{critical, high, findings}` or a Trivy JSON report (`trivy image -f json`). */
export function readScanReport(file: string): ScanSummary {
    if (!existsSync(file)) throw new Error(`scan.reportFile: ${file} does not exist (hint: run the image scanner before the deploy, or remove reportFile)`);
    const raw = JSON.parse(readFileSync(file, "utf8")) as Partial<ScanSummary> & TrivyReport;
    if (Array.isArray(raw.Results)) {
        const vulns = raw.Results.flatMap((r) => r.Vulnerabilities ?? []);
        const of = (severity: string) => vulns.filter((v) => v.Severity === severity);
        const named = [...of("CRITICAL"), ...of("HIGH")].map((v) => `${v.VulnerabilityID} (${v.Severity.toLowerCase()}${v.PkgName ? `, ${v.PkgName}` : ""})`);
        return { critical: of("CRITICAL").length, high: of("HIGH").length, findings: named };
    }
    if (typeof raw.critical !== "number" || typeof raw.high !== "number") {
        throw new Error(`scan.reportFile: ${file} is neither a Trivy JSON report nor {"critical": n, "high": n, "findings": [...]}`);
    }
    return { critical: raw.critical, high: raw.high, findings: raw.findings ?? [] };
}

/** Throws, naming the findings, when a scan exceeds the policy. No report means nothing to judge. */
export function checkScan(scan: ScanSummary | null, policy: ScanPolicy, image: string): void {
    if (!scan) return;
    const over: string[] = [];
    if (scan.critical > policy.maxCritical) over.push(`${scan.critical} critical (max ${policy.maxCritical})`);
    if (policy.maxHigh !== null && scan.high > policy.maxHigh) over.push(`${scan.high} high (max ${policy.maxHigh})`);
    if (over.length > 0) {
        throw new Error(`image gate: ${image} has ${over.join(" and ")} vulnerabilities: ${scan.findings.join("; ") || "(no ids listed)"}`);
    }
}
