// The last thing a retiring generation does: wait. After the switch the production URL map no longer names the old
// backend service, but Google's front ends pick up load-balancer configuration over a minute or two, and requests
// already on the old instances must finish (I6). This generation-scoped resource depends on the backend service, so
// when the engine deletes the old generation at the end of a successful update it deletes this first - and its
// delete sleeps for the propagation delay plus spec.drainSeconds before the backend service and instances go.
import * as pulumi from "@pulumi/pulumi";

interface RetirementInputs {
    api: string;
    generation: string;
    /** The backend service this waits in front of (its only purpose is the dependency). */
    backendService: string;
    waitSeconds: number;
}

/** @internal Exported for tests: what the engine runs for this resource. */
export const retirementProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RetirementInputs) {
        return { id: `retirement-${inputs.api}-${inputs.generation}`, outs: inputs };
    },
    async diff(_id: string, olds: RetirementInputs, news: RetirementInputs) {
        const replaces = (["api", "generation", "backendService"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0 || olds.waitSeconds !== news.waitSeconds, replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: RetirementInputs, news: RetirementInputs) {
        return { outs: news };
    },
    async delete(_id: string, olds: RetirementInputs) {
        await new Promise((resolve) => setTimeout(resolve, olds.waitSeconds * 1000));
    },
};

/** @internal `pulumi-nodejs:dynamic/repave:Retirement`. */
export class Retirement extends pulumi.dynamic.Resource {
    constructor(name: string, args: { [K in keyof RetirementInputs]: pulumi.Input<RetirementInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(retirementProvider, name, args, opts, "repave", "Retirement");
    }
}
