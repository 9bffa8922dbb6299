// Step 1 of every changeover on AWS: find the latest patched AMI and pin it by id. The lookup runs on every deploy
// (an SSM public parameter such as Amazon Linux 2023's, or the most recent AMI of given owners and name pattern);
// the launch template then carries the id, never the parameter, so a generation never changes under its feet.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { ageSeconds } from "../generation.ts";
import type { AwsAmiSource } from "./args.ts";

/** @internal */
export interface PinnedAmi {
    /** The immutable AMI id the generation pins (`ami-...`). */
    id: string;
    name: string;
    /** When AWS built the image (ISO 8601): image age is measured from it. */
    createdAt: string;
    ageDays: number;
    /** The root volume's device name (`/dev/xvda` on Amazon Linux): the launch template encrypts it. */
    rootDeviceName: string;
    /** Where it was found: the SSM parameter, or `owners/namePattern`. */
    from: string;
}

/** @internal Resolves the image source to one AMI. Runs as invokes, so previews show the AMI a deploy would pin. */
export async function resolveLatestAmi(source: AwsAmiSource, opts: pulumi.InvokeOptions, now = new Date()): Promise<PinnedAmi> {
    try {
        return await lookup(source, opts, now);
    } catch (err) {
        const where = source.ssmParameter ?? `owners ${(source.owners ?? []).join(",")}, name ${source.namePattern ?? ""}`;
        throw new Error(
            `image: no AMI found for ${where}; nothing was changed (hint: check image.ssmParameter / owners / namePattern, ` +
                `the stack's aws:region, and that the deploying role may call ssm:GetParameter and ec2:DescribeImages): ${(err as Error).message}`,
        );
    }
}

async function lookup(source: AwsAmiSource, opts: pulumi.InvokeOptions, now: Date): Promise<PinnedAmi> {
    let ami: aws.ec2.GetAmiResult;
    let from: string;
    if (source.pinned) {
        // `repave rollback`: the AMI a previous generation ran, by id (deprecated ones included: it ran before).
        from = `pinned ${source.pinned}`;
        ami = await aws.ec2.getAmi({ ...(source.owners?.length ? { owners: source.owners } : {}), filters: [{ name: "image-id", values: [source.pinned] }], includeDeprecated: true }, opts);
    } else if (source.ssmParameter) {
        from = source.ssmParameter;
        const parameter = await aws.ssm.getParameter({ name: source.ssmParameter }, opts);
        ami = await aws.ec2.getAmi(
            {
                ...(source.owners?.length ? { owners: source.owners } : {}),
                filters: [{ name: "image-id", values: [parameter.value] }],
                includeDeprecated: true,
            },
            opts,
        );
        if (ami.id !== parameter.value) {
            throw new Error(`image: ${from} names ${parameter.value}, but the AMI found is ${ami.id} (hint: check image.owners)`);
        }
    } else {
        from = `${(source.owners ?? []).join(",")}/${source.namePattern ?? ""}`;
        ami = await aws.ec2.getAmi(
            {
                owners: source.owners ?? [],
                mostRecent: true,
                filters: [
                    { name: "name", values: [source.namePattern ?? ""] },
                    { name: "state", values: ["available"] },
                ],
            },
            opts,
        );
    }
    if (!/^ami-[0-9a-f]+$/.test(ami.id)) throw new Error(`image: ${from} did not resolve to an AMI id (got "${ami.id}")`);
    return { id: ami.id, name: ami.name, createdAt: ami.creationDate, ageDays: Math.floor(ageSeconds(ami.creationDate, now) / 86_400), rootDeviceName: ami.rootDeviceName, from };
}
