# Sourced by the scripts (and `npm run repave`): the Pulumi CLI the project resolves and the environment its calls
# need, decided once in cli/engine.ts and cli/environment.ts (scripts/engine-env.ts prints them):
# - the CLI: a `pulumi` on PATH new enough for the SDK (the official toolchain), else the project's engine in
#   .engine/bin; REPAVE_ENGINE=path|project forces one, REPAVE_PULUMI=/path/to/pulumi names one;
# - the backend: PULUMI_BACKEND_URL, else your `pulumi login`, else the local file backend .pulumi-state/ (0700);
# - the passphrase: yours (PULUMI_CONFIG_PASSPHRASE or _FILE); only the default local file backend gets a random
#   per-checkout one (.pulumi-state/.passphrase, 0600); an empty one with any other backend is refused.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
repave_env=$(node "$root/scripts/engine-env.ts" "$root") || return 1 2>/dev/null || exit 1
eval "$repave_env"
unset repave_env
