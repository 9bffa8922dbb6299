#!/usr/bin/env bash
# Everything a fresh machine needs, from the project's own files: pinned npm packages (with Node 24 among them),
# then a Pulumi CLI: the one on PATH when it is new enough for the SDK (the official toolchain), else the
# project's engine built from the Go module proxy (REPAVE_ENGINE=project forces that). Safe to rerun: cached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
export PATH="$root/node_modules/.bin:$PATH"
engine=$(node scripts/engine-env.ts "$root" --describe 2>/dev/null || echo "none")
case "${REPAVE_ENGINE:-auto}/${engine%%$'\t'*}" in
  project/*|*/project|*/none) bash scripts/build-engine.sh ;;
  *) echo "engine: ${engine#*$'\t'} (REPAVE_ENGINE=project builds and uses the project's own)" ;;
esac
