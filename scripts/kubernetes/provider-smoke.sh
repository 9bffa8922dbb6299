#!/usr/bin/env bash
# Proves the real provider against a cluster (KUBECONFIG, else the embedded one): the engine lists
# pulumi-resource-kubernetes 4.25.0 with no download, and `pulumi up` of a tiny program (npm @pulumi/kubernetes
# 4.25.0, installed in a temporary project only) creates a Deployment of the sample API pulled by digest with an
# imagePullSecret and waits for it to be Ready; `pulumi destroy` deletes it. Uses the project's engine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -x "$root/.engine/bin/pulumi" ] || die "provider-smoke: build the engine first (bash scripts/build-engine.sh)"
eval "$(bash "$root/scripts/kubernetes/cluster.sh" env)"
K8S=$(bash "$root/scripts/kubernetes/build.sh" --dir kubernetes)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/repave-provider-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PATH="$root/.engine/bin:$root/node_modules/.bin:$PATH" PULUMI_HOME="$tmp/home" \
  PULUMI_BACKEND_URL="file://$tmp/state" PULUMI_CONFIG_PASSPHRASE=provider-smoke PULUMI_SKIP_UPDATE_CHECK=true \
  PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p "$tmp/state" "$tmp/project"
bash "$root/scripts/kubernetes/provider.sh" >/dev/null
pulumi plugin ls
ref=$(awk -v n="$REPAVE_REGISTRY/repave/sample-api:1.1.0" '$1 == n {print $2}' "$REPAVE_CLUSTER_IMAGES")
cd "$tmp/project"
sdk=$(node -p "require('$root/node_modules/@pulumi/pulumi/package.json').version")
cat > package.json <<JSON
{"name": "provider-smoke", "private": true, "main": "index.js",
 "dependencies": {"@pulumi/pulumi": "$sdk", "@pulumi/kubernetes": "$PROVIDER_VERSION"}}
JSON
cat > Pulumi.yaml <<'YAML'
name: provider-smoke
runtime: nodejs
YAML
cat > index.js <<'JS'
const pulumi = require("@pulumi/pulumi");
const k8s = require("@pulumi/kubernetes");
const cfg = new pulumi.Config();
const provider = new k8s.Provider("cluster", { kubeconfig: cfg.require("kubeconfig") });
const opts = { provider };
const ns = new k8s.core.v1.Namespace("smoke", {}, opts);
const namespace = ns.metadata.name;
const auth = Buffer.from(`${cfg.require("registryUser")}:${cfg.require("registryPassword")}`).toString("base64");
const pull = new k8s.core.v1.Secret("pull", {
  metadata: { namespace },
  type: "kubernetes.io/dockerconfigjson",
  stringData: { ".dockerconfigjson": pulumi.secret(JSON.stringify({ auths: { [cfg.require("registry")]: { auth } } })) },
}, opts);
const labels = { app: "provider-smoke" };
const deployment = new k8s.apps.v1.Deployment("api", {
  metadata: { namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        imagePullSecrets: [{ name: pull.metadata.name }],
        securityContext: { runAsNonRoot: true, runAsUser: 65532 },
        containers: [{
          name: "api",
          image: cfg.require("image"),
          env: [
            { name: "REPAVE_CREDENTIAL", value: "provider-smoke" },
            { name: "REPAVE_PORT_FILE", value: "/tmp/port" },
            { name: "REPAVE_PORT", value: "8080" },
          ],
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 1 },
        }],
      },
    },
  },
}, opts);
exports.namespace = namespace;
exports.deployment = deployment.metadata.name;
exports.readyReplicas = deployment.status.readyReplicas;
JS
t0=$SECONDS
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
echo "provider-smoke: npm install $((SECONDS - t0))s"
pulumi stack init smoke >/dev/null
pulumi config set kubeconfig "$(cat "$KUBECONFIG")" >/dev/null
pulumi config set registry "$REPAVE_REGISTRY" >/dev/null
pulumi config set registryUser "$REPAVE_REGISTRY_USER" >/dev/null
pulumi config set --secret registryPassword "$(cat "$REPAVE_REGISTRY_PASSWORD_FILE")" >/dev/null
pulumi config set image "$REPAVE_REGISTRY/repave/sample-api@$ref" >/dev/null
t0=$SECONDS
pulumi preview --non-interactive >"$tmp/preview.log" 2>&1 || { cat "$tmp/preview.log"; exit 1; }
echo "provider-smoke: preview $((SECONDS - t0))s"
t0=$SECONDS
pulumi up --yes --skip-preview --non-interactive >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log"; exit 1; }
echo "provider-smoke: up $((SECONDS - t0))s"
tail -n 12 "$tmp/up.log"
grep -iE 'warning|download' "$tmp/up.log" "$tmp/preview.log" || echo "provider-smoke: no warning and no download in preview/up"
ns=$(pulumi stack output namespace)
dep=$(pulumi stack output deployment)
"$K8S/bin/kubectl" -n "$ns" get deployment "$dep" -o wide
t0=$SECONDS
pulumi destroy --yes --skip-preview --non-interactive >"$tmp/destroy.log" 2>&1 || { cat "$tmp/destroy.log"; exit 1; }
echo "provider-smoke: destroy $((SECONDS - t0))s"
if "$K8S/bin/kubectl" get namespace "$ns" >/dev/null 2>&1; then
  "$K8S/bin/kubectl" wait --for=delete "namespace/$ns" --timeout=60s >/dev/null
fi
"$K8S/bin/kubectl" get namespace "$ns" >/dev/null 2>&1 && die "provider-smoke: namespace $ns still exists"
echo "provider-smoke: passed (created and deleted Deployment $ns/$dep)"
