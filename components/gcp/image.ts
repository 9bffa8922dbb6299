// Step 1 of the changeover: the newest image of a Compute Engine image family, pinned by its self-link (an image
// family is a moving pointer; the self-link names one immutable image). Its name and creation time are facts a
// plan and `repave status` show (image age).
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";

export interface PinnedImage {
    /** The immutable image the generation boots: `https://www.googleapis.com/compute/v1/projects/.../images/<name>`. */
    selfLink: string;
    name: string;
    /** When the image was built (RFC 3339): the image's age is measured from it. */
    createdAt: string;
}

export async function latestImageOfFamily(family: string, project: string, opts: pulumi.InvokeOptions, pinned?: string): Promise<PinnedImage> {
    // `repave rollback` pins the image a previous generation ran (its self-link, or a name) instead of the newest.
    const image = await gcp.compute.getImage(pinned ? { name: pinned.split("/").pop()!, project: /\/projects\/([^/]+)\//.exec(pinned)?.[1] ?? project } : { family, project }, opts);
    if (!image.selfLink) {
        throw new Error(`image family ${project}/${family} has no image (hint: check image.family and image.project, and that the family has a non-deprecated image)`);
    }
    return { selfLink: image.selfLink, name: image.name, createdAt: image.creationTimestamp };
}
