// Prints `export NAME=value` lines for the shell: the Pulumi CLI the project resolves (cli/engine.ts) and the
// environment its calls need (cli/environment.ts). scripts/env.sh evals it, so the scripts and the driver make
// one decision, in one place. Exit 3: no CLI yet (scripts/setup.sh then builds the project's engine).
import { EngineError, resolveEngine } from "../cli/engine.ts";
import { ConfigurationError, engineEnv } from "../cli/environment.ts";

// `--describe`: print "<source>\t<reason>" instead (setup.sh decides whether to build the project's engine).
const root = process.argv[2] ?? process.cwd();
const describe = process.argv.includes("--describe");
const quote = (v: string) => `'${v.replaceAll("'", "'\\''")}'`;
try {
    const engine = resolveEngine(root);
    if (describe) {
        process.stdout.write(`${engine.source}\t${engine.reason}\n`);
        process.exit(0);
    }
    const env = engineEnv(root, engine);
    for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${quote(v)}\n`);
    process.stdout.write(`export REPAVE_ENGINE_REASON=${quote(engine.reason)}\n`);
} catch (err) {
    if (err instanceof EngineError) {
        process.stderr.write(`engine: ${err.message}\n`);
        process.exit(3);
    }
    if (err instanceof ConfigurationError) {
        process.stderr.write(`repave: ${err.message}\n`);
        process.exit(1);
    }
    throw err;
}
