// Runs inside the cluster: the gate Job (REPAVE_MODE=gate: positive and negative probes against the preview Service,
// retried while the candidate settles) and the monitor CronJob (REPAVE_MODE=monitor: positive probes against the
// production Service). It is shipped in a ConfigMap beside components/probes.ts, so the cluster runs the very
// probes the other targets run, on a stock Node.js image (>= 22.18 runs TypeScript by stripping types).
// Exit code 0: passed. 1: failed - the Job fails, and with it the `pulumi up`, before the switch.
import { existsSync, readFileSync } from "node:fs";
import { runPositive, runProbeSuite, summarize, type ProbeReport, type ProbeSuite } from "../probes.ts";

function required(key: string): string {
    const value = process.env[key];
    if (!value) throw new Error(`${key} is required`);
    return value;
}

const mode = required("REPAVE_MODE");
const suite = JSON.parse(readFileSync(required("REPAVE_SUITE_FILE"), "utf8")) as ProbeSuite;
const caFile = process.env["REPAVE_CA_FILE"];
const endpoint = {
    host: required("REPAVE_TARGET_HOST"),
    port: Number(required("REPAVE_TARGET_PORT")),
    serverName: required("REPAVE_SERVER_NAME"),
    caPem: caFile && existsSync(caFile) && readFileSync(caFile, "utf8").trim() ? readFileSync(caFile, "utf8") : undefined,
};
const credential = required("REPAVE_CREDENTIAL");
// Optional, from Secrets where the target keeps them: the grace credential the candidate also accepts (its near
// misses are attacked too) and a revoked one (must be refused). Neither is ever printed: results name cases only.
const known = {
    previous: process.env["REPAVE_PREVIOUS_CREDENTIAL"] || null,
    revoked: process.env["REPAVE_REVOKED_CREDENTIAL"] ? [process.env["REPAVE_REVOKED_CREDENTIAL"]] : [],
};
const deadline = Date.now() + Number(process.env["REPAVE_SETTLE_SECONDS"] ?? "0") * 1000;

let report: ProbeReport;
for (;;) {
    report = mode === "gate" ? await runProbeSuite(endpoint, suite, credential, known) : await runPositive(endpoint, suite, credential);
    if (report.passed || Date.now() >= deadline) break;
    console.log(`not yet: ${summarize(report)}`);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
}
const generation = process.env["REPAVE_GENERATION"] ?? null;
console.log(JSON.stringify({ mode, generation, passed: report.passed, results: report.results }));
// A failed monitor run alerts: the Job fails (the job controller records a BackoffLimitExceeded Warning Event on it,
// kept with failedJobsHistoryLimit), and with REPAVE_ALERT_WEBHOOK_URL (from a Secret: such URLs carry a token) the
// runner posts the failure there - JSON with a Slack-style `text`, case names only, never a credential or the URL.
if (!report.passed && mode === "monitor" && process.env["REPAVE_ALERT_WEBHOOK_URL"]) {
    const failed = report.results.filter((r) => !r.ok).map((r) => r.name);
    const text = `repave monitor: ${process.env["REPAVE_API"] ?? "api"} FAILED in production (generation ${generation ?? "?"}): ${summarize(report)}`;
    const alert = { source: "repave-monitor", api: process.env["REPAVE_API"] ?? null, generation, target: `${endpoint.host}:${endpoint.port}`, failed, text, at: new Date().toISOString() };
    try {
        const response = await fetch(process.env["REPAVE_ALERT_WEBHOOK_URL"], {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(alert),
            signal: AbortSignal.timeout(10_000),
        });
        console.log(`alert webhook: HTTP ${response.status}`);
    } catch (error) {
        // The Job fails either way; its Event still alerts whoever watches them.
        console.log(`alert webhook: not delivered (${(error as Error).name})`);
    }
}
console.log(`${mode} ${report.passed ? "passed" : "FAILED"}: ${summarize(report)}`);
process.exitCode = report.passed ? 0 : 1;
