#!/usr/bin/env bash
# The test command (`npm test`): set-up, strict type-check, lint, unit tests (mocks and real TLS), then the
# real-engine tests against the local target. Each stage stops the run on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="$root/.engine/bin:$root/node_modules/.bin:$PATH"
echo "== typecheck" && tsc -p tsconfig.json --noEmit
echo "== lint" && eslint . && bash scripts/lint-workflows.sh
echo "== unit" && node --test --test-concurrency=1 'test/unit/**/*.test.ts'
echo "== e2e (real engine, local target)" && node --test --test-concurrency=1 --test-timeout=600000 'test/e2e/**/*.test.ts'
