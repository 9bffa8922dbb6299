// The front door's role marker, for the components and the driver. Defined in policy/model.ts, beside the policy
// pack that reads it too (a published pack carries its folder only): one definition, no copies.
export { frontDoorRoleType, isFrontDoorUrn } from "../policy/model.ts";
