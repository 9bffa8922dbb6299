// The bake the cloud targets run after their switch (components/bake.ts), as the engine runs it: against a real
// TLS server on loopback standing in for production, with the cloud CLI replaced by a script on PATH that records
// each call (its arguments are what the AWS CLI's `elbv2 modify-listener` and gcloud's `compute url-maps
// set-default-service` take). A failing production must be routed back to the previous generation and fail the
// update; a healthy one must bake for the whole window and route nothing back.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { bakeProvider, type BakeInputs, type BakeOutputs } from "../../../components/bake.ts";
import { createCertificateAuthority, issueServerCertificate } from "../../../components/local/pki.ts";
import { parseApiSpecs } from "../../../components/spec.ts";

const TOKEN = "pX7kQ2mZ9vR4tL8wN3bH6cJ1dF5gY0sA-u_eKq2Wv9Z";
const probes = parseApiSpecs([{ name: "orders", image: { source: "local-builds", path: "." } }])[0]!.probes;

/** Production: answers the positive probes while `healthy()` says so, 500 otherwise. */
let healthy: () => boolean = () => true;
let server: https.Server;
let port = 0;
let caPem = "";
let bin = "";
let calls = "";
let failCli = false;

const awsRoute = (targetGroup: string) => [
    "aws", "elbv2", "modify-listener", "--region", "eu-west-1",
    "--listener-arn", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/orders/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "--default-actions", `Type=forward,TargetGroupArn=${targetGroup}`,
];
const gcloudRoute = (backend: string) => ["gcloud", "compute", "url-maps", "set-default-service", "orders-abc123", `--default-service=${backend}`, "--global", "--project=orders-prod-123"];

const inputs = (generation: string, route: string[]): BakeInputs => ({
    api: "orders",
    generation,
    host: "127.0.0.1",
    port,
    serverName: "localhost",
    caPem,
    credential: TOKEN,
    probes,
    keepWarmSeconds: 1.5,
    intervalSeconds: 0.2,
    settleSeconds: 1,
    route,
});
const outputsOf = (i: BakeInputs): BakeOutputs => ({ ...i, bakedAt: "2026-11-26T00:00:00Z", bakeProbes: 1, results: [] });
const recorded = (): string[] => readFileSync(calls, "utf8").split("\n").filter(Boolean);

before(async () => {
    const ca = await createCertificateAuthority("bake test CA", 1);
    const cert = await issueServerCertificate(ca, ["localhost"], 1);
    caPem = ca.certPem;
    server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
        const send = (status: number, body: object) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        if (!healthy()) return send(500, { error: "the new generation is broken" });
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, {});
        if (req.url === "/v1/hello") return send(200, { message: "hello" });
        let raw = "";
        req.on("data", (c: Buffer) => (raw += c.toString())).on("end", () => send(200, { echo: JSON.parse(raw || "null") as unknown }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    // The cloud CLIs: record argv, one call a line; exit 1 when told to (a CLI without credentials).
    bin = mkdtempSync(join(tmpdir(), "repave-bake-cli-"));
    calls = join(bin, "calls.log");
    for (const cli of ["aws", "gcloud"]) {
        writeFileSync(join(bin, cli), `#!/bin/sh\nif [ -e "${bin}/fail" ]; then echo "Unable to locate credentials" >&2; exit 255; fi\necho "${cli} $*" >> "${calls}"\n`);
        chmodSync(join(bin, cli), 0o755);
    }
    process.env["PATH"] = `${bin}:${process.env["PATH"] ?? ""}`;
});

after(() => {
    server.close();
    rmSync(bin, { recursive: true, force: true });
});

function reset(health: () => boolean, cliFails = false): void {
    healthy = health;
    writeFileSync(calls, "");
    failCli = cliFails;
    if (failCli) writeFileSync(join(bin, "fail"), "");
    else rmSync(join(bin, "fail"), { force: true });
}

describe("bake after the switch, with switch-back (issue #13 item 8)", () => {
    it("AWS: production failing after the switch routes the listener back to the previous target group and fails the update", async () => {
        reset(() => false);
        const previous = outputsOf(inputs("g1", awsRoute("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-g1/1")));
        const next = inputs("g2", awsRoute("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-g2/2"));
        await assert.rejects(bakeProvider.update!("bake-orders", previous, next), /bake: g2 of orders failed on production after the switch; traffic is back on g1/);
        assert.deepEqual(recorded(), [next.route.join(" "), previous.route.join(" ")], "the route to g2 is (re)applied first, then production goes back to g1");
    });

    it("GCP: a generation that breaks during the bake window sends the URL map back to the previous backend service", async () => {
        let answered = 0;
        reset(() => ++answered <= 3);
        const base = "https://www.googleapis.com/compute/v1/projects/orders-prod-123/global/backendServices";
        const previous = outputsOf(inputs("g1", gcloudRoute(`${base}/orders-abc123-g1`)));
        const next = inputs("g2", gcloudRoute(`${base}/orders-abc123-g2`));
        await assert.rejects(bakeProvider.update!("bake-orders", previous, next), /traffic is back on g1 \(still warm\)/);
        assert.ok(answered > 3, "production answered at first: the failure came during the bake");
        assert.equal(recorded().at(-1), `gcloud compute url-maps set-default-service orders-abc123 --default-service=${base}/orders-abc123-g1 --global --project=orders-prod-123`);
    });

    it("a healthy production bakes for the whole window and routes nothing back", async () => {
        reset(() => true);
        const previous = outputsOf(inputs("g1", awsRoute("tg-1")));
        const started = performance.now();
        const result = await bakeProvider.update!("bake-orders", previous, inputs("g2", awsRoute("tg-2")));
        assert.ok(performance.now() - started >= 1400, "the bake lasted keepWarmSeconds");
        const outs = result.outs as BakeOutputs;
        assert.equal(outs.generation, "g2");
        assert.ok(outs.bakeProbes > probes.positive.length, "production was probed more than once");
        assert.deepEqual(outs.route, awsRoute("tg-2"), "the next bake knows how to come back here");
        assert.deepEqual(recorded(), [awsRoute("tg-2").join(" ")], "only the (idempotent) route to the new generation");
    });

    it("a first generation has nothing to go back to: the update fails and says so, without a CLI call", async () => {
        reset(() => false);
        await assert.rejects(bakeProvider.create(inputs("g1", awsRoute("tg-1"))), /no previous generation to go back to/);
        assert.deepEqual(recorded(), []);
    });

    it("a CLI that cannot move the route says so, with the command it ran", async () => {
        reset(() => false, true);
        await assert.rejects(bakeProvider.update!("bake-orders", outputsOf(inputs("g1", awsRoute("tg-1"))), inputs("g2", awsRoute("tg-2"))), /bake: could not route production to g2 \(aws elbv2 modify-listener .*\): Unable to locate credentials/);
    });

    it("the same generation again is no change: no bake, no route", async () => {
        const same = inputs("g2", awsRoute("tg-2"));
        assert.deepEqual(await bakeProvider.diff!("bake-orders", outputsOf(same), same), { changes: false });
        assert.deepEqual(await bakeProvider.diff!("bake-orders", outputsOf(same), inputs("g3", awsRoute("tg-3"))), { changes: true });
    });
});
