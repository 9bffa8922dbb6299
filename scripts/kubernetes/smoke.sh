#!/usr/bin/env bash
# Smoke test of the embedded cluster (or any cluster at KUBECONFIG whose nodes can pull from REPAVE_REGISTRY):
# the sample API, pulled from the local registry BY DIGEST with an imagePullSecret, becomes Ready and answers
# through a NodePort on the node address and on loopback (positive and negative requests). Cleans up after itself.
# Usage: smoke.sh [version]   (default 1.1.0)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
eval "$(bash "$root/scripts/kubernetes/cluster.sh" env)"
version=${1:-1.1.0}
K8S=$(bash "$root/scripts/kubernetes/build.sh" --dir kubernetes)
kc() { "$K8S/bin/kubectl" "$@"; }
ref=$(awk -v n="$REPAVE_REGISTRY/repave/sample-api:$version" '$1 == n {print $2}' "$REPAVE_CLUSTER_IMAGES")
[ -n "$ref" ] || die "smoke: sample-api:$version is not in $REPAVE_CLUSTER_IMAGES"
image="$REPAVE_REGISTRY/repave/sample-api@$ref"
ns=repave-smoke
port=30080
cred=$(openssl rand -hex 16)
trap 'kc delete namespace "$ns" --wait=true --timeout=60s >/dev/null 2>&1 || true' EXIT
t0=$SECONDS
kc create namespace "$ns" >/dev/null
kc -n "$ns" create secret docker-registry pull --docker-server="$REPAVE_REGISTRY" \
  --docker-username="$REPAVE_REGISTRY_USER" --docker-password="$(cat "$REPAVE_REGISTRY_PASSWORD_FILE")" >/dev/null
kc -n "$ns" create secret generic api --from-literal=credential="$cred" >/dev/null
kc -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: sample-api}
spec:
  replicas: 2
  selector: {matchLabels: {app: sample-api}}
  template:
    metadata: {labels: {app: sample-api}}
    spec:
      imagePullSecrets: [{name: pull}]
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532}
      containers:
      - name: api
        image: $image
        imagePullPolicy: IfNotPresent
        env:
        - {name: REPAVE_CREDENTIAL, valueFrom: {secretKeyRef: {name: api, key: credential}}}
        - {name: REPAVE_PORT_FILE, value: /tmp/port}
        - {name: REPAVE_PORT, value: "8080"}
        - {name: REPAVE_GENERATION, value: smoke}
        - {name: REPAVE_IMAGE_VERSION, value: "$version"}
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 256Mi}}
        volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {medium: Memory, sizeLimit: 1Mi}}]
---
apiVersion: v1
kind: Service
metadata: {name: sample-api}
spec:
  type: NodePort
  selector: {app: sample-api}
  ports: [{port: 80, targetPort: 8080, nodePort: $port}]
YAML
kc -n "$ns" rollout status deployment/sample-api --timeout=120s
echo "smoke: Deployment Available $((SECONDS - t0))s after apply; image $image"
kc -n "$ns" get pods -o wide
kc -n "$ns" get events --field-selector reason=Pulled -o custom-columns=PULLED:.message --no-headers | sort -u
# kube-proxy programs the NodePort within its sync period after the endpoints change: wait for it (bounded).
t1=$SECONDS
until curl -sf -o /dev/null --max-time 2 "http://$REPAVE_CLUSTER_NODE_IP:$port/healthz"; do
  [ $((SECONDS - t1)) -lt 30 ] || die "smoke: the NodePort did not answer within 30s"
  sleep 0.2
done
echo "smoke: NodePort answering $((SECONDS - t0))s after apply"
fail=0
check() { # check URL EXPECTED_STATUS [curl args]
  local url=$1 want=$2 got
  shift 2
  got=$(curl -s -o /tmp/repave-smoke.body -w '%{http_code}' --max-time 5 "$@" "$url" || true)
  echo "smoke: $url -> $got $(head -c 200 /tmp/repave-smoke.body 2>/dev/null)"
  [ "$got" = "$want" ] || { echo "smoke: FAILED, expected $want" >&2; fail=1; }
}
for host in "$REPAVE_CLUSTER_NODE_IP" 127.0.0.1; do
  check "http://$host:$port/healthz" 200
  check "http://$host:$port/v1/hello" 200 -H "authorization: Bearer $cred"
  check "http://$host:$port/v1/hello" 401
  check "http://$host:$port/v1/hello" 403 -H "authorization: Bearer wrong"
done
rm -f /tmp/repave-smoke.body
[ $fail -eq 0 ] && echo "smoke: passed" || { echo "smoke: failed" >&2; exit 1; }
