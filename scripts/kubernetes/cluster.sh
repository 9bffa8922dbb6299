#!/usr/bin/env bash
# The embedded single-node Kubernetes cluster (see cluster/README.md):
#   cluster.sh up       build what is missing (cached), start everything, wait for Node Ready + CoreDNS + the default
#                       ServiceAccount, push the project's images into the local registry; idempotent
#   cluster.sh down     stop everything and remove all that `up` added (processes, links, iptables/ip6tables rules
#                       and chains, sysctls, cgroups, mounts, state); idempotent
#   cluster.sh status   what runs; exit 0 only when the cluster is up
#   cluster.sh env      prints `export` lines: KUBECONFIG and the registry's address, user, password file and CA
#   cluster.sh leftovers  after `down`: lists anything of the cluster still on the machine (exit 1 if any)
# State lives under one folder: ${REPAVE_CLUSTER_DIR:-/var/lib/repave-cluster}. Needs root.
# Network rules of this workplace, kept here: the node address is a /32 on a bridge this script creates, pods get no
# default route and no NAT to the outside, FORWARD to the uplink is dropped while the cluster runs, CoreDNS has no
# `forward`, every image is built locally (containerd sends any other registry to an unused loopback port).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

S="${REPAVE_CLUSTER_DIR:-/var/lib/repave-cluster}"
NODE=repave-node
NODE_IP=10.250.0.1
NODE_LINK=rpvnode0
POD_CIDR=10.244.0.0/24
POD_GW=10.244.0.1
POD_LINK=rpvpods0
SVC_CIDR=10.96.0.0/24
API_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
API_PORT=6443
ETCD_PORT=12379
REGISTRY_PORT=5443
REGISTRY="127.0.0.1:$REGISTRY_PORT"
REGISTRY_USER=repave
BLACKHOLE="https://127.0.0.1:1"   # where containerd sends every registry but ours: refused at once
MARK="repave-cluster"             # comment on the iptables rules this script adds itself
DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy registry)
DEBS=(containerd runc containernetworking-plugins etcd-server iptables conntrack skopeo apache2-utils openssl iproute2 curl)

need_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  echo "cluster: cannot run without root: the embedded cluster creates network links, iptables rules, cgroups and" \
    "mounts. Run it as root, or point KUBECONFIG at a cluster you have." >&2
  exit 3
}

# wait_for DESCRIPTION SECONDS COMMAND... : polls every 0.5 s, bounded
wait_for() {
  local what=$1 limit=$2 t0=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# A process that runs (a zombie does not: the daemons' parent is gone, and whoever adopts them may not reap them).
running_pid() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [ -n "$st" ] && [ "$st" != Z ]; }
alive() { local p; p=$(cat "$S/run/$1.pid" 2>/dev/null) && running_pid "$p"; }

# wait_daemon NAME DESCRIPTION SECONDS COMMAND... : like wait_for, but gives up at once if daemon NAME has exited
wait_daemon() {
  local name=$1 what=$2 limit=$3 t0=$SECONDS
  shift 3
  until "$@" >/dev/null 2>&1; do
    alive "$name" || { log "$name exited while waiting for $what (see $S/logs/$name.log)"; return 1; }
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      log "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# start NAME COMMAND... : runs a daemon in its own session, logs to $S/logs/NAME.log
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$S/logs/$name.log" 2>&1 9<&- &
  echo $! >"$S/run/$name.pid"
}

