// I7: a bad stack config is refused with every problem named by path, and nothing changes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LocalStack, processesWith } from "./harness.ts";

describe("a bad stack config", () => {
    let stack: LocalStack;
    before(async () => {
        stack = await LocalStack.create("config");
    });
    after(async () => stack && (await stack.cleanup()));

    it("is refused before anything is registered, listing each problem, and the deployed stack is untouched", async () => {
        const first = await stack.up();
        assert.equal(first.code, 0, first.out);
        const before = await stack.exportState();
        const pids = processesWith(`@${stack.stateDir}`).sort();

        const bad = [{
            ...stack.api,
            capacity: 0,
            certificate: { domains: ["Not_A_Domain"], lifetimeDays: 7 },
            local: { port: stack.port, testPort: stack.port },
            drainSecs: 3,
        }];
        stack.writeConfig(JSON.stringify(bad));
        const result = await stack.up();
        assert.notEqual(result.code, 0);
        assert.match(result.out, /nothing was changed/);
        assert.match(result.out, /repave:apis\[0\]\.capacity: .*hint/);
        assert.match(result.out, /repave:apis\[0\]\.certificate\.domains\[0\]: must be a lower-case DNS name/);
        assert.match(result.out, /repave:apis\[0\]: .*remove drainSecs/);
        assert.doesNotMatch(result.out, /at parseApiSpecs|\.ts:\d+:\d+/, "no stack trace: the problems are the message");

        const afterState = await stack.exportState();
        // Secrets are re-encrypted with a fresh nonce on every export: compare them as "[secret]".
        const hideSecrets = (_k: string, v: unknown) =>
            v && typeof v === "object" && "ciphertext" in (v) ? "[secret]" : v;
        const urns = (s: typeof before) =>
            s.deployment.resources.map((r) => `${r.urn} ${JSON.stringify(r.outputs ?? {}, hideSecrets)}`).sort();
        assert.deepEqual(urns(afterState), urns(before), "state unchanged");
        assert.deepEqual(processesWith(`@${stack.stateDir}`).sort(), pids, "the same processes serve");

        // The same-port problem is only checked once the fields themselves are valid.
        stack.writeConfig(JSON.stringify([{ ...stack.api, local: { port: stack.port, testPort: stack.port } }]));
        const samePort = await stack.up();
        assert.notEqual(samePort.code, 0);
        assert.match(samePort.out, /repave:apis\[0\]\.local\.testPort: equals local\.port/);
    });
});
