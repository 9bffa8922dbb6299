// The image scan gate, once for every target: a candidate is promoted only with a scan report that names the very
// image pinned for it and has no more findings than the spec's `scan` policy allows. No report means refused
// (fail closed) unless the spec says `scan.allowMissingReport: true`, which the gate then records. Reports come
// from the image itself (the local builds' record, bound to the content hash) or from the file the pipeline's
// scanner wrote (`scan.reportFile`: repave's own summary, or Trivy's JSON).
import { existsSync, readFileSync } from "node:fs";

export interface ScanSummary {
    critical: number;
    high: number;
    findings: string[];
    /** What the report says it scanned (image ids, digests, references): it must name the pinned image. */
    images: string[];
    /** Who wrote the report, for the gate's record. */
    scanner: string;
}

export interface ScanPolicy {
    maxCritical: number;
    maxHigh: number | null;
    /** Promote an image that has no report at all (said in the gate's outputs); never one with someone else's report. */
    allowMissingReport: boolean;
}

interface TrivyReport {
    ArtifactName?: string;
    Metadata?: { ImageID?: string; RepoDigests?: string[] | null };
    Results?: Array<{ Target?: string; Vulnerabilities?: Array<{ VulnerabilityID: string; Severity: string; PkgName?: string }> | null }>;
}

interface RepaveSummary {
    image?: string;
    scanner?: string;
    critical?: number;
    high?: number;
    findings?: string[];
}

/**
 * Reads a scan report: Trivy's JSON (`trivy image -f json <repo>@<digest>`, `trivy vm -f json ami:<id>`), which
 * names its artifact in ArtifactName, Metadata.ImageID and Metadata.RepoDigests, or repave's summary
 * `{"image": "<pinned id>", "critical": n, "high": n, "findings": [...]}`.
 */
export function readScanReport(file: string): ScanSummary {
    if (!existsSync(file)) throw new Error(`scan.reportFile: ${file} does not exist (hint: run the image scanner before the deploy, or remove reportFile)`);
    const raw = JSON.parse(readFileSync(file, "utf8")) as RepaveSummary & TrivyReport;
    if (Array.isArray(raw.Results)) {
        const vulns = raw.Results.flatMap((r) => r.Vulnerabilities ?? []);
        const of = (severity: string) => vulns.filter((v) => v.Severity === severity);
        const named = [...of("CRITICAL"), ...of("HIGH")].map((v) => `${v.VulnerabilityID} (${v.Severity.toLowerCase()}${v.PkgName ? `, ${v.PkgName}` : ""})`);
        const images = [raw.ArtifactName, raw.Metadata?.ImageID, ...(raw.Metadata?.RepoDigests ?? [])].filter((i): i is string => typeof i === "string" && i.length > 0);
        return { critical: of("CRITICAL").length, high: of("HIGH").length, findings: named, images, scanner: "trivy" };
    }
    if (typeof raw.critical !== "number" || typeof raw.high !== "number") {
        throw new Error(`scan.reportFile: ${file} is neither a Trivy JSON report nor {"image": "...", "critical": n, "high": n, "findings": [...]}`);
    }
    const images = typeof raw.image === "string" && raw.image.length > 0 ? [raw.image] : [];
    return { critical: raw.critical, high: raw.high, findings: raw.findings ?? [], images, scanner: raw.scanner ?? `report ${file}` };
}

// One image, several spellings: Trivy writes `ami:<id>` for an AMI, GCP self-links carry the API's URL.
const computeApi = /^https:\/\/(www|compute)\.googleapis\.com\/compute\/(v1|beta)\//;
const normalize = (id: string) => id.trim().replace(/^ami:/, "").replace(computeApi, "");
const digestOf = (id: string) => /(?:^|@)(sha256:[0-9a-f]{64})$/.exec(id)?.[1];

/**
 * Does the report name the pinned image? The same id, or the same content digest (`repo@sha256:...` in
 * RepoDigests for a container pinned by digest; the content hash of a local build). A tag never binds: it moves.
 */
export function reportNamesImage(images: readonly string[], pinned: string): boolean {
    const want = normalize(pinned);
    const digest = digestOf(want);
    return images.map(normalize).some((id) => id === want || (digest !== undefined && digestOf(id) === digest));
}

/**
 * Throws, naming the reason, when the candidate image may not be promoted: no report (unless allowed), a report
 * of another image, or findings over the policy. Returns the verdict the gate records.
 */
export function checkScan(scan: ScanSummary | null, policy: ScanPolicy, image: string, label: string = image): string {
    if (!scan) {
        if (policy.allowMissingReport) return `no scan report for ${label}: promoted unscanned because scan.allowMissingReport is true`;
        throw new Error(
            `image gate: no scan report for ${label}; an unscanned image is never promoted ` +
                `(hint: point scan.reportFile at the scanner's report for ${image} - Trivy JSON, or {"image", "critical", "high", "findings"} - ` +
                `or set scan.allowMissingReport: true to deploy it unscanned, which the gate records)`,
        );
    }
    if (!reportNamesImage(scan.images, image)) {
        throw new Error(
            `image gate: the scan report (${scan.scanner}) is for ${scan.images.join(", ") || "an image it does not name"}, not the pinned image ${image}; refused ` +
                `(hint: scan the pinned image by id or digest: Trivy JSON names it in ArtifactName or Metadata.RepoDigests, repave's summary in "image")`,
        );
    }
    const over: string[] = [];
    if (scan.critical > policy.maxCritical) over.push(`${scan.critical} critical (max ${policy.maxCritical})`);
    if (policy.maxHigh !== null && scan.high > policy.maxHigh) over.push(`${scan.high} high (max ${policy.maxHigh})`);
    if (over.length > 0) {
        throw new Error(`image gate: ${label} has ${over.join(" and ")} vulnerabilities: ${scan.findings.join("; ") || "(no ids listed)"}`);
    }
    return `scanned by ${scan.scanner}: ${scan.critical} critical, ${scan.high} high, report bound to ${image}`;
}
