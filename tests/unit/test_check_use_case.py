"""The contract check as a use case over a fake upstream: holds, breaks, refuses a crafted tree,
and becomes a level-contract run record."""

from __future__ import annotations

from pathlib import Path

from harness.model import Verdict
from harness.ops.check import check_planned, contract_record
from harness.plan import load_plan
from tests.unit.fakes import FakeUpstream, sha_of, unit_config


def test_a_kept_contract_holds_and_a_renamed_function_breaks_it(tmp_path: Path) -> None:
    plan = load_plan(unit_config(tmp_path), ref="c1", level="contract").contract
    upstream = FakeUpstream(["c0", "c1"], files={"c1": {"wgp.py": b"def renamed(task, send_cmd):\n    pass\n"}})
    kept = check_planned(upstream, upstream.commit(sha_of("c0")), plan)
    broken = check_planned(upstream, upstream.commit(sha_of("c1")), plan)
    assert kept is not None and kept.holds
    assert broken is not None and not broken.holds
    record = contract_record(
        broken, run_id="r1", started="2024-01-01T00:00:00", suite="s", suite_hash="h", contract_hash="c"
    )
    assert (record.verdict, record.level, record.image_id) == (Verdict.FAIL, "contract", "")
    assert record.summary.startswith("contract broken: generate_video")


def test_a_crafted_tree_is_refused_unread(tmp_path: Path) -> None:
    plan = load_plan(unit_config(tmp_path), ref="c0", level="contract").contract
    upstream = FakeUpstream(["c0"], expect={"commit", "unsafe_tree"})  # reading a file would fail the test
    upstream.unsafe[sha_of("c0")] = (".git/hooks/post-checkout",)
    result = check_planned(upstream, upstream.commit(sha_of("c0")), plan)
    assert result is not None and [(i.kind, i.name, i.status) for i in result.items] == [
        ("tree", ".git/hooks/post-checkout", "error")
    ]


def test_no_contract_configured_checks_nothing(tmp_path: Path) -> None:
    plan = load_plan(unit_config(tmp_path, contract=False), ref="c0", level="smoke").contract
    upstream = FakeUpstream(["c0"], expect={"commit"})
    assert check_planned(upstream, upstream.commit(sha_of("c0")), plan) is None
