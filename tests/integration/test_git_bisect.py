"""`git bisect run` over harness's exit codes finds the commit that broke the sample."""

from __future__ import annotations

import pytest

from harness.adapters.git_repo import write_commits
from harness.sample.make import sample_history
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration


def test_git_bisect_run_names_the_breaking_commit(project: Project) -> None:
    shas = write_commits(project.upstream, sample_history())
    assert f"{shas[-1]} is the first bad commit" in project.git_bisect_run(shas[-1], shas[0])
