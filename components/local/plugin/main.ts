// The entry of repave's provider plugin: provider/pulumi-resource-repave runs this file (the engine passes the
// address of its engine as the argument and reads the port this prints).
import * as pulumi from "@pulumi/pulumi";
import { repaveProvider } from "./provider.ts";

await pulumi.provider.main(repaveProvider, process.argv.slice(2));
