#!/usr/bin/env bash
# Build a Debian bookworm base image with debootstrap + `docker import` (no registry is reachable
# here, so `docker pull` cannot give one).
# Usage: bootstrap-base.sh TAG | bootstrap-base.sh --print-mirror
# Each step says what failed; debootstrap's log is kept and its tail shown on failure.
# HARNESS_APT_ROOT (default /etc/apt) and HARNESS_DEBIAN_MIRROR (skips the detection) are for tests.
set -euo pipefail
fail() { echo "bootstrap-base: $*" >&2; exit 1; }
[ $# -eq 1 ] || fail "usage: bootstrap-base.sh TAG | --print-mirror"
tag=$1
apt_root=${HARNESS_APT_ROOT:-/etc/apt}

# The mirror: the first non-security Debian URI in the apt sources, one-line (`deb URL ...`) or
# deb822 (`URIs: URL`). Either file may be absent: a fresh machine has only sources.list.d/.
mirror=${HARNESS_DEBIAN_MIRROR:-}
for f in "$apt_root/sources.list" "$apt_root"/sources.list.d/*.list "$apt_root"/sources.list.d/*.sources; do
  [ -z "$mirror" ] || break
  [ -r "$f" ] || continue
  found=$(grep -hoE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+' "$f" | grep -v security \
    | grep -E 'debian' | head -1 | awk '{print $NF}' || true)
  if [ -n "$found" ]; then mirror=$found; break; fi
done
mirror=${mirror:-http://deb.debian.org/debian}
if [ "$tag" = --print-mirror ]; then echo "$mirror"; exit 0; fi
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (start dockerd first)"
echo "==> bootstrapping base image $tag (debootstrap bookworm from $mirror, about a minute)"

root=$(mktemp -d)
log=$(mktemp /tmp/harness-debootstrap.XXXXXX.log)
trap 'rm -rf "$root"' EXIT
if ! debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >"$log" 2>&1; then
  tail -25 "$log" >&2
  fail "debootstrap from $mirror failed (full log: $log)"
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null \
  || fail "docker import of the bootstrapped tree as $tag failed"
rm -f "$log"
echo "==> base image $tag ready"
