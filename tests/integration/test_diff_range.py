"""`harness diff` over a real git range lists requirement changes commit by commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.adapters.git_repo import GitUpstream, write_commits
from harness.contract import load_contract
from harness.ops.diff import diff, markdown
from harness.sample.make import template
from tests.conftest import SAMPLE_CONTRACT

pytestmark = pytest.mark.integration  # real git child processes (no engine needed)


def test_diff_over_a_range_lists_requirement_changes_commit_by_commit(tmp_path: Path) -> None:
    base = template()
    reqs = (base["requirements.txt"] or "") + "transformers==4.53.1\n"
    shas = write_commits(
        tmp_path / "up",
        [
            ("base", {**base, "requirements.txt": reqs}),
            ("try transformers 5", {"requirements.txt": reqs.replace("4.53.1", "5.0.0")}),
            ("docs", {"README.md": "x"}),
            ("back to 4.x", {"requirements.txt": reqs.replace("4.53.1", "4.54.0")}),
        ],
    )
    upstream = GitUpstream(str(tmp_path / "up"), tmp_path / "mirror.git")
    report = diff(upstream, shas[0], shas[-1], load_contract(SAMPLE_CONTRACT), overlays=None, suite_models=())
    assert report.requirements.repinned == (("transformers", "transformers==4.53.1", "transformers==4.54.0"),)
    steps = [(s.commit.sha, s.changes.repinned) for s in report.requirement_steps]
    assert steps == [
        (shas[1], (("transformers", "transformers==4.53.1", "transformers==5.0.0"),)),
        (shas[3], (("transformers", "transformers==5.0.0", "transformers==4.54.0"),)),
    ]
    text = markdown(report)
    assert "`transformers==4.53.1` -> `transformers==5.0.0`" in text
    assert "`transformers==5.0.0` -> `transformers==4.54.0`" in text
    assert any("transformers" in item and "2 commits" in item for item in report.checklist)
