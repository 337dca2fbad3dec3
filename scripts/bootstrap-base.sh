#!/usr/bin/env bash
# Build a Debian bookworm base image with debootstrap + `docker import` (no registry is reachable
# here, so `docker pull` cannot give one). Usage: bootstrap-base.sh TAG
# Each step says what failed; debootstrap's log is kept and its tail shown on failure.
set -euo pipefail
tag=${1:?usage: bootstrap-base.sh TAG}
fail() { echo "bootstrap-base: $*" >&2; exit 1; }

# The mirror: the first non-security Debian URI in the apt sources, one-line (`deb URL ...`) or
# deb822 (`URIs: URL`). Either file may be absent: a fresh machine has only sources.list.d/.
mirror=""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -r "$f" ] || continue
  found=$(grep -hoE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+' "$f" | grep -v security \
    | grep -E 'debian' | head -1 | awk '{print $NF}' || true)
  if [ -n "$found" ]; then mirror=$found; break; fi
done
mirror=${mirror:-http://deb.debian.org/debian}
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
