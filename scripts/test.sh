#!/usr/bin/env bash
# The test command (`npm test`): set-up, strict type-check, lint, unit tests (mocks and real TLS), then the
# real-engine tests against the local target, then the Kubernetes target's suites on a real cluster with the real
# provider (scripts/kubernetes/e2e.sh: the embedded cluster, or KUBECONFIG's). Each stage stops the run on failure.
#
# The Kubernetes pieces (the cluster's binaries, the provider, the registry, the images) are Go builds that take
# ~20 minutes on 2 cores the first time (cached outside the clone after that). They build in the background, at the
# lowest CPU priority, while the local stages run, and the Kubernetes stage waits for them. REPAVE_KUBERNETES=skip
# leaves that stage out; the run then says so, and it is not a passing run of everything.
#
# Nothing ages by itself: the unit suite and the fast real-engine suites (policy, config) run with the clock of
# every Node process moved a year ahead by libfaketime. It moves the clock of Node (the program, the dynamic
# providers, the probes, the tests) but not of Go binaries (the Pulumi CLI reads the time from the vDSO), so the
# suites it covers are the Node-side ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/debian-packages.sh
export PATH="$root/.engine/bin:$root/node_modules/.bin:$PATH"
faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
ahead=()
if [ -n "$faketime_lib" ]; then
  ahead=(env "LD_PRELOAD=$faketime_lib" "FAKETIME=+365d" "FAKETIME_DONT_RESET=1")
  clock="clock a year ahead: $("${ahead[@]}" node -p 'new Date().toISOString()')"
else
  echo "clock-moved runs: SKIPPED (libfaketime is not installed; see scripts/debian-packages.sh)"
  clock="real clock: libfaketime missing"
fi
kube_log="${TMPDIR:-/tmp}/repave-kubernetes-build.$$.log"
kube_build=""
if [ "${REPAVE_KUBERNETES:-run}" != skip ] && [ -z "${KUBECONFIG:-}" ]; then
  # Its own process group, so that a failed or interrupted run stops the Go compilers too.
  setsid bash scripts/kubernetes/build.sh >"$kube_log" 2>&1 &
  kube_build=$!
  trap 'if [ -n "$kube_build" ]; then kill -- "-$kube_build" 2>/dev/null; fi; rm -f "$kube_log"' EXIT
fi
e2e=(node --test --test-concurrency=1 --test-timeout=600000)
echo "== typecheck" && tsc -p tsconfig.json --noEmit
echo "== lint" && eslint . && bash scripts/lint-workflows.sh
echo "== unit ($clock)" && "${ahead[@]}" node --test --test-concurrency=1 'test/unit/**/*.test.ts'
echo "== e2e: policy and config on the real engine ($clock)" && "${ahead[@]}" "${e2e[@]}" test/e2e/policy.test.ts test/e2e/config.test.ts
echo "== e2e: changeover, driver, interrupts on the real engine" && "${e2e[@]}" $(ls test/e2e/*.test.ts | grep -v -e /policy.test.ts -e /config.test.ts)
if [ "${REPAVE_KUBERNETES:-run}" = skip ]; then
  echo "== e2e: kubernetes: SKIPPED (REPAVE_KUBERNETES=skip)"
  exit 0
fi
if [ -n "$kube_build" ]; then
  echo "== kubernetes pieces: waiting for the background build"
  if ! wait "$kube_build"; then kube_build=""; cat "$kube_log"; echo "kubernetes pieces: build failed" >&2; exit 1; fi
  kube_build=""
  grep -E 'built in|cached in' "$kube_log" || true
fi
echo "== e2e: kubernetes on a real cluster, the real provider and a real registry" && bash scripts/kubernetes/e2e.sh
