// `repave rollback` on every target: the previous image each API's ledger records (components/image-ledger.ts) as
// each target reports its images in the stack's `endpoints` output, the pin the program turns it into, and the
// lookups each cloud target makes for a pinned image. (test/e2e/driver.test.ts rolls back on the real engine.)
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { ApiFacts } from "../../cli/facts.ts";
import { rollbackTargetsOf } from "../../cli/rollback.ts";
import { exitCodes } from "../../cli/errors.ts";
import { imageLedgerProvider, type LedgerState } from "../../components/image-ledger.ts";
import { applyImagePins } from "../../components/program.ts";
import { parseApiSpecs, type StatelessApiSpecInput } from "../../components/spec.ts";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const base = {
    url: "https://api.example.com", generation: "gbbbbbb", previousGeneration: "gaaaaaa", previousImageVersion: null, imageCreatedAt: "2026-11-20T00:00:00Z",
    certSerial: "01", certNotAfter: "2027-01-01T00:00:00Z", credentialCreatedAt: "2026-11-25T00:00:00Z", generationCreatedAt: "2026-11-25T00:00:00Z",
};
/** Each target's endpoint facts as the program exports them: imageHash is the pinned id, imageVersion what people read. */
const endpoints: Record<string, ApiFacts> = {
    local: { ...base, api: "hello", imageVersion: "1.2.0", imageHash: digest("b"), previousImage: { id: digest("a"), version: "1.1.0" } },
    aws: { ...base, api: "orders", imageVersion: "al2023-ami-2023.6.20261120.0-kernel-6.1-x86_64", imageHash: "ami-0bbbbbbbbbbbbbbbb", previousImage: { id: "ami-0aaaaaaaaaaaaaaaa", version: "al2023-ami-2023.6.20261101.0-kernel-6.1-x86_64" } },
    gcp: { ...base, api: "billing", imageVersion: "debian-12-bookworm-v20261120", imageHash: "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20261120", previousImage: { id: "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20261101", version: "debian-12-bookworm-v20261101" } },
    kubernetes: { ...base, api: "search", imageVersion: `registry.local:5000/search@${digest("d")}`, imageHash: `registry.local:5000/search@${digest("d")}`, previousImage: { id: `registry.local:5000/search@${digest("c")}`, version: `registry.local:5000/search@${digest("c")}` } },
};

describe("repave rollback: what each API rolls back to", () => {
    it("the ledger's previous image on every target, pinned by its id", () => {
        const targets = rollbackTargetsOf(Object.values(endpoints));
        assert.deepEqual(targets.map((t) => [t.api, t.to, t.pin]), [
            ["hello", "1.1.0", { id: digest("a"), version: "1.1.0" }],
            ["orders", "al2023-ami-2023.6.20261101.0-kernel-6.1-x86_64", { id: "ami-0aaaaaaaaaaaaaaaa", version: "al2023-ami-2023.6.20261101.0-kernel-6.1-x86_64" }],
            ["billing", "debian-12-bookworm-v20261101", { id: "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20261101", version: "debian-12-bookworm-v20261101" }],
            ["search", `registry.local:5000/search@${digest("c")}`, { id: `registry.local:5000/search@${digest("c")}`, version: `registry.local:5000/search@${digest("c")}` }],
        ]);
    });

    it("--api chooses; an API the stack does not serve is refused (exit 5); nothing earlier or the same image is no target", () => {
        assert.deepEqual(rollbackTargetsOf(Object.values(endpoints), ["orders"]).map((t) => t.api), ["orders"]);
        assert.throws(() => rollbackTargetsOf(Object.values(endpoints), ["order"]), (err: Error & { exitCode?: number }) => err.exitCode === exitCodes.notFound && /order not served/.test(err.message));
        assert.deepEqual(rollbackTargetsOf([{ ...endpoints["aws"]!, previousImage: null }]), [], "a first generation has nothing before it");
        assert.deepEqual(rollbackTargetsOf([{ ...endpoints["aws"]!, previousImage: { id: "ami-0bbbbbbbbbbbbbbbb", version: "x" } }]), [], "already on it");
    });

    it("a local stack deployed before the ledger still rolls back by its switch's previous version", () => {
        const { previousImage: _, ...old } = endpoints["local"]!;
        assert.deepEqual(rollbackTargetsOf([{ ...old, previousImageVersion: "1.1.0" }]).map((t) => t.pin), ["1.1.0"]);
    });
});

