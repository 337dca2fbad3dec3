#!/usr/bin/env bash
# The test command: unit tests (hermetic) and integration tests (real engine, real git).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-browser.sh || echo "warning: no chromium: the report's browser tests are skipped" >&2
exec .venv/bin/pytest tests -q "$@"
