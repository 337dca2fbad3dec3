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
  # To the lock exactly: what differs from the base is installed at its pin, what the lock lacks
  # is uninstalled, what both hold alike is left alone (harness computed install.txt and
  # remove.txt from the base's lock; it compares the freeze with the lock before committing).
  # Not `uv pip sync`: in a base image's own environment (a GPU host's, packages in several site
  # folders) sync reinstalls what it does not see as its own, which needs the network.
  if [ -s remove.txt ]; then uv pip uninstall -r remove.txt; fi
  if grep -qv '^-' install.txt; then uv pip install --no-deps $(cat uv-options.txt) -r install.txt; fi
  uv pip freeze > freeze.txt
  # The freeze from importlib.metadata: an environment reused from the base may have no pip.
  python -c "import importlib.metadata as m; print(chr(10).join(sorted({d.metadata['Name'] + '==' + d.version for d in m.distributions() if d.metadata['Name']})))" > pip-freeze.txt
  ;;
*)
  echo "deps.sh: resolve or sync, not '$1'" >&2
  exit 2
  ;;
esac
