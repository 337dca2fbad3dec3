"""`harness diff` with refs left out: from production's commit to upstream HEAD (harness/ops/diff.py)."""

from __future__ import annotations

import pytest

from harness.contract import DEFAULT_CONTRACT, load_contract
from harness.errors import UsageError
from harness.model import Release
from harness.ops.diff import default_range, diff
from tests.unit.fakes import FakeUpstream, image, release, sha


def _release(commit: str) -> Release:
    return release(1, image("a"), commit)


def _not_asked() -> Release | None:
    raise AssertionError("production asked although FROM was given (it opens the run store)")


def test_from_defaults_to_the_production_commit_and_to_to_head() -> None:
    assert default_range(None, None, lambda: _release(sha("a"))) == (sha("a"), "HEAD")
    assert default_range(None, "v2", lambda: _release(sha("a"))) == (sha("a"), "v2")


def test_given_refs_are_kept_and_production_is_not_asked() -> None:
    assert default_range("v1", "v2", _not_asked) == ("v1", "v2")
    assert default_range("v1", None, _not_asked) == ("v1", "HEAD")


@pytest.mark.parametrize("production", [None, _release("")])
def test_without_a_production_commit_from_must_be_given(production: Release | None) -> None:
    with pytest.raises(UsageError) as info:
        default_range(None, None, lambda: production)
    assert "give FROM explicitly" in str(info.value)


def test_the_report_compares_production_with_upstream_head() -> None:
    upstream = FakeUpstream(refs={"HEAD": sha("b")})
    report = diff(
        upstream,
        None,
        None,
        load_contract(DEFAULT_CONTRACT),
        overlays=None,
        suite_models=(),
        production=lambda: _release(sha("a")),
    )
    assert (report.old.sha, report.new.sha) == (sha("a"), sha("b"))
    assert [c.sha for c in report.commits] == [sha("b")]
