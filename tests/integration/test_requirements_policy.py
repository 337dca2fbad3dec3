"""What upstream's requirements.txt may ask of the deps build (issue 13, harness/reqpolicy.py).

Every URL here is on 127.0.0.1 (nothing listens on ports 8 and 9): no traffic leaves loopback.
"""

from __future__ import annotations

import pytest

from harness.errors import EXIT_FAIL, EXIT_PASS
from harness.model import Verdict
from harness.naming import stage_repo
from harness.sample.make import template
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

EVIL = "evilpkg @ http://127.0.0.1:9/evilpkg.tar.gz"


def test_a_direct_url_requirement_is_the_commits_fail_before_any_build(project: Project) -> None:
    files = template()
    files["requirements.txt"] = (files["requirements.txt"] or "") + EVIL + "\n"
    sha = project.commit("a requirement fetched from anywhere", files)
    code, output = project.run("build-and-test", sha)
    assert code == EXIT_FAIL, output
    (record,) = project.store().runs_for_commit(sha)
    assert record.verdict is Verdict.FAIL
    assert f"{EVIL!r} refused by recipe recipe" in record.summary and "direct URL" in record.summary
    for repo in (project.repo, stage_repo(project.repo, "env"), stage_repo(project.repo, "deps")):
        assert project.engine.images.repo_images(repo) == [], repo  # decided at plan time: nothing was built


def test_an_index_option_in_upstreams_requirements_is_not_obeyed(project: Project) -> None:
    files = template()
    files["requirements.txt"] = "--index-url http://127.0.0.1:8/simple\n" + (files["requirements.txt"] or "")
    sha = project.commit("requirements naming their own index", files)
    code, output = project.run("build-and-test", sha)
    assert code == EXIT_PASS, output  # obeyed, the index is unreachable: exit 125, nothing tested
    assert "index options in upstream's requirements are dropped" in output
    assert "wheels only (pip --only-binary :all:)" in output
    deps = next(i for i in project.engine.images.repo_images(stage_repo(project.repo, "deps")))
    installed = project.engine.images.read_file(deps.id, "/opt/harness/requirements.txt")
    assert installed.splitlines() == ["--only-binary :all:", "numpy>=1.26", "av>=12"]
