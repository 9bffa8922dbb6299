# Sourced by scripts/kubernetes/*.sh: where the Kubernetes pieces are cached (outside the clone, so a re-clone
# does not rebuild), and how a piece is keyed: its version plus a hash of the recipe that builds it (the shell
# function's own text and the files it reads), so a second run with the same inputs is instant.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache="${REPAVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repave}"
kcache="$cache/kubernetes"

# The versions, in one place.
K8S_VERSION=v1.34.4
PROVIDER_VERSION=4.25.0
# The Go module proxy serves pulumi-kubernetes/provider/v4 only at this pseudo-version: the commit tagged v4.25.0.
PROVIDER_PSEUDO=v4.0.0-20260115033456-f47bc2d6f199
COREDNS_VERSION=v1.14.7
CRICTL_VERSION=v1.34.0
REGISTRY_VERSION=v3.1.2

log() { echo "kubernetes: $*" >&2; }
die() { echo "kubernetes: $*" >&2; exit 1; }

# key NAME VERSION FUNCTION [FILES...] -> prints the cache folder of that piece
key() {
  local name=$1 version=$2 fn=$3
  shift 3
  local h
  h=$( { declare -f "$fn"; if [ $# -gt 0 ]; then cat "$@"; fi; } | sha256sum | cut -c1-12)
  echo "$kcache/$name-$version-$h"
}

# Runs a long build politely: lowest priority, so other engineers' tests on the 2 cores keep their share.
gobuild() { nice -n 19 go build -buildvcs=false "$@"; }
