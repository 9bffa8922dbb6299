// The role marker every front-door resource carries, said once for the components, the driver (cli/plan.ts) and
// the policy pack. It is the type of a component resource in the resource's parent chain, so it shows in the
// resource's URN (`...StatelessApi$repave:role:FrontDoorRole$aws:lb/loadBalancer:LoadBalancer::...`) - the one place
// both a preview's engine events and a policy pack's arguments carry for every resource type on every target
// (tags and labels do not: a listener rule, a firewall or a Route53 record has none). No imports on purpose: the
// policy pack loads this file on its own.

/** The component type that marks its children as the front door: stable, never replaced or deleted by a repave (I4). */
export const frontDoorRoleType = "repave:role:FrontDoorRole";

/** The parent type chain of a URN (`urn:pulumi:<stack>::<project>::<chain>::<name>`), each type on its own. */
function typeChain(urn: string): string[] {
    return (urn.split("::")[2] ?? "").split("$");
}

/** Whether a resource is part of a front door: a descendant of the front-door role component (not the component itself). */
export function isFrontDoorUrn(urn: string): boolean {
    return typeChain(urn).slice(0, -1).includes(frontDoorRoleType);
}
