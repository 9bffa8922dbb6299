// The package's front door (`import ... from "repave"`): the program as a function and the one spec every target
// accepts. Each target's component is its own entry point (`repave/local`, `repave/aws`, `repave/gcp`,
// `repave/kubernetes`), so a Kubernetes-only project never loads the AWS or GCP SDKs.
export { repaveProgram, type Endpoint, type RepaveOutputs } from "./program.ts";
export {
    parseApiSpecs,
    SpecError,
    statelessApiSpecSchema,
    type ImageSource,
    type Probe,
    type ProbeInput,
    type RepavePolicy,
    type StatelessApiSpec,
    type StatelessApiSpecInput,
} from "./spec.ts";
export { runProbeSuite, runPositive, summarize, type ProbeReport, type ProbeResult, type ProbeSuite } from "./probes.ts";