# stop SECONDS NAME... : SIGTERM to all, then SIGKILL to those still running after SECONDS (the apiserver often
# ignores SIGTERM for > 10 s)
stop() {
  local limit=$1 name p pids=() i
  shift
  for name in "$@"; do
    p=$(cat "$S/run/$name.pid" 2>/dev/null) || continue
    kill -TERM "$p" 2>/dev/null && pids+=("$p")
    rm -f "$S/run/$name.pid"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  running() { for p in "${pids[@]}"; do running_pid "$p" && return 0; done; return 1; }
  i=0
  while running && [ $i -lt $((limit * 10)) ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  i=0
  while running && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

K8S=$(cat "$S/run/k8s.dir" 2>/dev/null || true)   # the Kubernetes binaries this cluster runs (set by `up`)
# kubectl's discovery cache stays in the state folder (not ~/.kube/cache)
export KUBECACHEDIR="$S/kubectl-cache"
kc() { [ -n "$K8S" ] || return 1; "$K8S/bin/kubectl" --kubeconfig "$S/kubeconfig" "$@"; }

install_debs() {
  local missing=() p
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

uplinks() { { ip -4 route show default; ip -6 route show default; } 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | sort -u; }

# ---- certificates: one CA the project makes; every server and client certificate signed by it -----------------
cert() { # cert NAME SUBJECT [SAN]
  local n=$1 subj=$2 san=${3:-}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$S/pki/$n.key" 2>/dev/null
  openssl req -new -key "$S/pki/$n.key" -subj "$subj" -out "$S/pki/$n.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
  } >"$S/pki/$n.ext"
  openssl x509 -req -in "$S/pki/$n.csr" -CA "$S/pki/ca.crt" -CAkey "$S/pki/ca.key" -CAcreateserial -days 3650 \
    -extfile "$S/pki/$n.ext" -out "$S/pki/$n.crt" 2>/dev/null
  rm -f "$S/pki/$n.csr" "$S/pki/$n.ext"
}

kubeconfig() { # kubeconfig FILE CERTNAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: repave
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $S/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $S/pki/$2.crt
    client-key: $S/pki/$2.key
contexts:
- name: repave
  context: {cluster: repave, user: $2, namespace: default}
current-context: repave
EOF
}

make_pki() {
  [ -f "$S/pki/.done" ] && return 0
  mkdir -p "$S/pki" && chmod 700 "$S/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$S/pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$S/pki/ca.key" -subj "/CN=repave-cluster-ca" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$S/pki/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:$NODE_IP,IP:$API_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-serving "/CN=$NODE" "IP:$NODE_IP,DNS:$NODE"
  cert registry "/CN=repave-registry" "IP:127.0.0.1,DNS:localhost"
  cert admin "/O=system:masters/CN=repave-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$S/pki/sa.key" 2>/dev/null
  openssl pkey -in "$S/pki/sa.key" -pubout -out "$S/pki/sa.pub" 2>/dev/null
  local n
  for n in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig "$S/$n.kubeconfig" "$n"; done
  cp "$S/admin.kubeconfig" "$S/kubeconfig"
  touch "$S/pki/.done"
}

# ---- network ---------------------------------------------------------------------------------------------------
save_sysctls() {
  [ -f "$S/sysctl.saved" ] && return 0
  local k
  for k in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables \
    net/ipv4/conf/all/route_localnet; do
    [ -f "/proc/sys/$k" ] && echo "$k $(cat "/proc/sys/$k")"
  done >"$S/sysctl.saved"
}

restore_sysctls() {
  [ -f "$S/sysctl.saved" ] || return 0
  local k v
  while read -r k v; do echo "$v" >"/proc/sys/$k" 2>/dev/null || true; done <"$S/sysctl.saved"
  rm -f "$S/sysctl.saved"
}

# Paths outside $S that the runtime creates by itself (hard-coded in containerd's shim, libcni, the kubelet):
# remembered when they do not exist yet, removed by `down`.
# (kubelet: /var/lib/kubelet/device-plugins whatever its root dir; skopeo as root: /var/lib/containers/cache)
OUTSIDE=(/run/containerd /var/lib/cni /var/lib/kubelet /var/lib/containers /var/log/containers /var/log/pods /etc/cni /opt/cni)
save_outside() {
  [ -f "$S/outside.created" ] && return 0
  local p
  for p in "${OUTSIDE[@]}"; do [ -e "$p" ] || echo "$p"; done >"$S/outside.created"
}

net_up() {
  save_sysctls
  ip link show "$NODE_LINK" >/dev/null 2>&1 || ip link add "$NODE_LINK" type bridge
  ip addr show dev "$NODE_LINK" | grep -q "inet $NODE_IP/32" || ip addr add "$NODE_IP/32" dev "$NODE_LINK"
  ip link set "$NODE_LINK" up
  echo 1 >/proc/sys/net/ipv4/ip_forward
  [ -f /proc/sys/net/bridge/bridge-nf-call-iptables ] && echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  [ -f /proc/sys/net/bridge/bridge-nf-call-ip6tables ] && echo 1 >/proc/sys/net/bridge/bridge-nf-call-ip6tables
  # Nothing is forwarded to the uplink while the cluster runs: in filter FORWARD, and in mangle FORWARD too, which
  # runs before it (kube-proxy inserts ACCEPT rules at the top of filter FORWARD).
  local dev t table
  for dev in $(uplinks); do
    for t in iptables ip6tables; do
      for table in mangle filter; do
        $t -t $table -C FORWARD -o "$dev" -m comment --comment "$MARK" -j DROP 2>/dev/null ||
          $t -t $table -I FORWARD -o "$dev" -m comment --comment "$MARK" -j DROP
      done
    done
  done
}

# Removes every rule this cluster added: ours (by comment), kube-proxy's and the kubelet's KUBE-* chains and the
# jumps to them, in every table, for IPv4 and IPv6.
iptables_clean() {
  local t table chain rule
  for t in iptables ip6tables; do
    command -v "$t-save" >/dev/null || continue
    for table in filter nat mangle raw; do
      { "$t-save" -t "$table" 2>/dev/null | grep -E "^-A [A-Z]+ .*(-j KUBE-|--comment \"?$MARK)" || true; } | while read -r rule; do
        chain=$(awk '{print $2}' <<<"$rule")
        case $chain in KUBE-*) continue ;; esac
        eval "$t -t $table -D ${rule#-A }" 2>/dev/null || true
      done
      for chain in $("$t-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
        "$t" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$t-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
        "$t" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# ---- configuration files ---------------------------------------------------------------------------------------
write_configs() {
  mkdir -p "$S"/{logs,run,etcd,containerd/certs.d,cni/net.d,cni/ipam,kubelet,registry/data,registry/cacerts}
  chmod 700 "$S/etcd"
  # containerd: own root/state/socket; runc may not set oom_score_adj here (no CAP_SYS_RESOURCE); every registry
  # but ours goes to an unused loopback port; ours is trusted through the project's CA.
  cat >"$S/containerd/config.toml" <<EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
[grpc]
  address = "$S/containerd/containerd.sock"
[ttrpc]
  address = "$S/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "repave.local/pause:3.10"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$S/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$S/containerd/certs.d"
EOF
  mkdir -p "$S/containerd/certs.d/_default" "$S/containerd/certs.d/$REGISTRY"
  cat >"$S/containerd/certs.d/_default/hosts.toml" <<EOF
# Any registry without its own folder here: an unused loopback port, so a missing image fails at once.
server = "$BLACKHOLE"
[host."$BLACKHOLE"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$S/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
server = "https://$REGISTRY"
[host."https://$REGISTRY"]
  capabilities = ["pull", "resolve"]
  ca = "$S/pki/ca.crt"
EOF
  cp "$S/pki/ca.crt" "$S/registry/cacerts/ca.crt"

  # CNI: one bridge, host-local addresses, routes only to the services and the node address: no default route,
  # no masquerade.
  cat >"$S/cni/net.d/10-repave.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "repave",
  "plugins": [
    {
      "type": "bridge", "bridge": "$POD_LINK", "isGateway": true, "isDefaultGateway": false,
      "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$S/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GW" }]],
        "routes": [{ "dst": "$SVC_CIDR", "gw": "$POD_GW" }, { "dst": "$NODE_IP/32", "gw": "$POD_GW" }]
      }
    }
  ]
}
EOF
  : >"$S/kubelet/resolv.conf"
  cat >"$S/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $S/pki/kubelet-serving.crt
