// Reach for the gate from a CD runner without a stable address (hosted runners have none), and the test route
// closed again once it served its purpose. Both are calls of the cloud's CLI on the deploying machine, with the
// deploy's own identity - the same calls the provider would make, on objects the program does not own rule by rule:
//
//   RunnerAccess   before the gate: opens the test listener to the runner's current address (a /32 or /128), and
//                  first closes the address the previous deploy opened, if that deploy failed before closing it.
//   AfterSwitch    after the bake: closes the runner's address again and runs the target's other after-switch
//                  commands (the AWS test listener answers a fixed 404 once production took the candidate). It never
//                  fails the update - production is already right - but reports what it could not do.
//
// The runner's address comes from REPAVE_RUNNER_IP (CI can set it), else from an address echo service.
import * as pulumi from "@pulumi/pulumi";
import type { InputsOf } from "./changeover.ts";

/** `{cidr}` in an argv is replaced by the runner's address as a CIDR. */
export const CIDR = "{cidr}";

export interface RunnerAccessInputs {
    api: string;
    generation: string;
    /** Opens the test listener to `{cidr}`. */
    open: string[];
    /** Closes it again (also used for the address a failed earlier deploy left open). */
    close: string[];
    /** Exit texts of `open` that mean "already open" (a retry), and of `close` that mean "already closed". */
    alreadyDone: string[];
}

export interface RunnerAccessOutputs extends RunnerAccessInputs {
    cidr: string;
}

/** @internal Runs inside the dynamic-provider process: builtins through process.getBuiltinModule only. */
export async function runCommands(commands: string[][], cidr: string, alreadyDone: string[]): Promise<string[]> {
    const { execFileSync } = process.getBuiltinModule("node:child_process");
    const problems: string[] = [];
    for (const template of commands) {
        const argv = template.map((a) => a.split("{cidr}").join(cidr));
        try {
            execFileSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
        } catch (err) {
            const e = err as { stderr?: Buffer; message: string };
            const text = e.stderr?.toString().trim() || e.message;
            if (!alreadyDone.some((done) => text.includes(done))) problems.push(`${argv.join(" ")}: ${text}`);
        }
    }
    return problems;
}

/** @internal The runner's egress address as a CIDR. */
export async function runnerCidr(): Promise<string> {
    const net = process.getBuiltinModule("node:net");
    let ip = process.env["REPAVE_RUNNER_IP"]?.trim() ?? "";
    if (!ip) {
        // An address echo service: what the load balancer will see as the runner's source address.
        const res = await fetch("https://checkip.amazonaws.com/", { signal: AbortSignal.timeout(10_000) });
        ip = (await res.text()).trim();
    }
    if (!net.isIP(ip)) throw new Error(`gate access: the runner's address "${ip}" is not an IP address (hint: set REPAVE_RUNNER_IP to the CD runner's egress address)`);
    return net.isIPv6(ip) ? `${ip}/128` : `${ip}/32`;
}

async function open(inputs: RunnerAccessInputs, previous: RunnerAccessOutputs | null): Promise<RunnerAccessOutputs> {
    // A deploy that failed between its RunnerAccess and its AfterSwitch left its address open: close it first.
    if (previous?.cidr) await runCommands([previous.close], previous.cidr, previous.alreadyDone);
    const cidr = await runnerCidr();
    const problems = await runCommands([inputs.open], cidr, inputs.alreadyDone);
    if (problems.length > 0) throw new Error(`gate access: could not open the test listener to ${cidr}, so the gate cannot reach it: ${problems.join("; ")}`);
    return { ...inputs, cidr };
}

/** @internal Exported for tests: what the engine runs for a RunnerAccess. */
export const runnerAccessProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RunnerAccessInputs) {
        return { id: `runner-access-${inputs.api}`, outs: await open(inputs, null) };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        // A new generation is a new deploy through the test listener: open again (the runner may be another).
        return { changes: (["generation", "open", "close"] as const).some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
    },
    async update(_id: string, olds: RunnerAccessOutputs, news: RunnerAccessInputs) {
        return { outs: await open(news, olds) };
    },
    async delete(_id: string, olds: RunnerAccessOutputs) {
        if (olds.cidr) await runCommands([olds.close], olds.cidr, olds.alreadyDone);
    },
};

/** `pulumi-nodejs:dynamic/repave:RunnerAccess`: the test listener open to the deploying machine, for the gate. */
export class RunnerAccess extends pulumi.dynamic.Resource {
    declare readonly cidr: pulumi.Output<string>;
    declare readonly close: pulumi.Output<string[]>;
    constructor(name: string, args: InputsOf<RunnerAccessInputs>, opts?: pulumi.CustomResourceOptions) {
        super(runnerAccessProvider, name, { ...args, cidr: undefined }, opts, "repave", "RunnerAccess");
    }
}

export interface AfterSwitchInputs {
    api: string;
    generation: string;
    /** Run in order after the bake; `{cidr}` is `cidr`. */
    commands: string[][];
    /** The runner's address RunnerAccess opened, or "" when the target opened none. */
    cidr: string;
    alreadyDone: string[];
}

/** @internal Exported for tests: what the engine runs for an AfterSwitch. */
export const afterSwitchProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: AfterSwitchInputs) {
        return { id: `after-switch-${inputs.api}`, outs: { ...inputs, problems: await runCommands(inputs.commands, inputs.cidr, inputs.alreadyDone) } };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { changes: (["generation", "commands", "cidr"] as const).some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
    },
    async update(_id: string, _olds: unknown, news: AfterSwitchInputs) {
        return { outs: { ...news, problems: await runCommands(news.commands, news.cidr, news.alreadyDone) } };
    },
};

/** `pulumi-nodejs:dynamic/repave:AfterSwitch`: closes what the deploy opened; `problems` lists what it could not. */
export class AfterSwitch extends pulumi.dynamic.Resource {
    declare readonly problems: pulumi.Output<string[]>;
    constructor(name: string, args: InputsOf<AfterSwitchInputs>, opts?: pulumi.CustomResourceOptions) {
        super(afterSwitchProvider, name, { ...args, problems: undefined }, opts, "repave", "AfterSwitch");
    }
}

/** Warns, in the update's output, about what an AfterSwitch could not close: production is right, the rest is not. */
export function warnProblems(after: AfterSwitch, api: string, parent: pulumi.Resource): void {
    after.problems.apply((problems) => {
        if (problems && problems.length > 0) void pulumi.log.warn(`${api}: after the switch, could not: ${problems.join("; ")} (run these by hand)`, parent);
    });
}
