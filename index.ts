// The repave program: reads the stack's `repave:apis`, refuses a bad config before registering anything, and
// builds one StatelessApi per entry on the stack's target.
import * as pulumi from "@pulumi/pulumi";
import { parseApiSpecs, SpecError } from "./components/spec.ts";
import { StatelessApi as LocalStatelessApi } from "./components/local/index.ts";

const config = new pulumi.Config("repave");
const target = config.get("target") ?? "local";

function loadSpecs() {
    try {
        return parseApiSpecs(config.getObject<unknown>("apis"));
    } catch (err) {
        if (err instanceof SpecError) {
            // A RunError prints the message alone: the problems are the point, not a stack trace.
            throw new pulumi.RunError(err.message);
        }
        throw err;
    }
}

/**
 * `repave rollback` pins an API to the image its previous generation ran (REPAVE_IMAGE_PINS={"api":"1.1.0"}): a
 * rollback is a new, gated generation of a known-good image - never a shortcut around the gate.
 */
function applyImagePins(specs: ReturnType<typeof parseApiSpecs>) {
    const pins = JSON.parse(process.env["REPAVE_IMAGE_PINS"] ?? "{}") as Record<string, string>;
    return specs.map((spec) =>
        pins[spec.name] && spec.image.source === "local-builds" ? { ...spec, image: { ...spec.image, version: pins[spec.name] } } : spec,
    );
}

const specs = applyImagePins(loadSpecs());
if (target !== "local") {
    throw new pulumi.RunError(`repave:target: "${target}" is not one of: local (hint: set repave:target to local)`);
}

const apis = Object.fromEntries(specs.map((spec) => [spec.name, new LocalStatelessApi(spec.name, { spec })]));

export const endpoints = Object.fromEntries(
    Object.entries(apis).map(([name, api]) => [
        name,
        {
            url: api.url,
            testUrl: api.testUrl,
            generation: api.generation,
            previousGeneration: api.previousGeneration,
            previousImageVersion: api.previousImageVersion,
            imageVersion: api.imageVersion,
            imageHash: api.imageHash,
            imageCreatedAt: api.imageCreatedAt,
            certSerial: api.certSerial,
            certNotAfter: api.certNotAfter,
            credentialCreatedAt: api.credentialCreatedAt,
            generationCreatedAt: api.generationCreatedAt,
            capacity: api.capacity,
            frontDoorUrn: api.frontDoorUrn,
        },
    ]),
);
export const credentials = pulumi.secret(Object.fromEntries(Object.entries(apis).map(([n, a]) => [n, a.credential])));
export const caCertPem = Object.values(apis)[0]?.caCertPem;
