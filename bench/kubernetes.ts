// The Kubernetes target's bench, on the real engine, provider and cluster (scripts/kubernetes/bench.sh starts the
// embedded one and stops it; or any cluster with `cluster.sh env`'s variables). Each figure is a ratio from this
// one run, so a noisy machine moves both sides together:
//   - changeover time (one `pulumi up` that repaves) against its floor: the candidate's pods from creation to
//     Ready (pod start + the readiness threshold, from the cluster's own timestamps) + keepWarmSeconds (the bake);
//   - failed requests under steady HTTPS load (autocannon, keep-alive, through the production NodePort) across the
//     repaves, as a ratio of all requests.
//   node bench/kubernetes.ts [--repaves N]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot, startLoad } from "../test/e2e/harness.ts";
import { clusterEnv, KubernetesStack, kubectlJson, Registry, skipReason } from "../test/e2e/kubernetes/cluster.ts";

const { values } = parseArgs({ options: { repaves: { type: "string", default: "5" } } });
const repaves = Math.max(1, Math.min(10, Number(values.repaves)));
const rate = Number(process.env["REPAVE_K8S_LOAD_RATE"] ?? 400);

interface Pod {
    metadata: { creationTimestamp: string };
    status: { conditions?: { type: string; status: string; lastTransitionTime: string }[]; containerStatuses?: { state?: { running?: { startedAt: string } } }[] };
}

/** The generation's pods: creation -> container running -> Ready, the slowest pod (the Deployment waits for all). */
function podTimes(stack: KubernetesStack, generation: string): { startMs: number; readyMs: number } {
    const pods = kubectlJson<{ items: Pod[] }>(["-n", stack.namespace, "get", "pods", "-l", `repave.dev/generation=${generation}`]).items;
    if (pods.length === 0) throw new Error(`no pods of ${generation}`);
    let startMs = 0;
    let readyMs = 0;
    for (const pod of pods) {
        const created = Date.parse(pod.metadata.creationTimestamp);
        const running = Date.parse(pod.status.containerStatuses?.[0]?.state?.running?.startedAt ?? "");
        const ready = Date.parse(pod.status.conditions?.find((c) => c.type === "Ready" && c.status === "True")?.lastTransitionTime ?? "");
        if (Number.isNaN(running) || Number.isNaN(ready)) throw new Error(`pod of ${generation} not running and ready`);
        startMs = Math.max(startMs, running - created);
        readyMs = Math.max(readyMs, ready - created);
    }
    return { startMs, readyMs };
}

async function timedUp(stack: KubernetesStack): Promise<number> {
    const started = performance.now();
    const r = await stack.up();
    if (r.code !== 0) throw new Error(`pulumi up failed:\n${r.out}`);
    return performance.now() - started;
}

async function main(): Promise<void> {
    const reason = skipReason();
    if (reason) throw new Error(`bench/kubernetes: ${reason}`);
    const cluster = clusterEnv();
    const registry = new Registry(cluster);
    const stack = await KubernetesStack.create("k8s-bench");
    try {
        await registry.tag("repave/sample-api", "1.1.0", stack.namespaceTag());
        await stack.prepare(cluster, `${cluster.registry}/repave/sample-api`, stack.namespaceTag());
        const api = stack.api as { keepWarmSeconds: number };
        await timedUp(stack); // first deploy: the front door, not a changeover

        let credential = await stack.credential();
        const load = startLoad(stack.nodePort(), () => credential, 1800, "127.0.0.1", rate);
        const ups: number[] = [];
        const pods: { startMs: number; readyMs: number }[] = [];
        try {
            for (let i = 0; i < repaves; i++) {
                ups.push(await timedUp(stack));
                pods.push(podTimes(stack, (await stack.hello()).generation));
                credential = await stack.credential();
                console.log(`repave ${i + 1}: ${(ups.at(-1)! / 1000).toFixed(1)} s; pods ready ${pods.at(-1)!.readyMs} ms after creation`);
            }
        } finally {
            const report = await load.stop();
            const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
            if (ups.length === repaves) {
                const readyMs = median(pods.map((p) => p.readyMs));
                const floorMs = readyMs + api.keepWarmSeconds * 1000;
                const results = {
                    date: new Date().toISOString(),
                    target: "kubernetes",
                    repaves,
                    changeoverMedianMs: Math.round(median(ups)),
                    changeoverMs: ups.map(Math.round),
                    floorMs,
                    changeoverOverFloor: Number((median(ups) / floorMs).toFixed(1)),
                    podStartMedianMs: median(pods.map((p) => p.startMs)),
                    podReadyMedianMs: readyMs,
                    keepWarmMs: api.keepWarmSeconds * 1000,
                    load: { rate, requests: report.requests, failed: report.failed, failedRatio: report.requests ? report.failed / report.requests : 0 },
                };
                console.log(`changeover (median of ${repaves} repaves): ${results.changeoverMedianMs} ms`);
                console.log(`floor (pods created -> Ready ${readyMs} ms, of which start ${results.podStartMedianMs} ms; + keep-warm ${results.keepWarmMs} ms): ${floorMs} ms`);
                console.log(`changeover / floor: ${results.changeoverOverFloor}x`);
                console.log(`under load across ${repaves} repaves: ${report.requests} requests, ${report.failed} failed (ratio ${results.load.failedRatio})`);
                mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
                writeFileSync(join(repoRoot, "bench", "results", "kubernetes.json"), JSON.stringify(results, null, 2));
            }
        }
    } finally {
        await stack.cleanup();
    }
}

await main();
