#!/usr/bin/env bash
# Make a fresh Debian 12 machine (as root) ready for opdhost: Debian packages, Podman
# settings that work on these hosts, the Python virtual environment at .venv/ (pinned by
# constraints.txt) and the lab images. Idempotent: a second run only checks.
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-images  packages, Podman settings and the venv only
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'setup: %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "run as root: it installs Debian packages and configures Podman"; exit 1; }

apt_packages=(podman runc netavark aardvark-dns iptables fuse-overlayfs debootstrap
              iproute2 bind9-dnsutils curl git python3 python3-venv python3-dev gcc make
              openssh-client sshpass shellcheck rsync btrfs-progs poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
              chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Podman on these hosts: runc (crun fails on the hybrid cgroups), cgroupfs, file events,
# explicit ulimits (without them every `podman run` fails on setrlimit), and netavark named
# (static addresses and --ip-range behave the same on every machine, whatever else is installed).
conf=/etc/containers/containers.conf
want=$(cat <<'CONF'
# Written by opdhost scripts/setup.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
CONF
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  [ -f "$conf" ] && cp "$conf" "$conf.opdhost-backup"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf.opdhost-new"
  mv -f "$conf.opdhost-new" "$conf"   # atomic: a podman starting meanwhile reads old or new
  log "wrote $conf"
fi

# The Python environment, pinned. Rebuilt only when pyproject or constraints change.
venv=$repo/.venv
stamp=$venv/.opdhost-stamp
want_stamp=$(cat "$repo/pyproject.toml" "$repo/constraints.txt" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  log "creating the virtual environment at .venv (pinned by constraints.txt)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -c "$repo/constraints.txt" -e "${repo}[dev]" >&2
  echo "$want_stamp" > "$stamp"
fi

# gitlab-ci-local runs .gitlab-ci.yml locally in tests/pipeline (shell executor; needs rsync).
# 4.70.x: 4.75 needs a newer Node than Debian's. Kept outside the repository, in /opt.
gcl_dir=/opt/opdhost-ci
gcl_version=4.70.1
if [ "$("$gcl_dir/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$gcl_version" ]; then
  command -v npm >/dev/null || { log "npm (Node.js 20) is needed for gitlab-ci-local"; exit 1; }
  log "installing gitlab-ci-local $gcl_version into $gcl_dir"
  mkdir -p "$gcl_dir"
  npm install --silent --no-audit --no-fund --prefix "$gcl_dir" "gitlab-ci-local@$gcl_version" >&2
fi

if [ "${1:-}" != "--no-images" ]; then
  "$repo/scripts/lab/build-images.sh"
fi
log "ready"
