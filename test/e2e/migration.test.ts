// The one migration (#11 item 4): a stack deployed by the last release whose local target ran on dynamic resources
// (its program and components taken from git, the daemon of that release) is upgraded in place - the new program,
// components and provider plugin copied over it - and repaved under load. The front door is never replaced or
// restarted: its resources are aliased from the dynamic types, the engine moves them to the plugin without a
// replace, and its daemon keeps its pid and ports; clients see 0 failed requests across the upgrade and the repave
// after it; afterwards no resource holds a dynamic provider's serialized code.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { localResourceType } from "../../policy/model.ts";
import { LocalStack, processesWith, repoRoot, startLoad } from "./harness.ts";

/** The last commit whose local target used dynamic resources (`pulumi-nodejs:dynamic/local:*`). */
const legacy = "1034cd3f5552e00687900dac0eef0a8d7e020bb5";
const program = ["Pulumi.yaml", "index.ts", "package.json"];
const folders = ["components", "policy"];

/** The stack's program as that release had it: its files from git, and no provider plugin. */
function checkOutLegacy(dir: string): void {
    for (const f of [...folders, "provider"]) rmSync(join(dir, f), { recursive: true, force: true });
    const archive = execFileSync("git", ["-C", repoRoot, "archive", "--format=tar", legacy, ...program, ...folders]);
    execFileSync("tar", ["-x", "-C", dir], { input: archive });
}

/** The upgrade a user makes: this release's program, components and plugin over the old ones. */
function upgrade(dir: string): void {
    for (const f of [...folders, "provider"]) rmSync(join(dir, f), { recursive: true, force: true });
    for (const f of program) cpSync(join(repoRoot, f), join(dir, f));
    for (const f of [...folders, "provider"]) cpSync(join(repoRoot, f), join(dir, f), { recursive: true });
}

const frontDoorPid = (stack: LocalStack) => (JSON.parse(readFileSync(join(stack.stateDir, "frontdoor.json"), "utf8")) as { pid: number }).pid;
const localTypes = async (stack: LocalStack) =>
    (await stack.exportState()).deployment.resources.filter((r) => /:local:|dynamic\/local:/.test(r.type) && !r.type.endsWith("StatelessApi")).map((r) => r.type);

describe("upgrade from the dynamic-resource release to the provider plugin", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("migrate");
        checkOutLegacy(stack.dir);
    });
    after(async () => stack && (await stack.cleanup()));

    it("keeps the front door (URN by alias, daemon, ports) and drops 0 requests across the upgrade and a repave after it", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const before = await localTypes(stack);
        assert.ok(before.length >= 5 && before.every((t) => t.startsWith("pulumi-nodejs:dynamic/local:")), `the old release's types: ${before.join(", ")}`);
        const doorUrn = (await stack.exportState()).deployment.resources.find((r) => r.type.endsWith(":FrontDoor"))!.urn;
        const pid = frontDoorPid(stack);
        const live = await stack.hello();
        let credential = await stack.credential();
        const load = startLoad(stack.port, () => credential);
        try {
            upgrade(stack.dir);
            stack.addBuild("1.2.0");
            const upgraded = await stack.up();
            assert.equal(upgraded.code, 0, upgraded.out);
            // The engine moved every local resource to the plugin: none was created anew but the generation.
            assert.doesNotMatch(upgraded.out, /front-door\s+(created|deleted|replaced)|ca\s+(created|replaced)/, upgraded.out);
            const after = await localTypes(stack);
            assert.deepEqual([...new Set(after)].sort(), ["repave:local:CertificateAuthority", "repave:local:FrontDoor", "repave:local:Gate", "repave:local:Generation", "repave:local:Switch"]);
            // No local resource holds a dynamic provider's code, and no resource's inputs or outputs a path into the
            // checkout's code (the image ledger, shared by every target, stays a self-contained dynamic resource). The
            // engine's own source positions of the program are not ours to drop.
            const resources = (await stack.exportState()).deployment.resources as Array<{ type: string; inputs?: unknown; outputs?: unknown }>;
            assert.deepEqual(resources.filter((r) => localResourceType(r.type) && JSON.stringify(r).includes("__provider")).map((r) => r.type), []);
            assert.deepEqual(resources.filter((r) => JSON.stringify([r.inputs, r.outputs]).includes(join(stack.dir, "components"))).map((r) => r.type), [], "a path of the checkout in state");
            // The plugin runs as an explicit provider: the program's `repave:` config is never its configuration.
            const plugins = resources.filter((r) => r.type === "pulumi:providers:repave");
            assert.equal(plugins.length, 1);
            assert.doesNotMatch(JSON.stringify(plugins[0]), /apis/);
            const door = (await stack.exportState()).deployment.resources.find((r) => r.type === "repave:local:FrontDoor")!;
            // The URN differs by its type only (the alias ties them): same project, stack, parent chain and name.
            assert.equal(door.urn, doorUrn.replace("pulumi-nodejs:dynamic/local:FrontDoor", "repave:local:FrontDoor"));
            assert.equal(frontDoorPid(stack), pid, "the front door's daemon was never restarted");
            const now = await stack.hello();
            assert.equal(now.url, live.url, "the same production port");
            assert.equal(now.imageVersion, "1.2.0");
            assert.notEqual(now.generation, live.generation);
            assert.equal(processesWith(`--repave-generation=hello/${live.generation}@`).length, 0, "the old release's generation retired");
            credential = await stack.credential();

            // A repave on the plugin alone.
            stack.addBuild("1.3.0");
            const again = await stack.up();
            assert.equal(again.code, 0, again.out);
            assert.equal((await stack.hello()).imageVersion, "1.3.0");
            assert.equal(frontDoorPid(stack), pid);
        } finally {
            const report = await load.stop();
            console.log(`load: ${JSON.stringify(report)}`);
            assert.equal(report.failed, 0, `failed requests: ${JSON.stringify(report)}`);
        }
    });
});
