#!/usr/bin/env bash
# Everything a fresh machine needs, from the project's own files: pinned npm packages (with Node 24 among them),
# then the Pulumi engine built from the Go module proxy. Safe to rerun: both steps are cached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/build-engine.sh
