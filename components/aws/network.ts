// The network check a load balancer cannot make for us in time: whether the instances' subnets are in zones the
// load balancer serves. A target in an Availability Zone the ALB has no subnet in receives no traffic (Elastic Load
// Balancing docs, "Availability Zones for your Application Load Balancer": "If you register targets in an
// Availability Zone but do not enable the Availability Zone, these registered targets do not receive traffic"), so
// its instances never become healthy and the ASG's capacity wait times out many minutes later. An ALB needs
// subnets in at least two zones (CreateLoadBalancer: "You must specify subnets from at least two Availability
// Zones"). Subnet ids given as Outputs are not known yet: AWS decides those.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { SpecError } from "../spec.ts";
import type { AwsTarget } from "./args.ts";

/** Looks up each subnet's zone (an invoke: previews run it too) and refuses a layout that cannot carry traffic. */
export async function checkSubnetZones(target: AwsTarget, opts: pulumi.InvokeOptions): Promise<void> {
    const api = target.spec.name;
    const known = (ids: pulumi.Input<string>[]): ids is string[] => ids.every((id) => typeof id === "string");
    if (!known(target.subnetIds) || !known(target.instanceSubnetIds)) return;
    const zones = new Map<string, string>();
    for (const id of new Set([...target.subnetIds, ...target.instanceSubnetIds])) zones.set(id, (await aws.ec2.getSubnet({ id }, opts)).availabilityZone);
    const served = new Set(target.subnetIds.map((id) => zones.get(id)!));
    const problems: string[] = [];
    if (served.size < 2) {
        problems.push(`${api}.aws.subnetIds: all in ${[...served].join(", ")}: a load balancer needs subnets in at least two Availability Zones (hint: add a subnet of another zone)`);
    }
    target.instanceSubnetIds.forEach((id, i) => {
        const zone = zones.get(id)!;
        if (!served.has(zone)) {
            problems.push(
                `${api}.aws.instanceSubnetIds[${i}]: ${id} is in ${zone}, where the load balancer has no subnet: its instances would get no traffic and the capacity wait would time out (hint: add a subnet of ${zone} to subnetIds, or use instance subnets in ${[...served].join(", ")})`,
            );
        }
    });
    if (problems.length > 0) throw new SpecError(problems);
}
