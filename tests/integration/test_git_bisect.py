"""`git bisect run` over harness's exit codes finds the commit that broke the sample."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.adapters.git_repo import write_commits
from harness.sample.make import sample_history
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration


def test_git_bisect_run_names_the_breaking_commit(project: Project) -> None:
    shas = write_commits(project.upstream, sample_history())
    probe = f'{sys.executable} -m harness -c {project.config} build-and-test "$(git rev-parse HEAD)"'

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=project.upstream, capture_output=True, text=True, check=True, timeout=900
        ).stdout

    git("bisect", "start", shas[-1], shas[0])
    output = git("bisect", "run", "sh", "-c", probe)
    assert f"{shas[-1]} is the first bad commit" in output
    git("bisect", "reset")
