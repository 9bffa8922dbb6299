// After a machine restart - every process of a stack killed: front doors, supervisors, instances - one `pulumi up`
// brings every API back, whatever its repave policy: `max-age` and `pinned` repair their generation in place (the
// same generation id, its ports and credential kept), `every-deploy` builds a new one and retires the dead one.
// The real engine, one stack with an API per policy.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, LocalStack, processesWith, verifiedCall } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a machine restart: one pulumi up brings every API back on every repave policy", () => {
    let stack: LocalStack;
    const policies = { "api-max-age": { policy: "max-age", maxAge: "7d" }, "api-pinned": { policy: "pinned" }, "api-every": { policy: "every-deploy" } } as const;
    const ports: Record<string, number> = {};

    before(async () => {
        stack = await LocalStack.create("restart");
        const apis = [];
        for (const [name, repave] of Object.entries(policies)) {
            ports[name] = await freePort();
            apis.push({ ...stack.api, name, repave, capacity: 1, local: { port: ports[name], testPort: await freePort() } });
        }
        stack.writeConfig(JSON.stringify(apis));
    });
    after(async () => stack && (await stack.cleanup()));

    const credentials = async () => {
        const r = await stack.pulumi(["stack", "output", "credentials", "--json", "--show-secrets", "--stack", stack.stack]);
        return JSON.parse(r.out) as Record<string, string>;
    };
    const caOf = (api: string) => readFileSync(join(stack.dir, ".repave", "local", stack.stack, api, "ca.pem"), "utf8");

    it("kill -9 every process of the stack, then `pulumi up`: every API serves again", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const before = await stack.outputs();
        const creds = await credentials();
        for (const api of Object.keys(policies)) {
            assert.equal((await verifiedCall(ports[api]!, caOf(api), creds[api]!)).status, 200, `${api} serves after the first up`);
        }

        // The machine restart: every process this stack started dies at once (nothing drains, nothing cleans up).
        const ours = processesWith(join(stack.dir, ".repave"));
        assert.ok(ours.length >= 3 * 2, `a front door and an instance per API at least (${ours.length} processes)`);
        for (const pid of ours) process.kill(pid, "SIGKILL");
        while (processesWith(join(stack.dir, ".repave")).length > 0) await sleep(50);
        for (const api of Object.keys(policies)) {
            assert.equal((await verifiedCall(ports[api]!, caOf(api), creds[api]!)).status, -1, `${api} is down`);
        }

        const second = await stack.up();
        assert.equal(second.code, 0, second.out);
        // Repaired in place: a replacement would share the dead generation's id and folder.
        assert.doesNotMatch(second.out, /api-(max-age|pinned)-generation (creating replacement|replaced)/);
        const now = await stack.outputs();
        const nowCreds = await credentials();
        for (const api of Object.keys(policies)) {
            const calls = await Promise.all(Array.from({ length: 5 }, () => verifiedCall(ports[api]!, caOf(api), nowCreds[api]!)));
            assert.deepEqual(calls.map((c) => c.status), Array(5).fill(200), `${api} serves after one up`);
            assert.ok(calls.every((c) => c.generation === now[api]!.generation));
        }
        assert.equal(now["api-max-age"]!.generation, before["api-max-age"]!.generation, "max-age: the same generation, repaired in place");
        assert.equal(now["api-pinned"]!.generation, before["api-pinned"]!.generation, "pinned: the same generation, repaired in place");
        assert.equal(nowCreds["api-pinned"], creds["api-pinned"], "a repaired generation keeps its credential");
        assert.notEqual(now["api-every"]!.generation, before["api-every"]!.generation, "every-deploy: a new generation");
        // The dead every-deploy generation was retired: only the live generations' instances run.
        for (const api of Object.keys(policies)) {
            assert.equal(processesWith(`--repave-generation=${api}/`).length, 1, `${api}: one instance (capacity 1)`);
        }
    });
});
