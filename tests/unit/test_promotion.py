"""Promotion gate and rollback walk (harness/promotion.py)."""

from __future__ import annotations

import pytest

from harness.errors import PromotionRefused, UsageError
from harness.model import RunRecord, Verdict
from harness.promotion import Release, refusal, rollback_target


def run(image: str, verdict: Verdict, suite: str = "s1", run_id: str = "20260101-000000-aaaaaa") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        commit="c" * 40,
        image_id=image,
        image_tag="r:t",
        deps_key="d",
        suite="x",
        suite_hash=suite,
        verdict=verdict,
        summary="why",
        cases=(),
        started="t",
        build_seconds=0,
        run_seconds=0,
        run_dir="/tmp",
    )


def rel(revision: int, image: str, action: str = "promote", based_on: int | None = None) -> Release:
    return Release(
        revision=revision,
        action=action,
        image_id=image,
        commit="c",
        from_image_id="",
        run_id="",
        created="t",
        user="u",
        reason="",
        forced=False,
        based_on=revision if based_on is None else based_on,
    )


def test_pass_of_current_suite_is_promotable() -> None:
    assert refusal("sha256:a", [run("sha256:a", Verdict.PASS)], "s1") is None


@pytest.mark.parametrize(
    ("runs", "needle"),
    [
        ([], "no run record"),
        ([run("sha256:a", Verdict.PASS, suite="old")], "another suite version"),
        ([run("sha256:a", Verdict.FAIL)], "is FAIL"),
        ([run("sha256:a", Verdict.ERROR)], "is ERROR"),
    ],
)
def test_everything_else_is_refused_with_the_reason(runs: list[RunRecord], needle: str) -> None:
    why = refusal("sha256:a", runs, "s1")
    assert why is not None and needle in why


def test_newest_record_of_current_suite_decides() -> None:
    runs = [run("sha256:a", Verdict.FAIL, run_id="2"), run("sha256:a", Verdict.PASS, run_id="1")]
    assert refusal("sha256:a", runs, "s1") is not None


def test_rollback_walks_back_through_original_promotions() -> None:
    history = [rel(1, "A"), rel(2, "B"), rel(3, "C")]
    assert rollback_target(history, None).image_id == "B"
    history.append(rel(4, "B", "rollback", based_on=2))
    assert rollback_target(history, None).image_id == "A"
    history.append(rel(5, "A", "rollback", based_on=1))
    with pytest.raises(PromotionRefused, match="no earlier promotion"):
        rollback_target(history, None)


def test_rollback_to_a_named_revision() -> None:
    history = [rel(1, "A"), rel(2, "B"), rel(3, "C")]
    assert rollback_target(history, 1).image_id == "A"
    with pytest.raises(UsageError, match="no revision 9"):
        rollback_target(history, 9)
    with pytest.raises(UsageError, match="already production"):
        rollback_target(history, 3)
    with pytest.raises(UsageError, match="no release yet"):
        rollback_target([], None)
