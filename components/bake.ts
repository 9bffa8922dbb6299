// The bake every cloud target runs after its switch (the local target bakes inside its Switch, components/local/
// changeover.ts): production is probed for `keepWarmSeconds` while the previous generation is still warm - the
// engine deletes it only after this update succeeded - and a failure routes production back to it and fails the
// update, so nothing after the bake (promotion, monitor, retirement) happens.
//
// A cloud's route is a load-balancer object the program owns (an ALB listener, a URL map), so going back is one
// call of the cloud's CLI on the deploying machine (`aws`, `gcloud`: what the engine's provider would call, with the
// same identity): `route` is that command for this generation. The previous generation's `route` is the bake's own
// output from the last successful update (the engine hands it back as `olds`), so the bake knows where to go back
// without reading the cloud.
//
// A retry after a switch-back: the engine still records production on the new generation (its listener or URL map
// update succeeded), so it would not move it again; the bake therefore applies its own `route` first whenever the
// generation changed - a no-op unless an earlier bake of this generation went back.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "./changeover.ts";
import type { ProbeEndpoint } from "./gate.ts";
import { moduleFile } from "./module-file.ts";
import type { ProbeResult, ProbeSuite } from "./probes.ts";

const PROBES = moduleFile("./probes.ts", import.meta.url);

/**
 * The bake probes production (the load balancer's address, production port and name) for the generation production
 * was switched to (the gate's output: the bake comes after the switch).
 */
export interface BakeInputs extends ProbeEndpoint {
    probes: ProbeSuite;
    keepWarmSeconds: number;
    intervalSeconds: number;
    /** How long production may take to answer for the new generation at first (the route's propagation). */
    settleSeconds: number;
    /** The CLI command (argv) that routes production to this generation. */
    route: string[];
}

export interface BakeOutputs extends BakeInputs {
    bakedAt: string;
    /** Production probes run during the bake. */
    bakeProbes: number;
    results: ProbeResult[];
}

/** @internal Runs inside the dynamic-provider process: builtins through process.getBuiltinModule only. */
export async function bake(inputs: BakeInputs, previous: { generation: string; route: string[] } | null): Promise<BakeOutputs> {
    const probes = process.getBuiltinModule("node:module").createRequire(PROBES)(PROBES) as typeof import("./probes.ts");
    const { execFileSync } = process.getBuiltinModule("node:child_process");
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const run = (argv: string[], why: string) => {
        try {
            execFileSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
        } catch (err) {
            const e = err as { stderr?: Buffer; message: string };
            throw new Error(`bake: could not ${why} (${argv.join(" ")}): ${e.stderr?.toString().trim() || e.message}`);
        }
    };
    if (previous) run(inputs.route, `route production to ${inputs.generation}`);
    const endpoint = { host: inputs.host, port: inputs.port, serverName: inputs.serverName, caPem: inputs.caPem ?? undefined };
    const settleBy = Date.now() + inputs.settleSeconds * 1000;
    let bakeUntil: number | null = null;
    let bakeProbes = 0;
    for (;;) {
        const report = await probes.runPositive(endpoint, inputs.probes, inputs.credential);
        bakeProbes += report.results.length;
        // Until production first answers for the new generation, failures are the route propagating; after that
        // every failure counts.
        if (report.passed && bakeUntil === null) bakeUntil = Date.now() + inputs.keepWarmSeconds * 1000;
        if (report.passed && bakeUntil !== null && Date.now() >= bakeUntil) {
            return { ...inputs, bakedAt: new Date().toISOString(), bakeProbes, results: report.results };
        }
        if (!report.passed && (bakeUntil !== null || Date.now() > settleBy)) {
            if (!previous) {
                throw new Error(`bake: ${inputs.generation} of ${inputs.api} fails on production and there is no previous generation to go back to. ${probes.summarize(report)}`);
            }
            run(previous.route, `route production back to ${previous.generation}`);
            throw new Error(
                `bake: ${inputs.generation} of ${inputs.api} failed on production after the switch; traffic is back on ${previous.generation} ` +
                    `(still warm), and the update fails so it is not deleted. ${probes.summarize(report)}`,
            );
        }
        await sleep(Math.max(1, inputs.intervalSeconds) * 1000);
    }
}

/** @internal Exported for tests: what the engine runs for a Bake. */
export const bakeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BakeInputs) {
        return { id: `bake-${inputs.api}`, outs: await bake(inputs, null) };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { changes: (["generation", "host", "port", "serverName", "route"] as const).some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
    },
    async update(_id: string, olds: BakeOutputs, news: BakeInputs) {
        // `olds` are the outputs of the last successful bake: production's route before this update's switch.
        const previous = olds.generation !== news.generation ? { generation: olds.generation, route: olds.route } : null;
        return { outs: await bake(news, previous) };
    },
};

/** `pulumi-nodejs:dynamic/repave:Bake`: updated (never replaced) once per new generation, after the switch. */
export class Bake extends pulumi.dynamic.Resource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly bakedAt: pulumi.Output<string>;
    constructor(name: string, args: InputsOf<BakeInputs>, opts?: pulumi.CustomResourceOptions) {
        super(bakeProvider, name, { ...args, bakedAt: undefined, bakeProbes: undefined, results: undefined }, { ...opts, additionalSecretOutputs: ["credential"] }, "repave", "Bake");
    }
}
