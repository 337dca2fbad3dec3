"""bisect and parallel runs as use cases (harness/ops/bisect.py, ops/parallel.py) over typed fakes.

One plan serves every probe: the suite is hashed once per bisect, not per probe; while a fresh
probe runs, the next probes' images are built ahead and counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bisect_log import BisectLog
from harness.config import Suite
from harness.model import Verdict
from harness.ops.bisect import BisectReport, run_bisect
from harness.ops.build_and_test import Result
from harness.ops.parallel import run_many
from harness.ops.probe import BisectWorld
from harness.plan import load_plan
from harness.scheduler import GpuScheduler
from harness.store import Store
from tests.unit.fakes import FakeBuilder, FakeRunner, FakeUpstream, make_world, sha_of, unit_config

NAMES = [f"c{i}" for i in range(9)]
FIRST_BAD = "c6"


def _bisect(tmp_path: Path, *, prefetch: int, level: str = "baseline") -> tuple[BisectReport, FakeBuilder]:
    # From FIRST_BAD on the suite fails, and wgp.py lost the function the contract names.
    broken = {"wgp.py": b"def renamed(task, send_cmd):\n    pass\n", "defaults/t2v_tiny.json": b"{}"}
    upstream = FakeUpstream(NAMES, files={n: broken for n in NAMES[NAMES.index(FIRST_BAD) :]})
    builder = FakeBuilder()
    runner = FakeRunner(bad={sha_of(n) for n in NAMES[NAMES.index(FIRST_BAD) :]})
    world = make_world(tmp_path, upstream, builder=builder, runner=runner)
    bw = BisectWorld(
        world=world,
        log=BisectLog(Store(tmp_path / "state" / "state.db")),
        make_upstream=lambda: upstream,
        make_builder=lambda: builder,
    )
    # Baseline bisects judge by the suite alone (no contract), contract bisects by the contract.
    plan = load_plan(unit_config(tmp_path, contract=level == "contract"), ref="c8", level=level)
    report = run_bisect(plan, bw, good_ref="c0", bad_ref="c8", prefetch_builds=prefetch, policy="fail")
    return report, builder


def test_bisect_names_the_first_bad_commit_hashing_the_suite_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests: list[str] = []
    digest = Suite.digest

    def counted(suite: Suite) -> str:
        digests.append(suite.name)
        return digest(suite)

    monkeypatch.setattr(Suite, "digest", counted)
    report, _ = _bisect(tmp_path, prefetch=0)
    assert report.answer.first_bad == sha_of(FIRST_BAD)
    assert report.culprit is not None and report.culprit.commit.subject == FIRST_BAD
    assert len(digests) == 1  # the plan's, for every probe
    assert report.prefetched == ()
    verdicts = {s.commit: s.verdict for s in report.steps}
    assert verdicts[sha_of("c0")] is Verdict.PASS and verdicts[sha_of("c8")] is Verdict.FAIL


def test_bisect_builds_the_next_probes_ahead_and_counts_them(tmp_path: Path) -> None:
    report, builder = _bisect(tmp_path, prefetch=2)
    assert report.answer.first_bad == sha_of(FIRST_BAD)
    probed = [s.commit for s in report.steps]
    # c0, c8 (endpoints) and c4 are built at once (speculatively), then probed in that order;
    # while c4 runs, both its outcomes' next probes (c2, c6) are built ahead.
    assert probed[:3] == [sha_of("c0"), sha_of("c8"), sha_of("c4")]
    assert set(builder.built_commits) >= set(report.prefetched) | set(probed)
    submitted = ("c0", "c8", "c4", "c6", "c2", "c7", "c5")
    assert report.prefetched == tuple(sha_of(n) for n in submitted)  # in the order submitted


def test_bisect_at_level_contract_builds_nothing(tmp_path: Path) -> None:
    report, builder = _bisect(tmp_path, prefetch=2, level="contract")
    assert report.answer.first_bad == sha_of(FIRST_BAD)
    assert builder.built == [] and report.prefetched == ()
    assert {s.source for s in report.steps} == {"fresh"}


def test_run_many_runs_each_ref_by_the_one_plan(tmp_path: Path) -> None:
    upstream = FakeUpstream(["c1", "c2"])
    runner = FakeRunner(bad={sha_of("c2")})
    plan = load_plan(unit_config(tmp_path), ref="c1", level="baseline")
    outcomes = run_many(
        plan,
        ["c1", "c2"],
        make_world=lambda: make_world(tmp_path, upstream, runner=runner),
        scheduler=GpuScheduler([], cpu_slots=2),
    )
    verdicts = {ref: r.record.verdict for ref, r in outcomes.items() if isinstance(r, Result)}
    assert verdicts == {"c1": Verdict.PASS, "c2": Verdict.FAIL}
