"""`git bisect run` over harness's exit codes finds the commit that broke the sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.adapters.git_repo import write_commits
from harness.errors import EXIT_USAGE
from harness.sample.make import sample_history
from tests.conftest import write_config
from tests.integration.conftest import Project, unique_repo

pytestmark = pytest.mark.integration


def test_git_bisect_run_names_the_breaking_commit(project: Project) -> None:
    shas = write_commits(project.upstream, sample_history())
    assert f"{shas[-1]} is the first bad commit" in project.git_bisect_run(shas[-1], shas[0])


def test_git_bisect_run_aborts_on_a_broken_config(tmp_path: Path) -> None:
    """A usage/config error must stop the bisect, not mark every commit bad and name a culprit."""
    upstream = tmp_path / "upstream"
    shas = write_commits(upstream, sample_history())
    config = write_config(tmp_path, upstream=upstream, repo=unique_repo("broken-config"))
    config.write_text(config.read_text().replace("gpu: auto", "gpu: cuda"))
    probe = f'{sys.executable} -m harness -c {config} build-and-test "$(git rev-parse HEAD)"'

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=upstream, capture_output=True, text=True, timeout=300)

    assert git("bisect", "start", shas[-1], shas[0]).returncode == 0
    try:
        bisect = git("bisect", "run", "sh", "-c", probe)
    finally:
        git("bisect", "reset")
    output = bisect.stdout + bisect.stderr
    assert bisect.returncode != 0, output
    assert "is the first bad commit" not in output
    assert f"exit code {EXIT_USAGE}" in output and "run.gpu" in output
