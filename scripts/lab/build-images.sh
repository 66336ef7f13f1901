#!/usr/bin/env bash
# Build the lab's container images without a registry: a debootstrap base imported
# into Podman, then the node image from the Containerfile. Each image is rebuilt only
# when its inputs change (a content hash is stored as an image label).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${OPDHOST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=localhost/opdhost-base:bookworm
node=localhost/opdhost-node:bookworm

log() { printf 'build-images: %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "must run as root (podman and debootstrap need it)"; exit 1; }
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool is missing: run scripts/setup.sh first"; exit 1; }
done

label_of() { podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null || true; }

base_hash=$(printf 'minbase bookworm %s v1' "$mirror" | sha256sum | cut -c1-16)
if [ "$(label_of "$base" opdhost.hash)" != "$base_hash" ]; then
  log "building base image $base with debootstrap (about 30 s)"
  root=$(mktemp -d /var/tmp/opdhost-rootfs.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
  tar -C "$root" -c . | podman import --change "LABEL opdhost.hash=$base_hash" \
      --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$root"; trap - EXIT
  log "base image built in ${SECONDS} s"
else
  log "base image $base is up to date"
fi

node_hash=$( (cat "$here/Containerfile"; echo "$base_hash") | sha256sum | cut -c1-16)
if [ "$(label_of "$node" opdhost.hash)" != "$node_hash" ]; then
  log "building node image $node"
  t0=$SECONDS
  podman build --pull=never --label "opdhost.hash=$node_hash" -t "$node" \
      -f "$here/Containerfile" "$here" >&2
  log "node image built in $((SECONDS - t0)) s"
else
  log "node image $node is up to date"
fi
