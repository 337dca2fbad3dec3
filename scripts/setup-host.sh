#!/usr/bin/env bash
# Prepare a Debian host for harness: the Docker engine, a running dockerd, the local
# base image, and the package in a venv. Idempotent: each step is skipped when done.
# Why a local base image: no image registry is reachable here, so `docker pull` fails;
# real users point images/<variant>/recipe.yaml at nvidia/cuda instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HARNESS_VENV:-$here/.venv}
base_image=${HARNESS_BASE_IMAGE:-harness-base:bookworm}
# Every step says what failed: a bare `set -e` exit (status 2, no message) is what a new user
# saw when a grep found no /etc/apt/sources.list.
fail() { echo "setup-host: $*" >&2; exit 1; }
trap 'echo "setup-host: step failed at line $LINENO: $BASH_COMMAND" >&2' ERR

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v git >/dev/null || need_apt+=(git)
# The fleet tests (tests/fleet): engines in network namespaces, and the registry they pull from
# (the reference distribution server, run by the tests as a plain process).
command -v ip >/dev/null || need_apt+=(iproute2)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  apt-get update -qq || fail "apt-get update failed (see its output above)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/tmp/harness-apt.log 2>&1 \
    || { tail -20 /tmp/harness-apt.log >&2; fail "apt-get install ${need_apt[*]} failed (log: /tmp/harness-apt.log)"; }
  if [[ " ${need_apt[*]} " == *" docker-registry "* ]]; then
    # The package starts its service (a registry on :5000) where services may start; the tests
    # run their own registry processes, so it is stopped and left disabled.
    { systemctl disable --now docker-registry || { /etc/init.d/docker-registry stop && update-rc.d docker-registry disable; }; } >/dev/null 2>&1 || true
  fi
fi

if ! docker info >/dev/null 2>&1; then
  echo "==> starting dockerd"
  (setsid dockerd >/var/log/harness-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/harness-dockerd.log >&2; fail "dockerd did not start; see /var/log/harness-dockerd.log"; }
fi

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  bash "$here/scripts/bootstrap-base.sh" "$base_image"
fi

# Installed again when pyproject.toml changed since (a venv of an older checkout lacks new
# dependencies: Jinja2 for the report, selenium for its tests).
stamp="$venv/.harness-pyproject.sha256"
wanted=$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$venv/bin/harness" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "==> installing harness into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || fail "python3 -m venv $venv failed (is python3-venv installed?)"
  "$venv/bin/pip" install -q -e "$here[dev]" || fail "pip install -e .[dev] failed (see above)"
  echo "$wanted" > "$stamp"
fi
echo "==> host ready: engine up, base image $base_image, venv $venv"
