"""Promotion gate and rollback walk (harness/promotion.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import PromotionRefused, UsageError
from harness.model import LEVELS, RELEASE_ACTIONS, Level, Release, ReleaseAction, RunKey, RunRecord, Verdict
from harness.promotion import known_bad, refusal, rollback_target

KEY = RunKey(suite_hash="s1", contract_hash="k1", level="baseline", image_id="sha256:a", deeper=True)


def run(
    image: str,
    verdict: Verdict,
    suite: str = "s1",
    run_id: str = "20260101-000000-aaaaaa",
    level: Level = "baseline",
    contract: str = "k1",
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        commit="c" * 40,
        image_id=image,
        image_tag="r:t",
        deps_key="d",
        suite="x",
        suite_hash=suite,
        contract_hash=contract,
        verdict=verdict,
        summary="why",
        cases=(),
        started="t",
        build_seconds=0,
        run_seconds=0,
        run_dir="/tmp",
        level=level,
    )


def rel(
    revision: int, image: str, action: ReleaseAction = "promote", based_on: int | None = None, from_image: str = ""
) -> Release:
    return Release(
        revision=revision,
        action=action,
        image_id=image,
        commit="c",
        from_image_id=from_image,
        run_id="",
        created="t",
        user="u",
        reason="",
        forced=False,
        based_on=revision if based_on is None else based_on,
    )


def test_pass_of_current_suite_is_promotable() -> None:
    assert refusal("sha256:a", [run("sha256:a", Verdict.PASS)], KEY) is None


@pytest.mark.parametrize(
    ("runs", "needle"),
    [
        ([], "no run record"),
        ([run("sha256:a", Verdict.PASS, suite="old")], "another suite version"),
        ([run("sha256:a", Verdict.FAIL)], "is FAIL"),
        ([run("sha256:a", Verdict.ERROR)], "is ERROR"),
        ([run("sha256:a", Verdict.PASS, contract="k0")], "another contract"),
        ([run("sha256:a", Verdict.PASS, contract="")], "before harness recorded contracts"),
        ([run("sha256:a", Verdict.PASS, level="smoke")], "no run at level baseline or deeper"),
    ],
)
def test_everything_else_is_refused_with_the_reason(runs: list[RunRecord], needle: str) -> None:
    why = refusal("sha256:a", runs, KEY)
    assert why is not None and needle in why


def test_newest_record_of_current_suite_decides() -> None:
    runs = [run("sha256:a", Verdict.FAIL, run_id="2"), run("sha256:a", Verdict.PASS, run_id="1")]
    assert refusal("sha256:a", runs, KEY) is not None


def test_rollback_walks_back_through_original_promotions() -> None:
    history = [rel(1, "A"), rel(2, "B"), rel(3, "C")]
    assert rollback_target(history, None, refused={}).target.image_id == "B"
    history.append(rel(4, "B", "rollback", based_on=2))
    assert rollback_target(history, None, refused={}).target.image_id == "A"
    history.append(rel(5, "A", "rollback", based_on=1))
    with pytest.raises(PromotionRefused, match="no earlier promotion"):
        rollback_target(history, None, refused={})


def test_rollback_to_a_named_revision() -> None:
    history = [rel(1, "A"), rel(2, "B"), rel(3, "C")]
    assert rollback_target(history, 1, refused={}).target.image_id == "A"
    with pytest.raises(UsageError, match="no revision 9"):
        rollback_target(history, 9, refused={})
    with pytest.raises(UsageError, match="already production"):
        rollback_target(history, 3, refused={})
    with pytest.raises(UsageError, match="no release yet"):
        rollback_target([], None, refused={})


def test_a_smoke_pass_after_a_baseline_fail_does_not_promote() -> None:
    runs = [
        run("sha256:a", Verdict.PASS, run_id="2", level="smoke"),
        run("sha256:a", Verdict.FAIL, run_id="1", level="baseline"),
    ]
    why = refusal("sha256:a", runs, KEY)
    assert why is not None and "latest baseline run" in why and "is FAIL" in why
    # Asked only for smoke, the newest smoke-or-deeper record is the smoke PASS.
    assert refusal("sha256:a", runs, dataclasses.replace(KEY, level="smoke")) is None


def test_a_deeper_pass_satisfies_and_a_later_fail_at_the_level_undoes_it() -> None:
    deeper = [run("sha256:a", Verdict.PASS, level="baseline")]
    assert refusal("sha256:a", deeper, dataclasses.replace(KEY, level="smoke")) is None
    later_fail = [run("sha256:a", Verdict.FAIL, run_id="2", level="smoke"), *deeper]
    assert refusal("sha256:a", later_fail, dataclasses.replace(KEY, level="smoke")) is not None
    # A contract check of the commit counts for the contract level (it has no image).
    check = run("", Verdict.PASS, level="contract")
    assert refusal("sha256:a", [check], dataclasses.replace(KEY, level="contract")) is None
    assert refusal("sha256:a", [check], KEY) is not None


@pytest.mark.parametrize(
    ("change", "vouches"),
    [
        ({}, True),
        ({"suite_hash": "s2"}, False),
        ({"contract_hash": "k2"}, False),
        ({"contract_hash": ""}, False),  # recorded before contracts were: unknown, never vouches
        ({"level": "smoke"}, False),
        ({"image_id": "sha256:b"}, False),
        ({"commit": "d" * 40}, False),
        ({"verdict": Verdict.FAIL}, True),  # a FAIL answers the question too
    ],
)
def test_a_record_vouches_only_for_its_own_key(change: dict[str, Any], vouches: bool) -> None:
    key = RunKey(suite_hash="s1", contract_hash="k1", level="baseline", commit="c" * 40, image_id="sha256:a")
    record = dataclasses.replace(run("sha256:a", Verdict.PASS), **change)
    assert record.vouches_for(key) is vouches


def test_levels_answer_exactly_unless_deeper_is_asked() -> None:
    for asked in LEVELS:
        for recorded in LEVELS:
            record = run("sha256:a", Verdict.PASS, level=recorded)
            exact = RunKey(suite_hash="s1", contract_hash="k1", level=asked)
            assert record.vouches_for(exact) is (asked == recorded)
            deeper = dataclasses.replace(exact, deeper=True)
            assert record.vouches_for(deeper) is (LEVELS.index(recorded) >= LEVELS.index(asked))


def test_rollback_passes_over_auto_rolled_back_and_refused_releases() -> None:
    history = [
        rel(1, "A"),
        rel(2, "B"),  # a forced FAIL image
        rel(3, "C"),
        rel(4, "D"),  # failed its health check ...
        rel(5, "C", "auto-rollback", based_on=3, from_image="D"),  # ... and was rolled back
        rel(6, "E"),
    ]
    plan = rollback_target(history, None, refused={"B": "the latest baseline run is FAIL"})
    assert plan.target.revision == 3 and plan.skipped == (
        (4, "its image failed its health check and was rolled back by revision 5"),
    )
    after = [*history, rel(7, "C", "rollback", based_on=3)]
    plan = rollback_target(after, None, refused={"B": "the latest baseline run is FAIL"})
    assert plan.target.revision == 1 and plan.skipped == ((2, "the latest baseline run is FAIL"),)
    with pytest.raises(PromotionRefused, match="rollback to revision 4 refused: its image failed"):
        rollback_target(history, 4, refused={})
    forced = rollback_target(history, 4, refused={}, force=True)
    assert forced.target.revision == 4 and "health check" in forced.forced_past
    with pytest.raises(UsageError, match="--force applies only with --to"):
        rollback_target(history, None, refused={}, force=True)
    with pytest.raises(PromotionRefused, match="skipped revision 2"):
        rollback_target(history[:3], None, refused={"B": "FAIL", "A": "no run record"})


def test_automatic_rollback_goes_back_to_the_production_before_the_failed_release() -> None:
    # 3 put A back; 4 (C) fails its health check: back to A, not to B (which 3 rolled away from).
    history = [rel(1, "A"), rel(2, "B"), rel(3, "A", "rollback", based_on=1), rel(4, "C")]
    assert rollback_target(history, None, refused={}, undo_last=True).target.revision == 3
    # ... unless that one is known to be bad: then on back, the same walk as a manual rollback.
    plan = rollback_target([*history[:2], rel(3, "C")], None, refused={"B": "FAIL"}, undo_last=True)
    assert plan.target.revision == 1 and plan.skipped == ((2, "FAIL"),)


releases_st = st.lists(
    st.tuples(st.sampled_from(RELEASE_ACTIONS), st.sampled_from("ABCDE")),
    min_size=1,
    max_size=12,
)


def _history(steps: list[tuple[ReleaseAction, str]]) -> list[Release]:
    history: list[Release] = []
    for revision, (action, image) in enumerate(steps, start=1):
        earlier = [r for r in history if r.action == "promote"]
        if action == "promote" or not earlier:
            history.append(rel(revision, image, from_image=history[-1].image_id if history else ""))
        else:
            back = earlier[revision % len(earlier)]
            history.append(rel(revision, back.image_id, action, back.revision, history[-1].image_id))
    return history


@given(steps=releases_st, refused=st.sets(st.sampled_from("ABCDE")), to=st.integers(1, 12), auto=st.booleans())
def test_rollback_never_returns_a_release_known_to_be_bad(
    steps: list[tuple[ReleaseAction, str]], refused: set[str], to: int, auto: bool
) -> None:
    history = _history(steps)
    why = {image: "FAIL" for image in refused}
    bad = known_bad(history, why)
    for target in (None, to):
        try:
            plan = rollback_target(history, target, refused=why, undo_last=auto)
        except (PromotionRefused, UsageError):
            continue
        assert plan.target.revision not in bad
        assert plan.target.image_id != history[-1].image_id  # a rollback changes production
        assert plan.forced_past == ""
        assert all(revision in bad or why == "its image is production now" for revision, why in plan.skipped)
