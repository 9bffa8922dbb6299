#!/usr/bin/env bash
# The test command (`npm test`): set-up, strict type-check, lint, unit tests (mocks and real TLS), then the
# real-engine tests against the local target. Each stage stops the run on failure.
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
e2e=(node --test --test-concurrency=1 --test-timeout=600000)
echo "== typecheck" && tsc -p tsconfig.json --noEmit
echo "== lint" && eslint . && bash scripts/lint-workflows.sh
echo "== unit ($clock)" && "${ahead[@]}" node --test --test-concurrency=1 'test/unit/**/*.test.ts'
echo "== e2e: policy and config on the real engine ($clock)" && "${ahead[@]}" "${e2e[@]}" test/e2e/policy.test.ts test/e2e/config.test.ts
echo "== e2e: changeover, driver, interrupts on the real engine" && "${e2e[@]}" $(ls test/e2e/*.test.ts | grep -v -e /policy.test.ts -e /config.test.ts)
