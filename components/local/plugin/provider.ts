// repave's provider plugin (package `repave`), on @pulumi/pulumi/provider: the engine starts it as
// `pulumi-resource-repave` from the folder the project declares (Pulumi.yaml `plugins.providers`), so nothing is
// downloaded and nothing of this code is serialized into state (as dynamic providers did: absolute paths of the
// checkout and the provider's source in every resource).
//
// The engine hands values with secrets marked (the plugin says it accepts secrets); handlers get them plain, and
// what they return is marked again: every output a type declares secret, and every output whose input was secret.
import type * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { handlers, ready, resolveStateDir, type CheckFailure, type Handler, type Props } from "./handlers.ts";
import { schema } from "./schema.ts";
import { secretsOf } from "../secret-properties.ts";

/** The engine's mark of a secret value in a property struct (sdk/go/common/resource/sig). */
const secretSig = "4dabf18193072939515e22adb298388d";
const secretValue = "1b47061264138c4ac30d75fd1eb44270";
/** The engine's placeholder for a value not known yet (in a preview). */
export const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const isSecret = (v: unknown): v is { value: unknown } =>
    typeof v === "object" && v !== null && (v as Record<string, unknown>)[secretSig] === secretValue;

/** A struct with every secret unwrapped, and the top-level keys that were secret. */
export function reveal(props: Props | undefined): { plain: Props; secret: Set<string> } {
    const secret = new Set<string>();
    const walk = (v: unknown): unknown => {
        if (isSecret(v)) return walk(v.value);
        if (Array.isArray(v)) return v.map(walk);
        if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
        return v;
    };
    const plain: Props = {};
    for (const [k, v] of Object.entries(props ?? {})) {
        if (JSON.stringify(v ?? null).includes(secretSig)) secret.add(k);
        plain[k] = walk(v);
    }
    return { plain, secret };
}

/** Outputs with the type's secret keys (secret-properties.ts) and the keys whose inputs were secret marked secret. */
export function conceal(outs: Props, type: string, secretInputs: Set<string>): Props {
    const mark = new Set([...secretsOf(type), ...secretInputs]);
    return Object.fromEntries(Object.entries(outs).map(([k, v]) => [k, mark.has(k) && v !== undefined && v !== null ? { [secretSig]: secretValue, value: v } : v]));
}

const typeOf = (urn: string) => urn.split("::")[2]?.split("$").pop() ?? "";

function handlerFor(urn: string): Handler {
    const handler = handlers[typeOf(urn)];
    if (!handler) throw new Error(`repave provider: unknown resource type ${typeOf(urn)} (this plugin serves ${Object.keys(handlers).join(", ")})`);
    return handler;
}

/** The handler, once the changeover code it runs has loaded (see ready(): check needs neither, so it starts fast). */
async function loadedHandlerFor(urn: string): Promise<Handler> {
    await ready();
    return handlerFor(urn);
}

/** Inputs with declared paths resolved against the project folder. */
function withPaths(handler: Handler, inputs: Props): Props {
    const out = { ...inputs };
    for (const k of handler.paths ?? []) if (typeof out[k] === "string" && out[k] !== unknown) out[k] = resolveStateDir(out[k]);
    return out;
}

/** Missing or mistyped inputs, named: a refusal before anything runs (an unknown value in a preview passes). */
export function checkInputs(handler: Handler, news: Props): CheckFailure[] {
    const failures: CheckFailure[] = [];
    for (const [key, type] of Object.entries(handler.required)) {
        const v = news[key];
        if (v === unknown) continue;
        const actual = Array.isArray(v) ? "array" : v === null ? "null" : typeof v;
        if (v === undefined) failures.push({ property: key, reason: `${key} is required` });
        else if (actual !== type) failures.push({ property: key, reason: `${key} must be ${type === "array" ? "an array" : `a ${type}`}, not ${actual}` });
        else if (type === "number" && !Number.isFinite(v)) failures.push({ property: key, reason: `${key} must be a finite number` });
    }
    for (const key of ["port", "testPort"]) {
        const v = news[key];
        if (typeof v === "number" && !(Number.isInteger(v) && v >= 1 && v <= 65535)) failures.push({ property: key, reason: `${key} must be a TCP port (1-65535), not ${v}` });
    }
    return failures;
}

/** The package's version: its package.json is three folders up from source, four from the compiled dist/. */
const version = (() => {
    for (const up of ["../../../package.json", "../../../../package.json"]) {
        try {
            const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name?: string; version: string };
            if (pkg.name === "repave") return pkg.version;
        } catch {
            // not there: the other layout
        }
    }
    throw new Error("repave provider: its package.json was not found");
})();

/** Drops what a dynamic provider recorded (its serialized code) from the outputs of a resource moved to this plugin. */
const withoutDynamic = (props: Props): Props => Object.fromEntries(Object.entries(props).filter(([k]) => k !== "__provider"));

export const repaveProvider: pulumi.provider.Provider = {
    version,
    getSchema: () => Promise.resolve(JSON.stringify(schema(version))),
    async check(urn, _olds, news) {
        const handler = handlerFor(urn);
        const failures = checkInputs(handler, reveal(news as Props).plain);
        // The inputs go on as they came (secrets still marked): check refuses, it does not rewrite.
        return { inputs: news as Props, failures };
    },
    async diff(_id, urn, olds, news) {
        const handler = await loadedHandlerFor(urn);
        const n = reveal(news as Props).plain;
        const o = reveal(olds as Props).plain;
        const { changes, replaces, deleteBeforeReplace } = await handler.diff(withoutDynamic(o), withPaths(handler, n));
        // A resource a dynamic provider made (its code in the outputs) is updated once, to take that code and its
        // paths out of the state; the update runs no step (below).
        return { changes: changes || "__provider" in o, replaces, deleteBeforeReplace: deleteBeforeReplace ?? false };
    },
    async create(urn, inputs) {
        const handler = await loadedHandlerFor(urn);
        const { plain, secret } = reveal(inputs as Props);
        const { id, outs } = await handler.create(withPaths(handler, plain));
        return { id, outs: conceal(outs, typeOf(urn), secret) };
    },
    async read(id, urn, props) {
        const handler = await loadedHandlerFor(urn);
        const { plain, secret } = reveal(props as Props);
        const current = handler.read ? await handler.read(id, withoutDynamic(plain)) : plain;
        return { id, props: conceal(current, typeOf(urn), secret) };
    },
    async update(_id, urn, olds, news) {
        const handler = await loadedHandlerFor(urn);
        const { plain, secret } = reveal(news as Props);
        const o = reveal(olds as Props).plain;
        const n = withPaths(handler, plain);
        // Only moved from a dynamic provider, nothing else changed: the same outputs, without its code.
        if ("__provider" in o && !(await handler.diff(withoutDynamic(o), n)).changes) return { outs: conceal(withoutDynamic(o), typeOf(urn), secret) };
        const outs = await handler.update(withoutDynamic(o), n);
        return { outs: conceal(outs, typeOf(urn), secret) };
    },
    async delete(_id, urn, props) {
        const handler = await loadedHandlerFor(urn);
        await handler.delete?.(withoutDynamic(reveal(props as Props).plain));
    },
};
