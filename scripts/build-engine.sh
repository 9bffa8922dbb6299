#!/usr/bin/env bash
# Builds the real Pulumi engine from the Go module proxy into .engine/bin (git-ignored), once per pinned version:
#   pulumi                          the CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at $PULUMI_VERSION
#   pulumi-language-nodejs          repave's Node.js language host (engine/langhost, see engine/README.md)
#   pulumi-resource-pulumi-nodejs   the dynamic-provider shim: runs @pulumi/pulumi's cmd/dynamic-provider on node
# A second run with the same inputs is instant: the stamp file records what was built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
engine="$root/engine"
bin="$root/.engine/bin"
version=$(sed -n 's/^\tgithub.com\/pulumi\/pulumi\/pkg\/v3 \(v[0-9.]*\)$/\1/p' "$engine/go.mod")
[ -n "$version" ] || { echo "build-engine: cannot read the pinned pkg/v3 version from engine/go.mod" >&2; exit 1; }
stamp="$bin/.stamp"
want="$version $(cat "$engine/go.sum" "$engine/langhost/"*.go "$0" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ]; then
  echo "engine: pulumi $version (cached in .engine/bin)"
  exit 0
fi
command -v go >/dev/null || { echo "build-engine: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
mkdir -p "$bin"
cd "$engine"
flags=(-trimpath -tags osusergo,grpcnotrace)
echo "engine: building pulumi $version from the Go module proxy (first time only; several minutes)..."
go build "${flags[@]}" -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
go build "${flags[@]}" -ldflags "-X main.version=$version" -o "$bin/pulumi-language-nodejs" ./langhost
cat > "$bin/pulumi-resource-pulumi-nodejs" <<'SHIM'
#!/bin/sh
# Dynamic-provider plugin: @pulumi/pulumi's own provider host, resolved from the program's node_modules.
script=$(node -e "process.stdout.write(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))") || exit 1
exec node "$script" "$@"
SHIM
chmod +x "$bin/pulumi-resource-pulumi-nodejs"
echo "$want" > "$stamp"
"$bin/pulumi" version
