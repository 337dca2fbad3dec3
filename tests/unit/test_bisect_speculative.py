"""A bisect's endpoint checks overlap its first probes (issue 18), over typed fakes.

While an endpoint has no recorded verdict, both endpoints' images and the first probes' are
built at once. With no room for several runs (one GPU) the runs go one after another (good, bad,
then the probes), and a probe built speculatively is never run when an endpoint is not as
claimed; with room (`room`: a GPU each, or CPU runs) they are built and run at once, and a
probe's run counts only once the endpoints check out. The fakes keep the order of build and run
calls in one list; the builder (or runner) holds the speculative builds (runs) until all have
started (a barrier, not a sleep), so a bisect that did them one after another fails here.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import pytest

from harness.bisect import next_round
from harness.bisect_log import BisectLog
from harness.errors import BisectError, EndpointInfra
from harness.model import BuildSpec, RunRecord, Verdict
from harness.ops.bisect import BisectReport, run_bisect
from harness.ops.build_and_test import build_and_test
from harness.ops.parallel import records, run_many
from harness.ops.probe import BisectWorld
from harness.plan import Plan, load_plan
from harness.ports import LineSink
from harness.runplan import ContainerExit, RunRequest
from harness.scheduler import GpuScheduler
from harness.store import Store
from tests.unit.fakes import FakeBuilder, FakeRunner, FakeUpstream, Steps, make_world, sha_of, unit_config

NAMES = [f"c{i}" for i in range(9)]
SHAS = [sha_of(n) for n in NAMES]
GOOD, BAD, MIDPOINT = SHAS[0], SHAS[-1], SHAS[4]
FAILING = set(SHAS[6:])  # c6 is the first bad commit


class Meeting(FakeBuilder):
    """Keeps "build <sha>" per commit image in `calls`; the first build of each commit of
    `together` returns only once all of them have started: they were in flight at once."""

    def __init__(self, calls: list[str], together: Collection[str] = ()) -> None:
        super().__init__()
        self.calls, self.waiting = calls, set(together)
        # The timeout only ends a test whose builds never meet (they were not started at once).
        self.barrier = threading.Barrier(max(1, len(self.waiting)), timeout=10)

    def build(
        self, spec: BuildSpec, context: BinaryIO, *, timeout_s: float, on_line: LineSink, nocache: bool = False
    ) -> str:
        with self.lock:
            meets = spec.tree_commit in self.waiting
            self.waiting.discard(spec.tree_commit)
            if spec.tree_commit:
                self.calls.append(f"build {spec.tree_commit}")
        if meets:
            self.barrier.wait()
        return super().build(spec, context, timeout_s=timeout_s, on_line=on_line, nocache=nocache)


class Logged(FakeRunner):
    """Keeps "run <sha>" per test run in `calls`; commits in `bad` fail."""

    def __init__(self, calls: list[str], bad: Collection[str]) -> None:
        super().__init__(bad=bad)
        self.calls = calls

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        self.calls.append(f"run {dict(request.labels)['harness.commit']}")
        return super().run(request, log_path=log_path, on_line=on_line)


class Together(Logged):
    """A Logged runner whose first run of each commit of `together` returns only once all of
    them have started: they ran at once."""

    def __init__(self, calls: list[str], bad: Collection[str], together: Collection[str]) -> None:
        super().__init__(calls, bad)
        self.waiting = set(together)
        self.barrier = threading.Barrier(max(1, len(self.waiting)), timeout=10)

    def run(self, request: RunRequest, *, log_path: str, on_line: LineSink) -> ContainerExit:
        sha = dict(request.labels)["harness.commit"]
        with self.lock:
            meets = sha in self.waiting
            self.waiting.discard(sha)
        if meets:
            self.barrier.wait()
        return super().run(request, log_path=log_path, on_line=on_line)


def _bisect(
    tmp_path: Path,
    builder: FakeBuilder,
    runner: FakeRunner,
    *,
    jobs: int = 1,
    recorded: Collection[str] = (),
    recorder: FakeBuilder | None = None,
    room: int = 0,
) -> tuple[BisectReport, Steps]:
    """Bisect c0..c8 at level baseline; `recorded` commits are tested first, by another builder
    (`recorder`) and runner, so their runs are in the store before the bisect starts. `room`:
    how many runs the host takes at once (0: the bisect has no way to run several)."""
    upstream = FakeUpstream(NAMES)
    plan = load_plan(unit_config(tmp_path, contract=False), ref="c8", level="baseline")
    for sha in recorded:
        world = make_world(tmp_path, upstream, builder=recorder, runner=FakeRunner(bad=runner.bad))
        build_and_test(plan.for_ref(sha, "baseline"), world)
    steps = Steps()
    world = make_world(tmp_path, upstream, builder=builder, runner=runner, reporter=steps)

    def at_once(plan: Plan, shas: list[str]) -> dict[str, RunRecord]:
        make = lambda: make_world(tmp_path, upstream, builder=builder, runner=runner, reporter=steps)  # noqa: E731
        return records(run_many(plan, shas, make_world=make, scheduler=GpuScheduler([], cpu_slots=room)))

    bw = BisectWorld(
        world=world,
        log=BisectLog(Store(tmp_path / "state" / "state.db")),
        make_upstream=lambda: upstream,
        make_builder=lambda: builder,
        at_once=at_once if room else None,
        room=lambda: room,
    )
    report = run_bisect(plan, bw, good_ref="c0", bad_ref="c8", jobs=jobs, prefetch_builds=2, policy="fail")
    return report, steps


def _runs(calls: list[str]) -> list[str]:
    return [c.removeprefix("run ") for c in calls if c.startswith("run ")]


@pytest.mark.parametrize("jobs", [1, 2])
def test_endpoints_and_first_probes_are_built_at_once_then_run_in_turn(tmp_path: Path, jobs: int) -> None:
    first = next_round(SHAS, {GOOD: Verdict.PASS, BAD: Verdict.FAIL}, jobs)  # the midpoint, or the first round
    calls: list[str] = []
    together = [GOOD, BAD, *first]
    report, steps = _bisect(tmp_path, Meeting(calls, together), Logged(calls, FAILING), jobs=jobs)
    first_run = calls.index(f"run {GOOD}")
    assert {f"build {sha}" for sha in together} <= set(calls[:first_run])  # all started before any run
    assert _runs(calls)[: 2 + len(first)] == together  # runs in turn: good, bad, then the probes
    assert report.answer.first_bad == SHAS[6]
    assert [s.commit for s in report.steps][:2] == [GOOD, BAD]
    what = f"midpoint {MIDPOINT[:12]}" if jobs == 1 else f"first round {', '.join(s[:12] for s in first)}"
    assert f"speculative: building {GOOD[:12]}, {BAD[:12]} and {what} at once" in steps.steps
    assert report.prefetched[: len(together)] == tuple(together)


@pytest.mark.parametrize(
    ("failing", "problem"),
    [({GOOD} | FAILING, "the good endpoint"), (set(), "the bad endpoint")],
    ids=["good-fails", "bad-passes"],
)
def test_an_endpoint_not_as_claimed_discards_the_speculative_midpoint(
    tmp_path: Path, failing: set[str], problem: str
) -> None:
    calls: list[str] = []
    with pytest.raises(BisectError, match=problem):
        _bisect(tmp_path, Meeting(calls, [GOOD, BAD, MIDPOINT]), Logged(calls, failing))
    assert f"build {MIDPOINT}" in calls  # built speculatively, at once with the endpoints ...
    assert _runs(calls) == [GOOD, BAD]  # ... but never run: no record, so not a step nor in an answer
    log = BisectLog(Store(tmp_path / "state" / "state.db"))
    session = log.sessions()[0]
    assert [s.commit for s in log.steps(session.id)] == [GOOD, BAD]
    assert session.finished == "" and session.answer == {}
    assert Store(tmp_path / "state" / "state.db").runs_for_commit(MIDPOINT) == []


def test_recorded_endpoints_are_trusted_and_not_built(tmp_path: Path) -> None:
    calls: list[str] = []
    report, steps = _bisect(tmp_path, Meeting(calls), Logged(calls, FAILING), recorded=[GOOD, BAD])
    assert f"build {GOOD}" not in calls and f"build {BAD}" not in calls
    assert GOOD not in report.prefetched and BAD not in report.prefetched
    assert not [s for s in steps.steps if s.startswith("speculative")]  # today's flow: nothing to overlap
    assert [(s.commit, s.source) for s in report.steps][:2] == [(GOOD, "reused"), (BAD, "reused")]
    assert _runs(calls)[0] == MIDPOINT and report.answer.first_bad == SHAS[6]


def test_one_recorded_endpoint_overlaps_the_other_with_the_midpoint(tmp_path: Path) -> None:
    calls: list[str] = []
    report, steps = _bisect(tmp_path, Meeting(calls, [GOOD, MIDPOINT]), Logged(calls, FAILING), recorded=[BAD])
    assert f"build {BAD}" not in calls
    assert calls.index(f"build {MIDPOINT}") < calls.index(f"run {GOOD}")
    assert f"speculative: building {GOOD[:12]} and midpoint {MIDPOINT[:12]} at once" in steps.steps
    assert [(s.commit, s.source) for s in report.steps][:3] == [(GOOD, "fresh"), (BAD, "reused"), (MIDPOINT, "fresh")]


def test_a_recorded_endpoint_that_disagrees_builds_no_probe(tmp_path: Path) -> None:
    calls: list[str] = []
    failing = {GOOD} | FAILING
    with pytest.raises(BisectError, match="the good endpoint"):
        _bisect(tmp_path, Meeting(calls), Logged(calls, failing), recorded=[GOOD])
    assert [c for c in calls if c.startswith("build ")] == [f"build {BAD}"]  # the check needs bad: nothing more
    assert _runs(calls) == [BAD]


def test_an_endpoint_recorded_as_infra_is_built_speculatively(tmp_path: Path) -> None:
    # Its record is reused first, then it is tested once more, fresh (probe_endpoint): worth building at once.
    timeout = FakeBuilder(fail={"commit": ("ReadTimeoutError: Read timed out.",)}, fail_for={GOOD})
    calls: list[str] = []
    together = [GOOD, BAD, MIDPOINT]
    report, steps = _bisect(
        tmp_path, Meeting(calls, together), Logged(calls, FAILING), recorded=[GOOD], recorder=timeout
    )
    assert f"speculative: building {GOOD[:12]}, {BAD[:12]} and midpoint {MIDPOINT[:12]} at once" in steps.steps
    assert [(s.commit, s.verdict, s.source) for s in report.steps][:2] == [
        (GOOD, Verdict.ERROR, "reused"),
        (GOOD, Verdict.PASS, "fresh"),
    ]
    assert _runs(calls)[:3] == together and report.answer.first_bad == SHAS[6]


@pytest.mark.parametrize("jobs", [1, 2])
def test_with_room_the_endpoints_and_first_probes_run_at_once(tmp_path: Path, jobs: int) -> None:
    first = next_round(SHAS, {GOOD: Verdict.PASS, BAD: Verdict.FAIL}, jobs)
    together = [GOOD, BAD, *first]
    calls: list[str] = []
    report, steps = _bisect(
        tmp_path, Meeting(calls, together), Together(calls, FAILING, together), jobs=jobs, room=len(together)
    )
    assert sorted(_runs(calls)[: len(together)]) == sorted(together)  # the barrier: all in flight at once
    assert [(s.commit, s.source) for s in report.steps][: len(together)] == [(sha, "fresh") for sha in together]
    assert report.answer.first_bad == SHAS[6]
    what = f"midpoint {MIDPOINT[:12]}" if jobs == 1 else f"first round {', '.join(s[:12] for s in first)}"
    assert f"speculative: building and running {GOOD[:12]}, {BAD[:12]} and {what} at once" in steps.steps
    assert not set(together) & set(report.prefetched)  # built by the runs themselves, not ahead


@pytest.mark.parametrize(
    ("failing", "problem"),
    [({GOOD} | FAILING, "the good endpoint"), (set(), "the bad endpoint")],
    ids=["good-fails", "bad-passes"],
)
def test_an_endpoint_not_as_claimed_throws_the_midpoints_run_away(
    tmp_path: Path, failing: set[str], problem: str
) -> None:
    calls: list[str] = []
    together = [GOOD, BAD, MIDPOINT]
    with pytest.raises(BisectError, match=problem):
        _bisect(tmp_path, Meeting(calls, together), Together(calls, failing, together), room=3)
    assert sorted(_runs(calls)) == sorted(together)  # the midpoint ran, at once with the endpoints ...
    log = BisectLog(Store(tmp_path / "state" / "state.db"))
    session = log.sessions()[0]
    assert [s.commit for s in log.steps(session.id)] == [GOOD, BAD]  # ... but is no step of the bisect
    assert session.finished == "" and session.answer == {}
    # Its run stays recorded, as any run is: a true verdict of that commit, for later bisects to reuse.
    assert len(Store(tmp_path / "state" / "state.db").runs_for_commit(MIDPOINT)) == 1


def test_room_for_two_runs_the_endpoints_at_once_and_builds_the_midpoint_ahead(tmp_path: Path) -> None:
    calls: list[str] = []
    report, steps = _bisect(
        tmp_path, Meeting(calls, [GOOD, BAD, MIDPOINT]), Together(calls, FAILING, [GOOD, BAD]), room=2
    )
    assert sorted(_runs(calls)[:2]) == sorted([GOOD, BAD]) and _runs(calls)[2] == MIDPOINT
    assert calls.index(f"build {MIDPOINT}") < calls.index(f"run {MIDPOINT}")
    line = (
        f"speculative: building and running {GOOD[:12]} and {BAD[:12]} at once; building midpoint {MIDPOINT[:12]} ahead"
    )
    assert line in steps.steps
    assert report.prefetched[0] == MIDPOINT and report.answer.first_bad == SHAS[6]


def test_room_for_one_run_keeps_the_runs_in_turn(tmp_path: Path) -> None:
    calls: list[str] = []
    together = [GOOD, BAD, MIDPOINT]
    report, steps = _bisect(tmp_path, Meeting(calls, together), Logged(calls, FAILING), room=1)
    assert _runs(calls)[:3] == together and report.answer.first_bad == SHAS[6]
    assert f"speculative: building {GOOD[:12]}, {BAD[:12]} and midpoint {MIDPOINT[:12]} at once" in steps.steps


def test_an_endpoint_infra_at_once_is_tried_again_alone_then_stops_the_bisect(tmp_path: Path) -> None:
    timeout = FakeBuilder(fail={"commit": ("ReadTimeoutError: Read timed out.",)}, fail_for={GOOD})
    calls: list[str] = []
    with pytest.raises(EndpointInfra, match=f"the good endpoint {GOOD[:12]} could not be tested, twice"):
        _bisect(tmp_path, timeout, Logged(calls, FAILING), room=3)
    log = BisectLog(Store(tmp_path / "state" / "state.db"))
    steps = log.steps(log.sessions()[0].id)
    assert [(s.commit, s.verdict) for s in steps] == [(GOOD, Verdict.ERROR), (GOOD, Verdict.ERROR)]
    assert timeout.built_commits.count(GOOD) == 2  # at once, then once more alone
