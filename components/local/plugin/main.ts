// The entry of repave's provider plugin: provider/pulumi-resource-repave runs this file (the engine passes the
// address of its engine as the argument and reads the port this prints).
// The provider server alone, not the whole SDK (half the plugin's start-up time).
import { main } from "@pulumi/pulumi/provider/server.js";
import { repaveProvider } from "./provider.ts";

await main(repaveProvider, process.argv.slice(2));
