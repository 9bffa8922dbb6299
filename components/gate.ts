// The gate every cloud target puts between its candidate and its switch: the shared synthetic transactions,
// run from the deploying machine (the CD runner) against the candidate's test route. The switch resource takes
// `gate.generation` as an input, so the engine cannot move traffic before the gate passed (I2) - ordering by
// data, not by convention.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "./changeover.ts";
import type { KnownCredentials, ProbeResult, ProbeSuite } from "./probes.ts";
import { readScanReport, type ScanPolicy, type ScanSummary } from "./scan.ts";
import type { StatelessApiSpec } from "./spec.ts";
import { moduleFile } from "./module-file.ts";

/** Where a probe suite runs from the deploying machine: an address, the name it serves (SNI and Host), its trust. */
export interface ProbeEndpoint {
    api: string;
    generation: string;
    host: string;
    port: number;
    serverName: string;
    caPem: string | null;
    credential: string;
}

/** The gate probes the candidate where it answers before it takes traffic (test listener, tagged URL, preview Service). */
export interface ProbeGateInputs extends ProbeEndpoint {
    /**
     * Secrets the target knows besides the candidate's credential: the grace credential it also accepts (its near
     * misses are attacked too) and revoked ones (each must be refused). Targets that keep no history pass none.
     */
    previousCredential?: string | null;
    revokedCredentials?: string[];
    probes: ProbeSuite;
    /** Load balancers take a while to see new targets: retry the suite until it passes or this runs out. */
    settleSeconds: number;
    /** The candidate image's scan summary (components/scan.ts) and the policy it must meet; null: no report. */
    scan?: ScanSummary | null;
    scanPolicy?: ScanPolicy;
    /** The pinned image id: the report must name it. */
    image?: string;
}

export interface ProbeGateOutputs {
    generation: string;
    passedAt: string;
    /** The image gate's verdict: which scanner, what it found, or that the spec let an unscanned image through. */
    imageScan: string;
    results: ProbeResult[];
}

const PROBES = moduleFile("./probes.ts", import.meta.url);
const SCAN = moduleFile("./scan.ts", import.meta.url);

/** @internal Runs inside the dynamic-provider process. */
async function runGate(inputs: ProbeGateInputs): Promise<ProbeGateOutputs> {
    const load = process.getBuiltinModule("node:module").createRequire(PROBES);
    const probes = load(PROBES) as typeof import("./probes.ts");
    // The image gate first: a vulnerable, unscanned or wrongly scanned candidate is refused before anyone talks to it.
    const policy = inputs.scanPolicy ?? { maxCritical: 0, maxHigh: null, allowMissingReport: false };
    const imageScan = (load(SCAN) as typeof import("./scan.ts")).checkScan(inputs.scan ?? null, policy, inputs.image ?? inputs.generation);
    const endpoint = { host: inputs.host, port: inputs.port, serverName: inputs.serverName, caPem: inputs.caPem ?? undefined };
    const known: KnownCredentials = { previous: inputs.previousCredential ?? null, revoked: inputs.revokedCredentials ?? [] };
    const deadline = Date.now() + inputs.settleSeconds * 1000;
    for (;;) {
        const report = await probes.runProbeSuite(endpoint, inputs.probes, inputs.credential, known);
        if (report.passed) return { generation: inputs.generation, passedAt: new Date().toISOString(), imageScan, results: report.results };
        if (Date.now() > deadline) {
            throw new Error(`gate: candidate ${inputs.generation} of ${inputs.api} failed on its test route; traffic stays where it is. ${probes.summarize(report)}`);
        }
        await new Promise((r) => setTimeout(r, 5_000));
    }
}

const gateKeys = ["generation", "host", "port", "serverName", "probes", "scan", "scanPolicy"] as const;

const provider: pulumi.dynamic.ResourceProvider = {
    // Outputs carry the inputs too, so the next diff compares like with like and a gate re-runs only for a
    // new generation or new probes.
    async create(inputs: ProbeGateInputs) {
        return { id: `gate-${inputs.api}`, outs: { ...inputs, ...(await runGate(inputs)) } };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { changes: gateKeys.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
    },
    async update(_id: string, _olds: unknown, news: ProbeGateInputs) {
        return { outs: { ...news, ...(await runGate(news)) } };
    },
};


/**
 * The scan inputs of a ProbeGate for a spec: the report file's summary (read now, at deploy time), the policy and
 * the pinned image the report must name. Deploying without a report is refused by the gate unless the spec allows
 * it; then this says so in the update's output, and the gate records it.
 */
export function scanInputs(spec: StatelessApiSpec, image: string): Pick<ProbeGateInputs, "scan" | "scanPolicy" | "image"> {
    if (!spec.scan.reportFile && spec.scan.allowMissingReport) {
        void pulumi.log.warn(`${spec.name}: scan.allowMissingReport is true and no scan.reportFile is set: image ${image} is promoted without a scan report`);
    }
    return {
        scan: spec.scan.reportFile ? readScanReport(spec.scan.reportFile) : null,
        scanPolicy: { maxCritical: spec.scan.maxCritical, maxHigh: spec.scan.maxHigh ?? null, allowMissingReport: spec.scan.allowMissingReport },
        image,
    };
}

/** The gate resource (`pulumi-nodejs:dynamic/repave:ProbeGate`). Updated, never replaced, on every new generation. */
export class ProbeGate extends pulumi.dynamic.Resource {
    declare readonly generation: pulumi.Output<string>;
    declare readonly passedAt: pulumi.Output<string>;
    declare readonly imageScan: pulumi.Output<string>;
    declare readonly results: pulumi.Output<ProbeResult[]>;
    constructor(name: string, args: InputsOf<ProbeGateInputs>, opts?: pulumi.CustomResourceOptions) {
        super(provider, name, { ...args, passedAt: undefined, imageScan: undefined, results: undefined }, {
            ...opts,
            additionalSecretOutputs: ["credential", "previousCredential", "revokedCredentials"],
        }, "repave", "ProbeGate");
    }
}
