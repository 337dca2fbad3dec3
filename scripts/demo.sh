#!/usr/bin/env bash
# The main job on the bundled sample upstream: set the host up, write the sample (a mini
# Wan2GP git repo with four commits, the newest one broken), build and test two commits.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/setup-host.sh" || exit $?
demo=${1:-$here/.harness-demo}
"$here/.venv/bin/harness" sample "$demo" || exit $?
cd "$demo"
echo "==> harness build-and-test HEAD~1 (expected: PASS, exit 0)"
"$here/.venv/bin/harness" build-and-test HEAD~1; echo "exit code $?"
echo "==> harness build-and-test HEAD (expected: FAIL, exit 1: upstream imports a missing module)"
"$here/.venv/bin/harness" build-and-test HEAD; echo "exit code $?"
"$here/.venv/bin/harness" history
echo "==> harness report (the HTML site of these runs: open the file:// URL below in a browser)"
"$here/.venv/bin/harness" report
