#!/usr/bin/env bash
# What the report's browser tests need: Debian's chromium and chromium-driver (selenium drives
# them; it is in the venv's dev extras). Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# Without a font the screenshots show boxes for text (chromium only recommends one).
fc-list 2>/dev/null | grep -qi liberation || need+=(fonts-liberation)
[ ${#need[@]} -eq 0 ] && exit 0
echo "==> apt-get install ${need[*]} (the report's browser tests)"
apt-get update -qq || { echo "setup-browser: apt-get update failed (see above)" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/tmp/harness-apt-browser.log 2>&1 \
  || { tail -20 /tmp/harness-apt-browser.log >&2; echo "setup-browser: apt-get install ${need[*]} failed (log: /tmp/harness-apt-browser.log)" >&2; exit 1; }
