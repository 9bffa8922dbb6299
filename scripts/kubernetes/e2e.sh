#!/usr/bin/env bash
# npm run test:kubernetes: the Kubernetes target's real-engine suites (test/e2e/kubernetes) with the real provider.
#   With KUBECONFIG (and REPAVE_REGISTRY, REPAVE_REGISTRY_USER, REPAVE_REGISTRY_PASSWORD_FILE, REPAVE_REGISTRY_CA,
#   REPAVE_CLUSTER_IMAGES for the registry) set: that cluster. Without: the embedded cluster, built if needed,
#   started here and always stopped here (`cluster.sh down`, also after a failure or Ctrl-C).
#   Without root and without KUBECONFIG, `cluster.sh up` exits 3: the suites run and report themselves SKIPPED.
# Extra arguments go to node --test (e.g. --test-name-pattern "two consecutive").
# `e2e.sh --bench [--repaves N]` runs bench/kubernetes.ts on the cluster instead (figures in bench/results/kubernetes.json).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=../env.sh
source scripts/env.sh || exit 1
secs() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(secs)
timings=()
step() { local name=$1 t; shift; t=$(secs); "$@"; local rc=$?; timings+=("$name $(( ($(secs) - t) / 1000 )).$(( ($(secs) - t) % 1000 / 100 ))s"); return $rc; }

started=""
finish() {
  local rc=$?
  if [ -n "$started" ]; then step "cluster-down" bash scripts/kubernetes/cluster.sh down || rc=1; fi
  echo "kubernetes e2e timings: ${timings[*]} total $(( ($(secs) - t0) / 1000 ))s" >&2
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

skip=""
if [ -z "${KUBECONFIG:-}" ]; then
  step "build" nice bash scripts/kubernetes/build.sh || exit 1
  step "cluster-up" bash scripts/kubernetes/cluster.sh up
  rc=$?
  if [ $rc -eq 3 ]; then
    skip="cluster.sh up exited 3 (no root) and KUBECONFIG is not set"
  elif [ $rc -ne 0 ]; then
    started=1 # a failed up is cleaned by down
    exit $rc
  else
    started=1
    eval "$(bash scripts/kubernetes/cluster.sh env)"
    REPAVE_KUBECTL="$(bash scripts/kubernetes/build.sh --dir kubernetes 2>/dev/null)/bin/kubectl"
    export REPAVE_KUBECTL
  fi
fi
if [ -z "$skip" ]; then
  # The engine's own PULUMI_HOME; each test stack installs the provider into its own too.
  step "provider" bash scripts/kubernetes/provider.sh >/dev/null || exit 1
  export NODE_EXTRA_CA_CERTS="${REPAVE_REGISTRY_CA:-}"
else
  echo "kubernetes e2e: SKIPPED: $skip" >&2
  export REPAVE_K8S_SKIP="$skip"
fi
if [ "${1:-}" = "--bench" ]; then
  # The Kubernetes bench (bench/kubernetes.ts) on the same cluster, instead of the suites.
  shift
  step "bench" node bench/kubernetes.ts "$@"
else
  step "suite" node --test --test-concurrency=1 "$@" 'test/e2e/kubernetes/**/*.test.ts'
fi