tlsPrivateKeyFile: $S/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $S/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$S/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: $S/kubelet/resolv.conf
podLogsDir: $S/logs/pods
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
shutdownGracePeriod: 0s
EOF
  cat >"$S/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $S/kube-proxy.kubeconfig}
hostnameOverride: $NODE
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["127.0.0.1/32", "$NODE_IP/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
  if [ ! -f "$S/registry/password" ]; then
    (umask 077 && openssl rand -hex 24 >"$S/registry/password")
    htpasswd -Bbn "$REGISTRY_USER" "$(cat "$S/registry/password")" >"$S/registry/htpasswd"
  fi
  cat >"$S/registry/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $S/registry/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY
  secret: $(openssl rand -hex 16)
  tls: {certificate: $S/pki/registry.crt, key: $S/pki/registry.key}
auth:
  htpasswd: {realm: repave-registry, path: $S/registry/htpasswd}
EOF
}

coredns_manifest() {
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health {
            lameduck 2s
        }
        ready
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
        loop
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      containers:
      - name: coredns
        image: repave.local/coredns:$COREDNS_VERSION
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        securityContext: {runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 128Mi}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
        livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10, failureThreshold: 5}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
}

# ---- up / down -------------------------------------------------------------------------------------------------
all_alive() { local d; for d in "${DAEMONS[@]}"; do alive "$d" || return 1; done; }

