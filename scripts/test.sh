#!/usr/bin/env bash
# The test command: unit tests (hermetic) and integration tests (real engine, real git).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/pytest tests -q "$@"
