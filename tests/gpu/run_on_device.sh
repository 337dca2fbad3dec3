#!/usr/bin/env bash
# Runs tests/gpu on the GPU machine (device tool), which has no Docker and no network:
#   carry: .dk (bash ../shared/device/make-docker-bundle.sh .dk) and .whl (GitPython, gitdb, smmap, uv:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl GitPython gitdb smmap uv;
#   uv's binary goes into the env image: builds install with it)
#   command: bash tests/gpu/run_on_device.sh
# Results (JSON, logs) go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{
  echo "== tools"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; command -v git
  source .dk/start-dockerd.sh
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
  export PYTHONPATH=$PWD:/tmp/site:/tmp/dk/site
  echo "== importing the GPU base image from this machine's files (the bundle has no docker CLI)"
  time python3 - <<'PY'
import subprocess, docker
api = docker.from_env(timeout=1800).api
if not api.images(name="local/host-torch"):
    tar = subprocess.Popen(["tar", "-C", "/", "-c", "usr/bin", "usr/lib", "usr/lib64", "usr/sbin", "bin", "lib",
                            "lib64", "sbin", "etc", "opt/torch"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    print(api.import_image_from_stream(tar.stdout, repository="local/host-torch", tag="1")[-200:])
    tar.wait()
print(api.images(name="local/host-torch"))
PY
  echo "== tests/gpu"
  git config --global user.email gpu@example.invalid; git config --global user.name gpu
  PYTHONUNBUFFERED=1 python3 -m pytest tests/gpu -q -s -p no:cacheprovider -W ignore "$@"
  echo "pytest exit $?"
} 2>&1 | tee "$OUT/gpu-tests.log"