up() {
  need_root
  K8S=$(cat "$S/run/k8s.dir" 2>/dev/null || true)
  if [ -f "$S/run/up.done" ] && all_alive && kc get --raw /readyz >/dev/null 2>&1; then
    log "already up (KUBECONFIG=$S/kubeconfig)"
    return 0
  fi
  if [ -d "$S/run" ]; then
    log "a previous start is incomplete: cleaning it up first"
    down
  fi
  local t0=$SECONDS
  trap 'up_failed' ERR
  install_debs
  # Built once, cached outside the clone.
  K8S=$(bash "$root/scripts/kubernetes/build.sh" --dir kubernetes)
  local registry images
  registry=$(bash "$root/scripts/kubernetes/build.sh" --dir registry)
  images=$(bash "$root/scripts/kubernetes/build.sh" --dir images)
  bash "$root/scripts/kubernetes/build.sh" crictl   # `down` removes pods through it
  mkdir -p "$S/run" "$S/logs"
  echo "$K8S" >"$S/run/k8s.dir"
  save_outside
  make_pki
  write_configs
  net_up
  log "starting etcd, the registry and containerd"
  start etcd etcd --name repave --data-dir "$S/etcd" --logger zap --log-level warn \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "repave=http://127.0.0.1:$((ETCD_PORT + 1))" --listen-metrics-urls "" --unsafe-no-fsync
  start registry env OTEL_TRACES_EXPORTER=none "$registry/bin/registry" serve "$S/registry/config.yml"
  start containerd containerd --config "$S/containerd/config.toml"
  wait_daemon etcd "etcd" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  log "starting the control plane"
  start kube-apiserver "$K8S/bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$API_PORT" \
    --tls-cert-file="$S/pki/apiserver.crt" --tls-private-key-file="$S/pki/apiserver.key" \
    --client-ca-file="$S/pki/ca.crt" \
    --service-account-key-file="$S/pki/sa.pub" --service-account-signing-key-file="$S/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SVC_CIDR" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --profiling=false \
    --kubelet-client-certificate="$S/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$S/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$S/pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP
  wait_daemon containerd "containerd" 30 test -S "$S/containerd/containerd.sock"
  local f
  for f in "$images"/oci/pause.tar "$images"/oci/coredns.tar; do
    ctr --address "$S/containerd/containerd.sock" -n k8s.io images import "$f" >/dev/null
  done
  wait_daemon kube-apiserver "the apiserver" 60 kc get --raw /readyz
  start kube-controller-manager "$K8S/bin/kube-controller-manager" \
    --kubeconfig="$S/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$S/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$S/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$S/pki/sa.key" --root-ca-file="$S/pki/ca.crt" \
    --cluster-signing-cert-file="$S/pki/ca.crt" --cluster-signing-key-file="$S/pki/ca.key" \
    --service-cluster-ip-range="$SVC_CIDR" --cluster-cidr="$POD_CIDR" --allocate-node-cidrs=false \
    --profiling=false
  start kube-scheduler "$K8S/bin/kube-scheduler" \
    --kubeconfig="$S/scheduler.kubeconfig" \
    --authentication-kubeconfig="$S/scheduler.kubeconfig" --authorization-kubeconfig="$S/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  log "starting the kubelet and kube-proxy"
  start kubelet "$K8S/bin/kubelet" --config="$S/kubelet/config.yaml" --kubeconfig="$S/kubelet.kubeconfig" \
    --root-dir="$S/kubelet/root" --hostname-override="$NODE" --node-ip="$NODE_IP"
  start kube-proxy "$K8S/bin/kube-proxy" --config="$S/kube-proxy.yaml"
  wait_daemon kubelet "Node $NODE Ready" 120 sh -c "'$K8S/bin/kubectl' --kubeconfig '$S/kubeconfig' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  log "Node Ready after $((SECONDS - t0))s; starting CoreDNS"
  coredns_manifest | kc apply -f - >/dev/null
  wait_for "the default ServiceAccount" 60 kc -n default get serviceaccount default
  push_images "$images"
  kc -n kube-system rollout status deployment/coredns --timeout=90s >/dev/null
  touch "$S/run/up.done"
  log "up in $((SECONDS - t0))s: export KUBECONFIG=$S/kubeconfig (or: eval \"\$(bash scripts/kubernetes/cluster.sh env)\")"
}

