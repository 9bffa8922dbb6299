// The longest physical name each AWS resource takes, from the service's API reference. Names are per account and
// region, not per stack: changeover.name/stableName put the stack's mark in them and cut the API part to fit.
//   loadBalancer, targetGroup  32  Elastic Load Balancing API Reference v2: CreateLoadBalancer, CreateTargetGroup
//                                  ("maximum of 32 characters ... alphanumeric characters or hyphens, must not
//                                  begin or end with a hyphen"; a load balancer's must not begin with "internal-")
//   role                       64  IAM API Reference: CreateRole, RoleName
//   instanceProfile           128  IAM API Reference: CreateInstanceProfile, InstanceProfileName
//   launchTemplate            128  EC2 API Reference: CreateLaunchTemplate, LaunchTemplateName (3-128)
//   autoScalingGroup          255  EC2 Auto Scaling API Reference: CreateAutoScalingGroup, AutoScalingGroupName
//   securityGroup             255  EC2 API Reference: CreateSecurityGroup, GroupName
//   secret                    512  Secrets Manager API Reference: CreateSecret, Name
//   lambda, rule               64  Lambda API Reference: CreateFunction, FunctionName (name form);
//                                  EventBridge API Reference: PutRule, Name
export const AWS_NAME_MAX = {
    loadBalancer: 32,
    targetGroup: 32,
    role: 64,
    instanceProfile: 128,
    launchTemplate: 128,
    autoScalingGroup: 255,
    securityGroup: 255,
    secret: 512,
    lambda: 64,
    rule: 64,
} as const;
