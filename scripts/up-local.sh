#!/usr/bin/env bash
# One command for a newcomer: set up, then repave the local stack (stacks/Pulumi.local.yaml). Run it again and
# again: every run is a red/green repave onto the newest patched build, with a fresh certificate and credential.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
# The local front door's data path (HAProxy, from Debian): installed when missing and run as root; otherwise the
# front door refuses in one line, naming the package.
bash "$root/scripts/debian-packages.sh" haproxy
source "$root/scripts/env.sh"
cd "$root"
pulumi stack select local --create >/dev/null
pulumi up --yes --skip-preview "$@"
mkdir -p "$root/.repave"
pulumi stack output caCertPem > "$root/.repave/ca.pem"
pulumi stack output endpoints
echo
echo "Call it (the credential is a Pulumi secret; this prints it to your terminal only):"
echo "  source scripts/env.sh && curl --cacert .repave/ca.pem -H \"Authorization: Bearer \$(pulumi stack output credentials --show-secrets --json | node -pe 'Object.values(JSON.parse(require(\"fs\").readFileSync(0)))[0]')\" https://localhost:8443/v1/hello"