# On a failed `up`: which daemon stopped, and the end of every log (the state stays for a look; `down` removes it).
up_failed() {
  trap - ERR
  log "up FAILED after $((SECONDS - ${t0:-0}))s; state kept in $S (bash scripts/kubernetes/cluster.sh down removes it)"
  local d
  for d in "${DAEMONS[@]}"; do
    alive "$d" || log "$d is not running"
    [ -s "$S/logs/$d.log" ] && { echo "--- $S/logs/$d.log (last 5 lines)" >&2; tail -n 5 "$S/logs/$d.log" >&2; }
  done
}

push_images() {
  local images=$1 line name tag digest
  wait_daemon registry "the registry" 30 curl -sf --cacert "$S/pki/ca.crt" -o /dev/null -w '%{http_code}' "https://$REGISTRY/v2/" -u "$REGISTRY_USER:$(cat "$S/registry/password")"
  while read -r line digest; do
    name=${line%%:*} tag=${line#*:}
    case $name in pause | coredns) continue ;; esac
    timeout 300 skopeo copy --quiet --preserve-digests --dest-cert-dir "$S/registry/cacerts" \
      --dest-creds "$REGISTRY_USER:$(cat "$S/registry/password")" \
      "oci:$images/oci/$name:$tag" "docker://$REGISTRY/repave/$name:$tag"
    echo "$REGISTRY/repave/$name:$tag $digest"
  done <"$images/digests.txt" >"$S/images.txt"
  log "pushed to $REGISTRY: $(awk '{print $1}' "$S/images.txt" | tr '\n' ' ')"
}

