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
console.log(JSON.stringify({ mode, generation: process.env["REPAVE_GENERATION"] ?? null, passed: report.passed, results: report.results }));
console.log(`${mode} ${report.passed ? "passed" : "FAILED"}: ${summarize(report)}`);
process.exitCode = report.passed ? 0 : 1;
