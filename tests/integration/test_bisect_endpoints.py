"""A bisect endpoint the infra kept from judging: tried once more, then exit 125 with the reason.

Seen: a pip read timeout during the env build of the good endpoint made bisect say "pick an
older --good", as if the commit were bad.
"""

from __future__ import annotations

import pytest

from harness.adapters.git_repo import write_commits
from harness.errors import EXIT_SKIP
from harness.sample.make import broken_import, template
from tests.integration.conftest import Project
from tests.integration.test_bisect import UNREACHABLE

pytestmark = pytest.mark.integration


def test_an_infra_endpoint_is_tried_twice_then_exit_125_with_the_reason(project: Project) -> None:
    wgp = template()["wgp.py"] or ""
    shas = write_commits(
        project.upstream,
        [
            (
                "base: its deps cannot be installed here (an unreachable index)",
                {**template(), "requirements.txt": UNREACHABLE},
            ),
            ("fine again", {"requirements.txt": template()["requirements.txt"]}),
            ("broken", {"wgp.py": broken_import(wgp)}),
        ],
    )
    code, output = project.run("bisect", "--good", shas[0], "--bad", shas[-1], "--prefetch", "0")
    assert code == EXIT_SKIP, output
    assert f"the good endpoint {shas[0][:12]} could not be tested, twice (infra, not the commit)" in output
    assert "pick an older --good" not in output
    assert "trying once more" in output
    assert len(project.store().runs_for_commit(shas[0])) == 2  # once, then once more, fresh
    assert project.store().runs_for_commit(shas[-1]) == []  # stopped before the bad endpoint