down() {
  need_root
  [ -d "$S" ] || { log "already down"; return 0; }
  local t0=$SECONDS
  K8S=$(cat "$S/run/k8s.dir" 2>/dev/null || true)
  stop 10 kubelet
  # Pods first, through the runtime: CNI releases addresses and links, mounts and network namespaces go with them.
  if alive containerd && [ -n "$K8S" ]; then
    local crictl
    crictl=$(bash "$root/scripts/kubernetes/build.sh" --dir crictl 2>/dev/null)/bin/crictl
    if [ -x "$crictl" ]; then
      timeout 60 "$crictl" --runtime-endpoint "unix://$S/containerd/containerd.sock" --timeout 20s rmp -a -f >/dev/null 2>&1 || true
    fi
  fi
  stop 5 kube-proxy kube-scheduler kube-controller-manager kube-apiserver registry etcd
  stop 10 containerd
  # Shims and container processes that outlived containerd: only those of this cluster (its socket path).
  local p
  for p in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $S/containerd/containerd.sock" || true); do
    pkill -KILL -P "$p" 2>/dev/null || true
    kill -KILL "$p" 2>/dev/null || true
  done
  # Any process still running inside a pod cgroup of ours.
  local cg
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
  done
  sleep 0.5
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Mounts under the state folder, deepest first.
  local m
  for m in $(awk -v s="$S" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ip link del "$POD_LINK" 2>/dev/null || true
  ip link del "$NODE_LINK" 2>/dev/null || true
  iptables_clean
  restore_sysctls
  if [ -f "$S/outside.created" ]; then
    while read -r p; do [ -n "$p" ] && rm -rf "$p"; done <"$S/outside.created"
  fi
  rm -rf "$S"
  log "down in $((SECONDS - t0))s"
}

status() {
  local d ok=0
  for d in "${DAEMONS[@]}"; do
    if alive "$d"; then echo "$d: running (pid $(cat "$S/run/$d.pid"))"; else echo "$d: not running"; ok=1; fi
  done
  [ -f "$S/run/up.done" ] || ok=1
  return $ok
}

# Lists anything of this cluster that is still on the machine; exit 1 if there is any. Run after `down`.
leftovers() {
  local found=0 t table
  say() { echo "leftover: $*"; found=1; }
  [ -e "$S" ] && say "state folder $S"
  pgrep -a -f -- "$S|$kcache/(kubernetes|registry|coredns)-|containerd-shim-runc-v2 .*repave" | grep -v -e "pgrep" -e "cluster.sh" | while read -r l; do echo "leftover: process $l"; done | grep . && found=1
  local l
  for l in "$NODE_LINK" "$POD_LINK"; do ip link show "$l" >/dev/null 2>&1 && say "link $l"; done
  ip -o link show type veth 2>/dev/null | grep -q . && say "veth links: $(ip -o link show type veth | awk -F': ' '{print $2}' | tr '\n' ' ')"
  for t in iptables ip6tables; do
    for table in filter nat mangle raw; do
      "$t-save" -t "$table" 2>/dev/null | grep -E "KUBE-|$MARK" | head -3 | while read -r l; do echo "leftover: $t -t $table: $l"; done | grep . && found=1
    done
  done
  ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null | grep . && say "cgroups (above)"
  grep -E "$S|kubelet|containerd" /proc/self/mounts && say "mounts (above)"
  for l in "${OUTSIDE[@]}"; do [ -e "$l" ] && echo "note: $l exists (left alone if it was there before up)"; done
  echo "sysctls now: ip_forward=$(cat /proc/sys/net/ipv4/ip_forward) bridge-nf-call-iptables=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null) route_localnet=$(cat /proc/sys/net/ipv4/conf/all/route_localnet)"
  [ $found -eq 0 ] && echo "nothing of the cluster is left"
  return $found
}

env_lines() {
  [ -f "$S/kubeconfig" ] || die "the embedded cluster is not up (bash scripts/kubernetes/cluster.sh up)"
  echo "export KUBECONFIG=$S/kubeconfig"
  echo "export KUBECACHEDIR=$S/kubectl-cache"
  echo "export REPAVE_REGISTRY=$REGISTRY"
  echo "export REPAVE_REGISTRY_USER=$REGISTRY_USER"
  echo "export REPAVE_REGISTRY_PASSWORD_FILE=$S/registry/password"
  echo "export REPAVE_REGISTRY_CA=$S/pki/ca.crt"
  echo "export REPAVE_CLUSTER_NODE_IP=$NODE_IP"
  echo "export REPAVE_CLUSTER_IMAGES=$S/images.txt"
}

# One `up` or `down` at a time (two test files starting the cluster at once wait for each other, bounded); the lock
# is on this script itself, so it leaves no file behind.
serialize() {
  exec 9<"$0"
  flock -w 600 9 || die "another cluster.sh up/down has held the lock for 10 minutes"
}

case "${1:-}" in
  up) need_root; serialize; up ;;
  down) need_root; serialize; down ;;
  status) status ;;
  env) env_lines ;;
  leftovers) leftovers ;;
  *) echo "usage: cluster.sh up|down|status|env|leftovers" >&2; exit 2 ;;
esac
