#!/usr/bin/env bash
# Builds pulumi-resource-kubernetes v4.25.0 from the Go module proxy into OUT/bin, as the provider's Makefile does:
#   the proxy serves github.com/pulumi/pulumi-kubernetes/provider/v4 only at a pseudo-version, whose commit is the
#   tag v4.25.0; its go.mod replaces sdk/v4 with ../sdk (not in the module zip), so a writable copy requires the
#   published sdk/v4 v4.25.0 instead; `go generate` embeds the schema with the version set; then a static build.
# Called by build.sh (which caches OUT); use scripts/kubernetes/provider.sh to build and install the plugin.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
out=${1:?usage: build-provider.sh OUT}
mod=github.com/pulumi/pulumi-kubernetes/provider/v4
src=$(go mod download -json "$mod@$PROVIDER_PSEUDO" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || die "provider: the Go module proxy did not give $mod@$PROVIDER_PSEUDO"
work=$(mktemp -d "${TMPDIR:-/tmp}/repave-provider.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
cd "$work"
go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
  -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@v$PROVIDER_VERSION"
go mod download github.com/pulumi/pulumi-kubernetes/sdk/v4
nice -n 19 env VERSION="$PROVIDER_VERSION" go generate ./cmd/pulumi-resource-kubernetes
gobuild -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$PROVIDER_VERSION" \
  -o "$out/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
