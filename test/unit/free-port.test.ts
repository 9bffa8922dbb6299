// The e2e harness's free ports: a port picked now and bound later by the front door's HAProxy must not be one the
// kernel hands to outgoing connections meanwhile (a warm CI run lost a test that way: "Address already in use").
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { freePort } from "../e2e/harness.ts";

it("free ports for the tests' listeners are outside the kernel's ephemeral range and Kubernetes' NodePort range, never twice", async () => {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number) as [number, number];
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    for (const port of ports) {
        assert.ok(port < low || port > high, `${port} is in the ephemeral range ${low}-${high}`);
        assert.ok(port < 30_000 || port > 32_767, `${port} is in the NodePort range`);
    }
    assert.equal(new Set(ports).size, ports.length, "a port handed out twice");
});
