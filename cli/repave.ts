#!/usr/bin/env node
// The repave driver. Subcommands grow with the product; each prints what it did and exits non-zero on failure.
import { parseArgs } from "node:util";
import { openStack } from "./workspace.ts";
import { recover } from "./recover.ts";

const usage = `usage: repave <command> [--stack NAME] [--cwd DIR]

commands:
  recover   after an interrupted run: clear the stale lock, drop unknown pending creates, stop orphaned processes`;

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
            stack: { type: "string", default: "local" },
            cwd: { type: "string" },
            help: { type: "boolean", short: "h" },
        },
    });
    const command = positionals[0];
    if (values.help || !command) {
        console.log(usage);
        return command || values.help ? 0 : 2;
    }
    switch (command) {
        case "recover": {
            const stack = await openStack(values.stack, values.cwd);
            const report = await recover(stack);
            console.log(
                `recovered ${values.stack}: lock ${report.lockCleared ? "cleared" : "was free"}, ` +
                    `${report.pendingOperations} pending operation(s) cleared, ` +
                    `${report.reapedGenerations.length} orphaned generation(s) stopped${report.reapedGenerations.length ? ` (${report.reapedGenerations.join(", ")})` : ""}. ` +
                    `Now run the update again.`,
            );
            return 0;
        }
        default:
            console.error(`repave: unknown command "${command}"\n${usage}`);
            return 2;
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
        console.error(`repave: ${err.message}`);
        process.exit(1);
    },
);
