import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { durationMs, parseApiSpecs, SpecError, statusMatches } from "../../components/spec.ts";

const minimal = { name: "orders", image: { source: "local-builds", path: "images/sample-api" } };

function problems(raw: unknown): string[] {
    try {
        parseApiSpecs(raw);
    } catch (err) {
        assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
        return [...err.problems];
    }
    assert.fail("expected the spec to be refused");
}

describe("StatelessApi spec", () => {
    it("fills safe defaults: every-deploy repave, 2 instances, positive and negative probes", () => {
        const [spec] = parseApiSpecs([minimal]);
        assert.ok(spec);
        assert.equal(spec.repave.policy, "every-deploy");
        assert.equal(spec.capacity, 2);
        assert.deepEqual(spec.certificate.domains, ["localhost"]);
        assert.ok(spec.probes.positive.length >= 1 && spec.probes.negative.length >= 1);
        for (const probe of spec.probes.negative) assert.ok(!statusMatches(200, probe.expectStatus), `${probe.name} expects a refusal`);
        assert.equal(spec.probes.positive[0]?.contentType, "application/json", "defaults are parsed, not copied raw");
    });

    it("lists every problem by path, with a hint, in one error", () => {
        const found = problems([
            { ...minimal, name: "X", capacity: 0, certificate: { domains: ["Bad_Name"] }, drainSecs: 1 },
            { ...minimal, name: "orders2", repave: { policy: "max-age", maxAge: "a week" }, image: { source: "ftp" } },
        ]);
        const text = found.join("\n");
        assert.match(text, /repave:apis\[0\]\.name: .*hint: use a short kebab-case name/);
        assert.match(text, /repave:apis\[0\]\.capacity: .*hint/);
        assert.match(text, /repave:apis\[0\]\.certificate\.domains\[0\]: must be a lower-case DNS name/);
        assert.match(text, /repave:apis\[0\]: .*remove drainSecs/);
        assert.match(text, /repave:apis\[1\]\.repave\.maxAge: must be a duration/);
        assert.match(text, /repave:apis\[1\]\.image\.source/);
        assert.ok(found.length >= 6, text);
    });

    it("refuses cross-field mistakes: duplicate names, shared ports, negative probes expecting success", () => {
        const found = problems([
            { ...minimal, local: { port: 9443, testPort: 9443 } },
            { ...minimal, local: { port: 9443, testPort: 9444 }, probes: { negative: [{ name: "open", path: "/", auth: "none", expectStatus: 200 }] } },
        ]).join("\n");
        assert.match(found, /repave:apis\[0\]\.local\.testPort: equals local\.port/);
        assert.match(found, /repave:apis\[1\]\.name: "orders" is already used by repave:apis\[0\]/);
        assert.match(found, /repave:apis\[1\]\.local\.port: port 9443 is already used/);
        assert.match(found, /repave:apis\[1\]\.probes\.negative\[0\]\.expectStatus: a negative probe must expect a refusal/);
    });

    it("refuses negative probes that would pass on a success, a redirect or a server error, naming what they accept", () => {
        const negative = (expectStatus: unknown) => ({ ...minimal, probes: { negative: [{ name: "n", path: "/", auth: "none", expectStatus }] } });
        for (const [expect, named] of [[302, "302"], ["3xx", "3xx"], ["5xx", "5xx"], [[401, 500], "500"], [[200, 403], "200"], ["2xx", "2xx"], [204, "204"]] as const) {
            const found = problems([negative(expect)]).join("\n");
            assert.match(found, new RegExp(`probes\\.negative\\[0\\]\\.expectStatus: a negative probe must expect a refusal \\(4xx\\), not ${named}`), found);
        }
        for (const expect of [401, "4xx", [401, 403], 421]) assert.doesNotThrow(() => parseApiSpecs([negative(expect)]), String(expect));
    });

    it("adversarial cases are skipped only by a known name; the attacked request must exist", () => {
        const [spec] = parseApiSpecs([{ ...minimal, probes: { adversarial: { skip: ["scheme-lowercase-bearer"] } } }]);
        assert.deepEqual(spec?.probes.adversarial.skip, ["scheme-lowercase-bearer"]);
        assert.deepEqual(parseApiSpecs([minimal])[0]?.probes.adversarial.skip, [], "nothing is skipped by default");
        assert.match(problems([{ ...minimal, probes: { adversarial: { skip: ["near-miss-everything"] } } }]).join(), /repave:apis\[0\]\.probes\.adversarial\.skip\[0\]: .*hint: name adversarial cases/);
        const publicOnly = { ...minimal, probes: { positive: [{ name: "open", path: "/", auth: "none", expectStatus: 200 }] } };
        assert.match(problems([publicOnly]).join(), /repave:apis\[0\]\.probes\.positive: no probe uses auth: valid/);
    });

    it("the scan gate fails closed unless the spec says otherwise", () => {
        assert.equal(parseApiSpecs([minimal])[0]?.scan.allowMissingReport, false);
        assert.equal(parseApiSpecs([{ ...minimal, scan: { allowMissingReport: true } }])[0]?.scan.allowMissingReport, true);
        assert.match(problems([{ ...minimal, scan: { allowMissingReport: "yes" } }]).join(), /scan\.allowMissingReport: .*hint: true or false/);
    });

    it("refuses a missing or empty list", () => {
        assert.match(problems(undefined).join(), /repave:apis: missing/);
        assert.match(problems([]).join(), /repave:apis/);
    });

    it("parses durations and status expectations", () => {
        assert.equal(durationMs("90s"), 90_000);
        assert.equal(durationMs("7d"), 7 * 86_400_000);
        assert.throws(() => durationMs("7 days"), /not a duration/);
        assert.ok(statusMatches(404, "4xx"));
        assert.ok(!statusMatches(500, "4xx"));
        assert.ok(statusMatches(403, [401, 403]));
        assert.ok(!statusMatches(200, 201));
    });
});
