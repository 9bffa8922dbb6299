#!/usr/bin/env bash
# Lints the CD workflow examples with actionlint (built from the Go module proxy at a pinned version, cached by Go).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
GOFLAGS=-mod=mod go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 -shellcheck= "$root"/examples/cd/github/*.yml
echo "actionlint: $(ls "$root"/examples/cd/github/*.yml | wc -l) workflows clean"
