// Some of this package's modules run in another process: the dynamic providers load the changeover by path, the
// local front door is a daemon script, the Kubernetes gate ships the probes into a Job. From source (Node's type
// stripping) those files are `.ts`; in the published package they are compiled `.js`. Name them through here.
import { fileURLToPath } from "node:url";

/** The extension of the module whose `import.meta.url` is `from`: `.ts` from source, `.js` when compiled. */
export const moduleExt = (from: string): ".ts" | ".js" => (from.endsWith(".ts") ? ".ts" : ".js");

/** The path of a sibling module named as in source (`./changeover.ts`), as this build names it. */
export function moduleFile(relative: string, from: string): string {
    return fileURLToPath(new URL(relative.replace(/\.ts$/, moduleExt(from)), from));
}
