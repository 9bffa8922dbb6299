// The repave program of this repository (stacks/Pulumi.<stack>.yaml select the target and describe the APIs).
// A project that installs the package writes the same three lines with `from "repave"`.
import { repaveProgram } from "./components/program.ts";

export const { endpoints, credentials, caCertPem } = await repaveProgram();
