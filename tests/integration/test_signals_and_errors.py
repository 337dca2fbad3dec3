"""Interrupts, an unreachable engine and bad refs, through the real `harness` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.adapters.engine import Engine
from harness.adapters.git_repo import write_commits
from harness.errors import EXIT_INTERRUPTED, EXIT_SKIP, EXIT_TERMINATED, EXIT_USAGE
from harness.sample.make import template
from tests.conftest import write_config
from tests.integration.conftest import Project, unique_repo

# docker-py's filters argument (its stubs take exactly this type)
Filters = dict[str, str | list[str] | bool]

pytestmark = pytest.mark.integration


def _harness(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _hanging_wgp() -> str:
    wgp = template()["wgp.py"] or ""
    return wgp.replace(
        "    model = get_model_def(model_type)\n",
        "    import time\n    time.sleep(600)\n    model = get_model_def(model_type)\n",
        1,
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)])
def test_interrupt_during_run_leaves_no_container(project: Project, sig: signal.Signals, code: int) -> None:
    # A commit of its own per signal and per run (its repository's name in the tree): a container
    # left by another case, or by a test run killed earlier, must not be seen as this run's.
    files = {**template(), "wgp.py": _hanging_wgp(), "run.txt": f"{project.repo}\n"}
    sha = project.commit(f"hangs ({sig.name})", files)
    proc = _harness(project.config, "build-and-test", "HEAD")
    label: Filters = {"label": f"harness.commit={sha}"}
    # The test container itself: inspection containers of the commit image carry its label too.
    test_container: Filters = {"label": [f"harness.commit={sha}", "harness.purpose=test"], "status": "running"}
    deadline = time.monotonic() + 600
    while not project.engine.client.containers.list(filters=test_container):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the test container never started"
        time.sleep(0.5)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output
    assert project.engine.client.containers.list(all=True, filters=label) == []


def test_unreachable_engine_is_infra_125(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    write_commits(upstream, [("good", template())])
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("unreachable"))
    proc = _harness(config, "build-and-test", "HEAD", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_SKIP, output
    assert "does not answer" in output and "DOCKER_HOST" in output


@pytest.mark.parametrize("ref", ["nosuchbranch", "--upload-pack=touch /tmp/x", "HEAD..", "deadbeefdeadbeef"])
def test_bad_refs_are_usage_errors_before_any_engine_call(tmp_path: Path, ref: str) -> None:
    upstream = tmp_path / "upstream"
    write_commits(upstream, [("good", template())])
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("refs"))
    # An unreachable engine proves the ref is refused before the engine is asked anything.
    # "--" so the option-looking ref reaches harness's own check, not click's parser.
    proc = _harness(config, "build-and-test", "--", ref, env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_USAGE, output
    assert repr(ref) in output or ref in output


def test_malformed_config_exits_with_the_usage_code_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "harness.yaml"
    config.write_text("upstream:\n  url: .\nrun:\n  gpu: cuda\nsuite:\n  cases: [{id: a, model: m}]\n")
    proc = _harness(config, "build-and-test", "HEAD")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_USAGE, output
    assert "run.gpu" in output and "auto, nvidia, devices, none" in output


def test_force_pushed_commits_keep_their_runs_marked_unreachable(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    upstream = tmp_path / "upstream"
    first, dropped = write_commits(upstream, [("base", template()), ("soon gone", {"README.md": "x\n"})])
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("forcepush"))
    runner = CliRunner()
    assert runner.invoke(app, ["-c", str(config), "build-and-test", dropped, "--level", "contract"]).exit_code == 0
    subprocess.run(["git", "reset", "-q", "--hard", first], cwd=upstream, check=True)
    write_commits(upstream, [("rewritten", {"README.md": "y\n"})])
    env = {"DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")}
    result = runner.invoke(app, ["-c", str(config), "reconcile"], env=env)
    assert result.exit_code == 0, result.output
    assert "no longer upstream" in result.output and dropped[:12] in result.output
    history = json.loads(runner.invoke(app, ["-c", str(config), "history", "--json"]).stdout)
    assert [(r["commit"], r["unreachable"]) for r in history] == [(dropped, True)]
    # A ref that no longer resolves is a clear error before any build.
    result = runner.invoke(app, ["-c", str(config), "build-and-test", "does-not-exist"])
    assert result.exit_code == EXIT_USAGE


def test_a_harness_bug_in_the_real_process_aborts_with_one_line_and_a_traceback_file(tmp_path: Path) -> None:
    """Through `main()` (the installed `harness` script), not CliRunner: exit 128, never 1 ("bad")."""
    upstream = tmp_path / "upstream"
    write_commits(upstream, [("good", template())])
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("bug"))
    program = (
        "import sys\n"
        "from harness import store\n"
        "def boom(*a, **k): raise RuntimeError('a bug in harness')\n"
        "store.Store.runs = boom\n"
        "from harness.cli import main\n"
        "sys.argv = ['harness', '-c', sys.argv[1], 'history']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", program, str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_USAGE, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("harness bug: RuntimeError: a bug in harness; traceback written to "), line
    written = Path(line.rsplit(" ", 1)[1])
    assert written.parent == tmp_path / ".harness" / "crashes"
    assert "Traceback" in written.read_text() and "boom" in written.read_text()


def test_ctrl_c_during_an_inspection_container_removes_it(engine: Engine) -> None:
    """The image preflight reads torch's arch list in a container; a Ctrl-C while it ran left it."""
    import io
    import threading

    from tests.conftest import BASE_IMAGE

    tag = f"{unique_repo('inspect')}:hangs"
    fake_python = "printf '#!/bin/sh\\nsleep 600\\n' > /usr/local/bin/python && chmod +x /usr/local/bin/python"
    # LABEL: an image of this run's own, so `ancestor` cannot match a container an earlier killed run left.
    dockerfile = f"FROM {BASE_IMAGE}\nRUN {fake_python}\nLABEL harness.test={tag}\n"
    engine.client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    inspecting: Filters = {"label": "harness.purpose=inspect", "ancestor": tag}
    seen = threading.Event()

    def interrupt_once_running() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not engine.client.containers.list(filters=inspecting):
            time.sleep(0.2)
        seen.set()
        os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt in the main thread, inside the wait

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        engine.images.torch_arch_list(tag)  # its python sleeps: only the interrupt ends the wait
    assert seen.is_set()
    assert engine.client.containers.list(all=True, filters=inspecting) == []
