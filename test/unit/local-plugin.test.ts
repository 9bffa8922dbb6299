// repave's provider plugin (components/local/plugin): what it does with the engine's values before any step runs -
// secrets unwrapped and marked again, bad inputs refused by name, a replacement's serving name, both type tokens.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { handlers, ready, servingName } from "../../components/local/plugin/handlers.ts";
import { checkInputs, conceal, repaveProvider, reveal, unknown } from "../../components/local/plugin/provider.ts";
import { secretProperties } from "../../components/local/secret-properties.ts";
import { localResourceType } from "../../policy/model.ts";

const secret = (value: unknown) => ({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value });
const urn = (type: string, name: string) => `urn:pulumi:dev::repave::repave:local:StatelessApi$${type}::${name}`;

describe("repave provider plugin", () => {
    before(ready);
    it("unwraps secrets (nested too) and says which inputs were secret", () => {
        const { plain, secret: keys } = reveal({ token: secret("t"), nested: { a: [secret("x"), 1] }, port: 8443 });
        assert.deepEqual(plain, { token: "t", nested: { a: ["x", 1] }, port: 8443 });
        assert.deepEqual([...keys].sort(), ["nested", "token"]);
    });

    it("marks the type's secret outputs and every output whose input was secret; never a null", () => {
        const outs = conceal({ adminToken: "a", pid: 1, stateDir: "/s", url: null }, "repave:local:FrontDoor", new Set(["stateDir", "url"]));
        assert.deepEqual(outs, { adminToken: secret("a"), pid: 1, stateDir: secret("/s"), url: null });
    });

    it("refuses missing and mistyped inputs by name, and lets a preview's unknowns through", () => {
        const frontDoor = handlers["repave:local:FrontDoor"]!;
        const failures = checkInputs(frontDoor, { api: "orders", port: 70000, testPort: "8444", stateDir: unknown });
        assert.deepEqual(failures.map((f) => f.property), ["testPort", "adminTokenRotationSeconds", "port"]);
        assert.match(failures[0]!.reason, /testPort must be a number, not string/);
        assert.match(failures[2]!.reason, /port must be a TCP port \(1-65535\), not 70000/);
        assert.deepEqual(checkInputs(frontDoor, { api: "orders", port: 8443, testPort: 8444, stateDir: "s", adminTokenRotationSeconds: 60 }), []);
    });

    it("check answers through the plugin interface with the failures, and names an unknown type", async () => {
        const res = await repaveProvider.check!(urn("repave:local:Gate", "orders-gate"), {}, { api: "orders" });
        assert.ok((res.failures ?? []).some((f) => f.property === "testPort"));
        await assert.rejects(repaveProvider.check!(urn("repave:local:Nope", "x"), {}, {}), /unknown resource type repave:local:Nope/);
    });

    it("a replacement with the same generation id serves under a name of its own (never the old one's folder)", () => {
        const dir = mkdtempSync(join(tmpdir(), "repave-plugin-"));
        try {
            assert.equal(servingName(dir, "g1a2b3c"), "g1a2b3c");
            mkdirSync(join(dir, "generations", "g1a2b3c"), { recursive: true });
            assert.equal(servingName(dir, "g1a2b3c"), "g1a2b3c-2");
            mkdirSync(join(dir, "generations", "g1a2b3c-2"), { recursive: true });
            assert.equal(servingName(dir, "g1a2b3c"), "g1a2b3c-3");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a generation diff compares the declared id, not its serving name; the state folder is never identity", async () => {
        const generation = handlers["repave:local:Generation"]!;
        const olds = { generation: "g1-2", declaredGeneration: "g1", api: "orders", supervisor: undefined, pids: [], stateDir: "/a" };
        assert.deepEqual((await generation.diff(olds, { generation: "g1", api: "orders", stateDir: "/b" })).replaces, []);
        assert.deepEqual((await generation.diff(olds, { generation: "g2", api: "orders", stateDir: "/a" })).replaces, ["generation"]);
        const frontDoor = handlers["repave:local:FrontDoor"]!;
        const door = { api: "orders", port: 1, testPort: 2, stateDir: "/a", adminTokenRotationSeconds: 60, adminTokenIssuedAt: new Date().toISOString() };
        assert.deepEqual((await frontDoor.diff(door, { ...door, stateDir: "/b" })).replaces, []);
        assert.deepEqual((await frontDoor.diff(door, { ...door, port: 3 })).replaces, ["port"]);
    });

    it("the driver and the pack read both type tokens: the plugin's and the dynamic one of stacks deployed before it", () => {
        assert.equal(localResourceType("repave:local:Generation"), "Generation");
        assert.equal(localResourceType("pulumi-nodejs:dynamic/local:FrontDoor"), "FrontDoor");
        assert.equal(localResourceType("repave:local:StatelessApi"), "StatelessApi");
        assert.equal(localResourceType("pulumi-nodejs:dynamic/repave:ProbeGate"), undefined);
        assert.equal(localResourceType("kubernetes:apps/v1:Deployment"), undefined);
    });

    it("publishes a schema naming every type it serves", async () => {
        const schema = JSON.parse(await repaveProvider.getSchema!()) as { name: string; resources: Record<string, unknown> };
        assert.equal(schema.name, "repave");
        assert.deepEqual(Object.keys(schema.resources).sort(), Object.keys(handlers).sort());
    });

    it("marks exactly the secret properties in the schema, each one a property the schema declares", async () => {
        type Props = Record<string, { secret?: boolean }>;
        const schema = JSON.parse(await repaveProvider.getSchema!()) as { resources: Record<string, { properties: Props; inputProperties: Props }> };
        assert.deepEqual(Object.keys(secretProperties).sort(), Object.keys(handlers).sort());
        for (const [token, secrets] of Object.entries(secretProperties)) {
            const { properties, inputProperties } = schema.resources[token]!;
            // A name the schema does not declare is a typo: that property would never be marked.
            for (const name of secrets) assert.equal(properties[name]?.secret, true, `${token}.${name} is declared and secret in the schema`);
            const schemaSecrets = Object.entries({ ...properties, ...inputProperties }).filter(([, p]) => p.secret).map(([k]) => k);
            assert.deepEqual([...new Set(schemaSecrets)].sort(), [...secrets].sort(), token);
        }
    });
});
