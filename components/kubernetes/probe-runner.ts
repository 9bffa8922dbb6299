// Runs inside the cluster: the gate Job (REPAVE_MODE=gate: positive and negative probes against the preview Service,
// retried while the candidate settles) and the monitor CronJob (REPAVE_MODE=monitor: positive probes against the
// production Service; with REPAVE_ALERT_WEBHOOK_URL a failure is posted there) and the bake Job (REPAVE_MODE=bake:
// positive probes against production after the switch; a failure switches production back, see bake()). It is shipped in a ConfigMap beside components/probes.ts, so the cluster runs the very
// probes the other targets run, on a stock Node.js image (>= 22.18 runs TypeScript by stripping types).
// Exit code 0: passed. 1: failed - the Job fails, and with it the `pulumi up` (a gate's before the switch).
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:https";
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
if (mode === "bake") {
    report = await bake();
} else for (;;) {
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

/**
 * The bake (REPAVE_MODE=bake), after the switch, while the previous generation still runs: the positive probes
 * against production every REPAVE_INTERVAL_SECONDS for REPAVE_BAKE_SECONDS. A failure moves the production
 * Service's selector back to the generation its `repave.dev/previous-generation` annotation names, at once (a merge patch through the Kubernetes API, with
 * this Job's ServiceAccount, allowed only get and patch on that one Service) and fails the Job - and the update,
 * before the credential promotion and before the engine deletes the previous generation. A rerun of the same
 * generation (its bake Job is replaced) switches production to the candidate again first, then bakes again.
 */
async function bake(): Promise<ProbeReport> {
    const api = kubeApi();
    const service = `/api/v1/namespaces/${required("REPAVE_NAMESPACE")}/services/${required("REPAVE_SERVICE")}`;
    const candidate = required("REPAVE_GENERATION");
    const select = (generation: string, why: string) =>
        api("PATCH", `${service}?fieldManager=repave-bake`, { metadata: { annotations: { "repave.dev/gate-passed": generation, "repave.dev/bake": why } }, spec: { selector: { "repave.dev/generation": generation } } });
    const live = (await api("GET", service)) as { metadata?: { annotations?: Record<string, string> }; spec?: { selector?: Record<string, string> } };
    // The switch wrote it: the generation production served before this deploy (empty on a first deploy).
    const previous = live.metadata?.annotations?.["repave.dev/previous-generation"] || null;
    if (live.spec?.selector?.["repave.dev/generation"] !== candidate) {
        console.log(`bake: production selects ${live.spec?.selector?.["repave.dev/generation"] ?? "nothing"}, not ${candidate} (an earlier bake moved it back): switching to ${candidate} again`);
        await select(candidate, `switched to ${candidate}`);
    }
    const until = Date.now() + Number(process.env["REPAVE_BAKE_SECONDS"] ?? "0") * 1000;
    const interval = Number(process.env["REPAVE_INTERVAL_SECONDS"] ?? "1") * 1000;
    let rounds = 0;
    for (;;) {
        const round = await runPositive(endpoint, suite, credential);
        rounds++;
        if (!round.passed) {
            if (previous) {
                await select(previous, `${candidate} failed its bake; switched back to ${previous}`);
                console.log(`bake: ${candidate} failed on production after the switch; production is back on ${previous}`);
            } else {
                console.log(`bake: ${candidate} failed on production after the switch; no previous generation to switch back to`);
            }
            return round;
        }
        if (Date.now() >= until) {
            console.log(`bake: ${rounds} rounds of positive probes passed on production`);
            return round;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, until - Date.now()))));
    }
}

/** The Kubernetes API from inside a pod: the ServiceAccount's token and CA, the `kubernetes` Service's address. */
function kubeApi(): (method: "GET" | "PATCH", path: string, body?: unknown) => Promise<unknown> {
    const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    const host = required("KUBERNETES_SERVICE_HOST");
    const port = Number(required("KUBERNETES_SERVICE_PORT"));
    const ca = readFileSync(`${dir}/ca.crt`, "utf8");
    return async (method, path, body) => {
        const token = readFileSync(`${dir}/token`, "utf8").trim();
        const payload = body === undefined ? undefined : JSON.stringify(body);
        return new Promise((resolve, reject) => {
            const req = request(
                {
                    host,
                    port,
                    path,
                    method,
                    ca,
                    headers: {
                        authorization: `Bearer ${token}`,
                        accept: "application/json",
                        ...(payload ? { "content-type": "application/merge-patch+json", "content-length": Buffer.byteLength(payload) } : {}),
                    },
                    timeout: 10_000,
                },
                (res) => {
                    let text = "";
                    res.setEncoding("utf8");
                    res.on("data", (c: string) => (text += c)).on("end", () => {
                        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
                        else resolve(JSON.parse(text) as unknown);
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
            req.on("error", reject);
            req.end(payload);
        });
    };
}
