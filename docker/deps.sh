# The deps image's build, run by harness in a container of the env image (`resolve`) or of the
# env or closest deps image (`sync`), with uv's download cache mounted: not a Dockerfile, because
# the classic builder mounts no volume. Files: /opt/harness/{requirements.txt, pre-install.sh,
# lock.txt}; constraints.txt, uv-options.txt and uv.env come with the env image.
set -eu
cd /opt/harness
. ./uv.env
sh pre-install.sh
case "$1" in
resolve)
  # The lock is the environment now, changed as uv's dry-run says (harness/lock.py).
  uv pip freeze > freeze.txt
  if grep -qv '^-' requirements.txt; then
    status=0
    uv pip install --dry-run $(cat uv-options.txt) -c constraints.txt -r requirements.txt > resolve.txt 2>&1 || status=$?
    cat resolve.txt
    exit $status
  fi
  : > resolve.txt
  ;;
sync)
  # Exactly the lock: what it lacks is installed, what differs is replaced, extras are removed.
  uv pip sync $(cat uv-options.txt) lock.txt
  uv pip freeze > freeze.txt
  # The freeze from importlib.metadata: an environment reused from the base may have no pip.
  python -c "import importlib.metadata as m; print(chr(10).join(sorted({d.metadata['Name'] + '==' + d.version for d in m.distributions() if d.metadata['Name']})))" > pip-freeze.txt
  ;;
*)
  echo "deps.sh: resolve or sync, not '$1'" >&2
  exit 2
  ;;
esac
