#!/usr/bin/env bash
# Prepare a Debian host for harness: the Docker engine, a running dockerd, the local
# base image, and the package in a venv. Idempotent: each step is skipped when done.
# Why a local base image: no image registry is reachable here, so `docker pull` fails;
# real users point images/<variant>/recipe.yaml at nvidia/cuda instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HARNESS_VENV:-$here/.venv}
base_image=${HARNESS_BASE_IMAGE:-harness-base:bookworm}

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v git >/dev/null || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "==> starting dockerd"
  (setsid dockerd >/var/log/harness-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/harness-dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  echo "==> bootstrapping base image $base_image (debootstrap, about a minute)"
  mirror=$(grep -hoE '^(URIs:|deb) *https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -v security | head -1 | awk '{print $NF}')
  mirror=${mirror:-http://deb.debian.org/debian}
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$root"
fi

if [ ! -x "$venv/bin/harness" ]; then
  echo "==> installing harness into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -e "$here[dev]"
fi
echo "==> host ready: engine up, base image $base_image, venv $venv"
