#!/usr/bin/env bash
# Builds (once, cached outside the clone) and installs the real pulumi-resource-kubernetes v4.25.0 where the Pulumi
# engine finds it with no download: $PULUMI_HOME/plugins/resource-kubernetes-v4.25.0/ (a real folder: the engine
# skips symlinked plugin folders) holding a link to the cached binary. The npm package @pulumi/kubernetes must be
# pinned to the same 4.25.0: a newer SDK asks the engine for its own plugin version and for resource types this
# provider does not have. Prints the plugin folder.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
dir=$(bash "$root/scripts/kubernetes/build.sh" --dir provider)
plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
dest="$plugins/resource-kubernetes-v$PROVIDER_VERSION"
mkdir -p "$dest"
ln -sfn "$dir/bin/pulumi-resource-kubernetes" "$dest/pulumi-resource-kubernetes"
rm -f "$dest.partial" "$dest.lock"
echo "$dest"