describe("repave rollback: the program pins each target's image by what names it immutably", () => {
    const input = (name: string, image: StatelessApiSpecInput["image"]) => ({ name, image, certificate: { domains: [`${name}.example.com`] } }) as StatelessApiSpecInput;
    const specs = parseApiSpecs([
        input("hello", { source: "local-builds", path: "images/sample-api" }),
        input("orders", { source: "aws-ami", ssmParameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" }),
        input("billing", { source: "gcp-image-family", family: "debian-12", project: "debian-cloud" }),
        input("search", { source: "container", repository: "registry.local:5000/search", tag: "stable" }),
    ]);

    it("local by version, AMI by id, GCE image by self-link, container by digest; the spec still validates", () => {
        const pins = Object.fromEntries(rollbackTargetsOf(Object.values(endpoints)).map((t) => [t.api, t.pin]));
        const pinned = applyImagePins(specs, JSON.stringify(pins));
        assert.deepEqual(pinned.map((s) => s.image), [
            { source: "local-builds", path: "images/sample-api", version: "1.1.0" },
            { source: "aws-ami", ssmParameter: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", pinned: "ami-0aaaaaaaaaaaaaaaa" },
            { source: "gcp-image-family", family: "debian-12", project: "debian-cloud", pinned: endpoints["gcp"]!.previousImage!.id },
            { source: "container", repository: "registry.local:5000/search", tag: "stable", pinned: endpoints["kubernetes"]!.previousImage!.id },
        ]);
        // What the program builds from is still a valid spec (the pins are part of the schema, not a side door).
        assert.deepEqual(parseApiSpecs(pinned.map((s) => ({ ...s }))).map((s) => s.image), pinned.map((s) => s.image));
        assert.deepEqual(applyImagePins(specs, undefined), specs, "no pins: the newest image, as always");
        assert.throws(() => applyImagePins(specs, JSON.stringify({ orders: "1.1.0" })), /pinned by id; the pin names none/);
    });
});

describe("the image ledger (what the engine runs)", () => {
    const image = (id: string, version = id) => ({ id, version });
    it("records the image served before the current one, and only moves on a new image", async () => {
        const created = (await imageLedgerProvider.create({ current: image("ami-01") })).outs as LedgerState;
        assert.deepEqual(created, { current: image("ami-01"), previous: null });
        const diff = await imageLedgerProvider.diff!("image-ledger", created, { current: image("ami-02") });
        assert.equal(diff.changes, true);
        const moved = (await imageLedgerProvider.update!("image-ledger", created, { current: image("ami-02") })).outs as LedgerState;
        assert.deepEqual(moved, { current: image("ami-02"), previous: image("ami-01") });
        assert.equal((await imageLedgerProvider.diff!("image-ledger", moved, { current: image("ami-02") })).changes, false, "a repave onto the same image");
        const relabelled = (await imageLedgerProvider.update!("image-ledger", moved, { current: image("ami-02", "renamed") })).outs as LedgerState;
        assert.deepEqual(relabelled.previous, image("ami-01"), "same image, new label: what came before stays");
    });
});

describe("each cloud target looks up the pinned image, not the newest", () => {
    const invokes: Array<{ token: string; args: Record<string, unknown> }> = [];
    before(async () => {
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs as Record<string, unknown> }),
                call: (args) => {
                    invokes.push({ token: args.token, args: args.inputs as Record<string, unknown> });
                    if (args.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0aaaaaaaaaaaaaaaa", name: "al2023-old", creationDate: "2026-11-01T00:00:00Z", rootDeviceName: "/dev/xvda" };
                    const requested = (args.inputs as Record<string, unknown>)["name"];
                    const name = typeof requested === "string" ? requested : "newest";
                    if (args.token === "gcp:compute/getImage:getImage") return { selfLink: `https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/${name}`, name, creationTimestamp: "2026-11-01T00:00:00Z" };
                    return {};
                },
            },
            "repave",
            "test",
            true,
        );
    });

    it("AWS: the AMI by id (getAmi filtered on image-id), no SSM parameter read", async () => {
        const { resolveLatestAmi } = await import("../../components/aws/image.ts");
        const ami = await resolveLatestAmi({ source: "aws-ami", ssmParameter: "/aws/service/x", pinned: "ami-0aaaaaaaaaaaaaaaa" }, {});
        assert.equal(ami.id, "ami-0aaaaaaaaaaaaaaaa");
        assert.deepEqual(invokes.map((i) => i.token), ["aws:ec2/getAmi:getAmi"]);
        assert.deepEqual(invokes[0]!.args["filters"], [{ name: "image-id", values: ["ami-0aaaaaaaaaaaaaaaa"] }]);
    });

    it("GCP: the image by name in its own project, not the family's newest", async () => {
        invokes.length = 0;
        const { latestImageOfFamily } = await import("../../components/gcp/image.ts");
        const pinned = "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20261101";
        const image = await latestImageOfFamily("debian-12", "my-project", {}, pinned);
        assert.equal(image.selfLink, pinned);
        assert.deepEqual(invokes[0]!.args, { name: "debian-12-bookworm-v20261101", project: "debian-cloud" });
    });
});
