// Which image each API served before the one it serves now, on every target: what `repave rollback` redeploys.
// A generation is replaced (its old resources deleted), so nothing of it says later which image it ran; this small
// stable record does. It moves only after a changeover succeeded (the program orders it after the whole API
// component: gate, switch and bake), so a failed candidate never becomes "previous" and a rollback never targets it.
import * as pulumi from "@pulumi/pulumi";

/** An image as the driver pins it: the target's immutable id (content hash, AMI id, image self-link, digest
 * reference) and the version people read (build version, AMI name, image name, tag). */
export interface LedgerImage {
    id: string;
    version: string;
}

export interface LedgerState {
    current: LedgerImage;
    /** The image served before `current`, or null until the API has served two. */
    previous: LedgerImage | null;
}

/** @internal Exported for tests: what the engine runs for ImageLedger. Self-contained: dynamic providers are serialized. */
export const imageLedgerProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: { current: LedgerImage }) {
        return { id: "image-ledger", outs: { current: inputs.current, previous: null } satisfies LedgerState };
    },
    async diff(_id: string, olds: LedgerState, news: { current: LedgerImage }) {
        return { changes: olds.current.id !== news.current.id || olds.current.version !== news.current.version };
    },
    async update(_id: string, olds: LedgerState, news: { current: LedgerImage }) {
        // A redeploy of the same image (a repave onto the same build) keeps what came before it.
        const moved = olds.current.id !== news.current.id;
        return { outs: { current: news.current, previous: moved ? olds.current : olds.previous } satisfies LedgerState };
    },
};

export class ImageLedger extends pulumi.dynamic.Resource {
    declare readonly current: pulumi.Output<LedgerImage>;
    declare readonly previous: pulumi.Output<LedgerImage | null>;

    constructor(name: string, args: { current: pulumi.Input<LedgerImage> }, opts?: pulumi.CustomResourceOptions) {
        super(imageLedgerProvider, name, { current: args.current, previous: undefined }, opts, "repave", "ImageLedger");
    }
}

/**
 * The same ledger served by repave's provider plugin (`repave:index:ImageLedger`), where the stack has the plugin (the
 * local target): one Node process fewer per `up` and preview than a dynamic resource's. A stack that held the dynamic
 * one keeps it as the same resource (the alias); the cloud targets keep the dynamic one and need no plugin.
 */
export class PluginImageLedger extends pulumi.CustomResource {
    declare readonly current: pulumi.Output<LedgerImage>;
    declare readonly previous: pulumi.Output<LedgerImage | null>;

    constructor(name: string, args: { current: pulumi.Input<LedgerImage> }, opts: pulumi.CustomResourceOptions & { provider: pulumi.ProviderResource }) {
        super("repave:index:ImageLedger", name, { current: args.current, previous: undefined }, { ...opts, aliases: [...(opts.aliases ?? []), { type: "pulumi-nodejs:dynamic/repave:ImageLedger" }] });
    }
}
