# Sourced by the scripts: the project's own engine and Node first on PATH, a local file backend, and the fixed
# passphrase of local/test stacks. Real stacks keep their state and secrets provider wherever they already do:
# set PULUMI_BACKEND_URL / PULUMI_CONFIG_PASSPHRASE(_FILE) yourself and these defaults step aside.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.engine/bin:$root/node_modules/.bin:$PATH"
export PULUMI_HOME="${PULUMI_HOME:-$root/.pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$root/.pulumi-state}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE="repave-local-only"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p "$root/.pulumi-state" "$PULUMI_HOME"
