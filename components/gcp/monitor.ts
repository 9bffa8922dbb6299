// The continuous monitor: a Cloud Monitoring uptime check that repeats the spec's first positive probe against the
// production name, and an alert policy that fires when it fails. An uptime check cannot read Secret Manager, so it
// carries the credential callers use in its settings: it is updated after the promotion (after the switch), and
// until then sends the credential the live generation and the new one both accept.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { frontDoorOptions, type Changeover } from "../changeover.ts";
import type { Probe } from "../spec.ts";
import type { GcpArgs } from "./config.ts";

export interface Monitor {
    uptimeCheck: gcp.monitoring.UptimeCheckConfig;
    alertPolicy: gcp.monitoring.AlertPolicy;
}

type StatusCode = { statusValue?: number; statusClass?: string };

/** The probe's expected status as the uptime check's accepted codes. */
export function acceptedStatusCodes(expect: Probe["expectStatus"]): StatusCode[] {
    if (typeof expect === "number") return [{ statusValue: expect }];
    if (Array.isArray(expect)) return expect.map((statusValue) => ({ statusValue }));
    return [{ statusClass: `STATUS_CLASS_${expect.toUpperCase()}` }];
}

export function createMonitor(
    name: string,
    parent: pulumi.Resource,
    changeover: Changeover,
    target: GcpArgs,
    credential: pulumi.Output<string>,
    after: pulumi.Resource[],
): Monitor {
    const { spec } = changeover;
    const probe = spec.probes.positive[0]!;
    const host = spec.certificate.domains[0]!;
    const headers: Record<string, pulumi.Input<string>> = {};
    if (probe.auth === "valid") headers["Authorization"] = pulumi.secret(pulumi.interpolate`Bearer ${credential}`);
    if (probe.auth === "invalid") headers["Authorization"] = "Bearer invalid-credential";

    const uptimeCheck = new gcp.monitoring.UptimeCheckConfig(
        `${name}-uptime-check`,
        {
            project: target.project,
            displayName: `repave ${spec.name}: ${probe.name}`,
            period: target.uptimeCheckPeriod,
            timeout: "10s",
            checkerType: "STATIC_IP_CHECKERS",
            monitoredResource: { type: "uptime_url", labels: { project_id: target.project, host } },
            httpCheck: {
                path: probe.path,
                port: 443,
                useSsl: true,
                validateSsl: true,
                requestMethod: probe.method,
                headers,
                maskHeaders: true,
                acceptedResponseStatusCodes: acceptedStatusCodes(probe.expectStatus),
                ...(probe.body !== undefined && probe.method === "POST"
                    ? { body: Buffer.from(probe.body).toString("base64"), contentType: "USER_PROVIDED", customContentType: probe.contentType }
                    : {}),
            },
            contentMatchers: probe.expectBodyContains === undefined ? [] : [{ content: probe.expectBodyContains, matcher: "CONTAINS_STRING" }],
        },
        // Stable like the front door (its role marker, and `protectFrontDoor` covers it): never replaced by a repave.
        frontDoorOptions(parent, { dependsOn: after }),
    );

    const alertPolicy = new gcp.monitoring.AlertPolicy(
        `${name}-alert-policy`,
        {
            project: target.project,
            displayName: `repave ${spec.name}: production probe failing`,
            combiner: "OR",
            conditions: [
                {
                    displayName: `uptime check ${probe.name} failing`,
                    conditionThreshold: {
                        filter: pulumi.interpolate`metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND metric.label.check_id="${uptimeCheck.uptimeCheckId}" AND resource.type="uptime_url"`,
                        comparison: "COMPARISON_GT",
                        thresholdValue: 1,
                        duration: "60s",
                        trigger: { count: 1 },
                        aggregations: [
                            { alignmentPeriod: "1200s", perSeriesAligner: "ALIGN_NEXT_OLDER", crossSeriesReducer: "REDUCE_COUNT_FALSE", groupByFields: ["resource.label.*"] },
                        ],
                    },
                },
            ],
            notificationChannels: target.notificationChannels,
            documentation: {
                mimeType: "text/markdown",
                content: `The production probe \`${probe.name}\` of ${spec.name} fails at https://${host}${probe.path}. Check \`repave status\`; roll back by deploying the previous image.`,
            },
        },
        frontDoorOptions(parent),
    );
    return { uptimeCheck, alertPolicy };
}
