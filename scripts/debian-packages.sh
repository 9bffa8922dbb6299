#!/usr/bin/env bash
# Debian packages the tests use, installed from the project's own files (a fresh machine has none of them):
#   faketime   libfaketime: the Node-side suites run with the clock a year ahead (nothing ages by itself)
#   jq         the driver's --format json output must parse with the tool people pipe it to
#   chromium   headless: `repave report`'s page renders with no console error (test/e2e/fleet.test.ts)
#   haproxy    the local front door's data path (components/local/frontdoor/data-path.ts): every local test and
#              `up:local` need it; without it the front door refuses to start, saying so
# Installs only what is missing, and only as root; without root it says what is missing and the tests that need
# it report themselves skipped - never passed. With package names as arguments, only those (up:local: haproxy).
set -euo pipefail
packages=(faketime jq chromium haproxy)
[ $# -gt 0 ] && packages=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "debian packages: missing ${missing[*]} (install them as root: apt-get install ${missing[*]}); the tests that need them will be skipped" >&2
  exit 0
fi
echo "debian packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
