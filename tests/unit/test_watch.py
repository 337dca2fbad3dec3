"""watch: the pure decisions (harness/watch.py) and the loop (ops/watch.py) over FakeWatch."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError, EngineUnavailable, UpstreamUnreachable
from harness.model import Level, Verdict
from harness.naming import LAST_GOOD
from harness.ops.watch import cycle, view, watch
from harness.watch import Bisecting, Streak, WatchState, arrived, due, infra_failed, progress, soak_step, wait_s
from harness.watchconfig import Soak, WatchConfig
from tests.unit.fakes import FakeUpstream, FakeWatch, record, sha_of

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LEVELS: tuple[Level, ...] = ("contract", "smoke", "baseline")
QUIET = WatchConfig(revalidate_s=0, retention_s=0)  # the tests that look at one thing turn off the rest


def _upstream(*names: str) -> FakeUpstream:
    return FakeUpstream(names, refs={"HEAD": sha_of(names[-1])})


def _move(upstream: FakeUpstream, name: str) -> None:
    upstream.by_name["HEAD"] = sha_of(name)


def _kinds(fw: FakeWatch) -> list[tuple[str, str]]:
    return [(e.event.kind, e.event.commit[:12] or e.event.culprit[:12]) for e in reversed(fw.store.events())]


# --- the pure decisions ------------------------------------------------------------------


def test_progress_stops_at_the_first_failing_level_and_reuses_what_is_recorded() -> None:
    passed, failed = record("a" * 40, "i", "r1", level="contract"), record("a" * 40, "i", "r2", Verdict.FAIL)
    assert progress(LEVELS, {}).status == "test" and progress(LEVELS, {}).level == "contract"
    assert progress(LEVELS, {"contract": passed}).level == "smoke"
    smoke_failed = dataclasses.replace(failed, level="smoke")
    step = progress(LEVELS, {"contract": passed, "smoke": smoke_failed})
    assert (step.status, step.level, step.record) == ("failed", "smoke", smoke_failed)
    errored = dataclasses.replace(passed, verdict=Verdict.ERROR)
    assert progress(LEVELS, {"contract": errored}).status == "test"  # infra answers nothing: run again
    flaky = dataclasses.replace(passed, verdict=Verdict.FLAKY)
    assert progress(LEVELS, {"contract": flaky}).status == "flaky"
    every = {lv: dataclasses.replace(passed, level=lv) for lv in LEVELS}
    assert progress(LEVELS, every).status == "passed"


def test_soak_wants_the_runs_then_the_age() -> None:
    first = dataclasses.replace(record("a" * 40, "i", "r1"), started=T0.isoformat())
    second = dataclasses.replace(first, run_id="r2", started=(T0 + datetime.timedelta(minutes=5)).isoformat())
    assert soak_step([first], Soak(runs=2), T0) == "run"
    assert soak_step([first, second], Soak(runs=2), T0) == "promote"
    aged = Soak(runs=1, age_s=3600)
    assert soak_step([first], aged, T0 + datetime.timedelta(minutes=59)) == "wait"
    assert soak_step([first], aged, T0 + datetime.timedelta(minutes=60)) == "promote"


def test_an_infra_streak_escalates_once_and_backs_off_to_the_cap() -> None:
    streak, raised = Streak(), []
    for _ in range(5):
        streak, escalate = infra_failed(streak, "EngineUnavailable", 3, "t0")
        raised.append(escalate)
    assert raised == [False, False, True, False, False] and streak.count == 5 and streak.since == "t0"
    other, escalate = infra_failed(streak, "UpstreamUnreachable", 3, "t1")
    assert (other.count, other.escalated, other.since, escalate) == (1, False, "t1", False)
    waits = [wait_s(Streak(kind="k", count=n), poll_s=10, escalate_after=3, backoff_max_s=100) for n in range(7)]
    assert waits == [10, 10, 10, 20, 40, 80, 100]


def test_state_round_trips_and_a_new_head_queues_only_new_commits() -> None:
    state = arrived(WatchState(queue=("b",)), "d", ["b", "c", "d"])
    assert state.queue == ("b", "c", "d") and state.head == "d"
    state = dataclasses.replace(state, bisecting=Bisecting(session="s", good="a", bad="d", level="smoke"))
    assert WatchState.from_doc(state.to_doc() | {"from_a_newer_harness": 1}) == state
    assert due("", 10, T0) and not due(T0.isoformat(), 10, T0) and not due("", 0, T0)


def test_watch_config_errors_name_the_key_and_what_is_allowed(tmp_path: Path) -> None:
    def config(text: str) -> None:
        suite = "suite: {cases: [{id: t2v, model: t2v_tiny}]}\n"
        (tmp_path / "harness.yaml").write_text(f"upstream: {{url: ./up}}\nstate_dir: state\n{suite}{text}")
        load_config(tmp_path / "harness.yaml")

    with pytest.raises(ConfigError, match=r"watch\.levels: \['baseline', 'smoke'\]: each once, cheapest first"):
        config("watch: {levels: [baseline, smoke]}\n")
    with pytest.raises(ConfigError, match=r"watch\.promote: 'always'; allowed: manual, auto"):
        config("watch: {promote: always}\n")
    with pytest.raises(ConfigError, match=r"notify\.webhooks\[0\]: give exactly one of url"):
        config("notify: {webhooks: [{url: 'http://x', url_env: HOOK}]}\n")
    with pytest.raises(ConfigError, match=r"headers\.Authorization: 'Bearer abc': the variable holding the value"):
        config("notify: {webhooks: [{url_env: HOOK, headers: {Authorization: Bearer abc}}]}\n")


# --- the loop ------------------------------------------------------------------------------


def test_the_first_cycle_tests_head_cheapest_first_and_a_failure_stops_it(tmp_path: Path) -> None:
    up = _upstream("c1")
    fw = FakeWatch(tmp_path, up)
    fw.verdicts[(sha_of("c1"), "smoke")] = Verdict.FAIL
    state = cycle(fw.world(QUIET))
    assert fw.tests == [(sha_of("c1"), "contract"), (sha_of("c1"), "smoke")]  # no baseline after a smoke FAIL
    assert _kinds(fw) == [("fail", sha_of("c1")[:12])]
    assert fw.bisects == []  # nothing passed before it: no good end
    assert state.queue == () and state.head == sha_of("c1")
    assert fw.deliveries == 1


def test_a_failure_after_a_pass_bisects_from_the_pass_and_writes_the_impact_report(tmp_path: Path) -> None:
    up = _upstream("c1", "c2", "c3", "c4")
    _move(up, "c1")
    fw = FakeWatch(tmp_path, up, first_bad=sha_of("c3"))
    world = fw.world(QUIET)
    cycle(world)
    _move(up, "c4")
    fw.verdicts[(sha_of("c4"), "contract")] = Verdict.FAIL
    state = cycle(world)
    assert fw.tests == [(sha_of("c1"), lv) for lv in LEVELS] + [(sha_of("c4"), "contract")]  # newest only
    assert fw.bisects == [
        Bisecting(session=f"bwatch-{sha_of('c4')[:12]}-contract", good=sha_of("c1"), bad=sha_of("c4"), level="contract")
    ]
    assert fw.impacts == [sha_of("c3")]
    assert _kinds(fw) == [("pass", sha_of("c1")[:12]), ("fail", sha_of("c4")[:12]), ("culprit", sha_of("c4")[:12])]
    culprit = fw.store.events(1)[0].event
    assert culprit.culprit == sha_of("c3") and culprit.report.endswith(sha_of("c3")[:12])
    assert state.bisecting is None and state.queue == ()


def test_a_restart_reuses_recorded_levels_resumes_its_bisect_and_repeats_no_event(tmp_path: Path) -> None:
    up = _upstream("c1", "c2")
    fw = FakeWatch(tmp_path, up, first_bad=sha_of("c2"))
    fw.test(sha_of("c2"), "contract")  # recorded before the kill
    bis = Bisecting(session="bwatch-x", good=sha_of("c1"), bad=sha_of("c2"), level="smoke")
    fw.store.save_watch_state(WatchState(head=sha_of("c2"), queue=(sha_of("c2"),), bisecting=bis).to_doc())
    world = fw.world(QUIET)
    cycle(world)
    assert fw.bisects == [bis] and fw.tests == [(sha_of("c2"), "contract")]  # the bisect first, nothing re-run
    cycle(world)
    assert fw.tests[1:] == [(sha_of("c2"), "smoke"), (sha_of("c2"), "baseline")]  # contract reused
    events = len(fw.store.events())
    cycle(world)
    cycle(world)
    assert len(fw.tests) == 3 and len(fw.store.events()) == events  # an unchanged head: no run, no event


def test_the_same_infra_failure_escalates_once_then_recovers(tmp_path: Path) -> None:
    up = _upstream("c1")
    fw = FakeWatch(tmp_path, up)
    fw.raises = [EngineUnavailable("the engine does not answer")] * 4
    world = fw.world(dataclasses.replace(QUIET, escalate_after=3))
    streaks = [cycle(world).streak.count for _ in range(4)]
    assert streaks == [1, 2, 3, 4]
    assert _kinds(fw) == [("escalation", "")] and fw.metrics.escalations == 1
    assert cycle(world).streak == Streak()
    assert [k for k, _ in _kinds(fw)] == ["escalation", "pass", "recovered"]


def test_a_failing_fetch_and_an_error_run_are_infra_never_a_verdict(tmp_path: Path) -> None:
    up = _upstream("c1")
    up.fetch_error = UpstreamUnreachable("fetch failed: network")
    fw = FakeWatch(tmp_path, up)
    state = cycle(fw.world(QUIET))
    assert state.streak.kind == "UpstreamUnreachable" and fw.tests == []
    up.fetch_error = None
    fw.verdicts[(sha_of("c1"), "contract")] = Verdict.ERROR
    state = cycle(fw.world(QUIET))
    assert state.streak.count == 1 and state.streak.kind.startswith("error") and state.queue == (sha_of("c1"),)
    assert fw.store.events() == []


def test_auto_promotion_soaks_then_promotes_once_and_never_retries_a_rolled_back_image(tmp_path: Path) -> None:
    up = _upstream("c1", "c2")
    _move(up, "c1")
    fw = FakeWatch(tmp_path, up)
    world = fw.world(dataclasses.replace(QUIET, promote="auto", soak=Soak(runs=2)))
    cycle(world)  # contract, smoke, baseline: PASS, last-good moves
    cycle(world)  # the soak's second baseline of the same image
    assert fw.tests[-1] == (sha_of("c1"), "baseline") and len(fw.tests) == 4 and fw.promotions == []
    cycle(world)
    image = fw.store.pointer(LAST_GOOD)
    assert image is not None and fw.promotions == [image.image_id]
    cycle(world)
    assert len(fw.promotions) == 1 and len(fw.tests) == 4
    assert [k for k, _ in _kinds(fw)] == ["pass", "promoted"]
    _move(up, "c2")
    fw.rolls_back = "revision 2 failed its health check"
    cycle(world), cycle(world), cycle(world), cycle(world)
    assert len(fw.promotions) == 2 and [k for k, _ in _kinds(fw)][-1] == "rolled_back"


def test_manual_promotion_never_promotes(tmp_path: Path) -> None:
    fw = FakeWatch(tmp_path, _upstream("c1"))
    world = fw.world(QUIET)
    for _ in range(3):
        cycle(world)
    assert fw.promotions == [] and len(fw.tests) == 3


def test_production_failing_on_this_host_is_told_with_reasons_and_promotion_is_untouched(tmp_path: Path) -> None:
    up = _upstream("c1")
    fw = FakeWatch(tmp_path, up)
    cycle(fw.world(QUIET))
    last_good = fw.store.pointer(LAST_GOOD)
    assert last_good is not None
    fw.promote(last_good.image_id)
    fw.promotions.clear()
    fw.verdicts[(sha_of("c1"), "baseline")] = Verdict.FAIL
    fw.reasons = ("weights missing in /models: t2v.safetensors",)
    world = fw.world(dataclasses.replace(QUIET, revalidate_s=3600))
    state = cycle(world)
    event = fw.store.events(1)[0].event
    assert event.kind == "production_failing" and "weights missing in /models" in event.summary
    assert fw.promotions == [] and [r.action for r in fw.store.releases()] == ["promote"]
    cycle(world)
    assert len(fw.tests) == 4 and state.last_revalidate  # not due again within the hour
    fw.now = T0 + datetime.timedelta(hours=1)
    cycle(world)
    assert len(fw.tests) == 5


def test_watch_once_runs_one_cycle_and_the_loop_sleeps_the_backoff(tmp_path: Path) -> None:
    fw = FakeWatch(tmp_path, _upstream("c1"))
    fw.raises = [EngineUnavailable("down")] * 3
    config = dataclasses.replace(QUIET, poll_s=5, escalate_after=1, backoff_max_s=15)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise KeyboardInterrupt

    assert watch(fw.world(config), once=True, sleep=sleep).streak.count == 1 and slept == []
    with pytest.raises(KeyboardInterrupt):
        watch(fw.world(config), once=False, sleep=sleep)
    assert slept == [15, 15, 5]  # past the escalation: doubling to the cap; recovered: poll_s
    heartbeat = fw.store.heartbeat()
    assert heartbeat["doing"] == "sleeping 5 s" and heartbeat["pid"]


def test_status_says_what_the_watcher_does_next(tmp_path: Path) -> None:
    fw = FakeWatch(tmp_path, _upstream("c1", "c2"))
    bis = Bisecting(session="bwatch-x", good=sha_of("c1"), bad=sha_of("c2"), level="smoke")
    state = WatchState(
        queue=(sha_of("c2"),), bisecting=bis, last_poll=T0.isoformat(), streak=Streak(kind="EngineUnavailable", count=4)
    )
    fw.store.save_watch_state(state.to_doc())
    config = WatchConfig(poll_s=60, escalate_after=3, revalidate_s=3600)
    seen = view(fw.store, config, T0 + datetime.timedelta(seconds=30), None)
    assert seen.running is None and seen.state == state and seen.pending_events == 0
    assert seen.next == (
        f"bisect {sha_of('c1')[:12]}..{sha_of('c2')[:12]} at smoke (session bwatch-x)",
        "infra failing 4 cycle(s) in a row (EngineUnavailable): waits 240 s",
        "poll upstream at 2026-01-01T00:01:00+00:00",
        "retention now",  # no production: nothing to re-validate
    )


def test_the_report_is_regenerated_after_a_cycle_with_an_event_and_never_stops_the_loop(tmp_path: Path) -> None:
    upstream = _upstream("a", "b")
    _move(upstream, "a")
    fw = FakeWatch(tmp_path, upstream)
    cycle(fw.world(QUIET))
    assert fw.reports == 1 and "report: 3 file(s) written" in fw.reporter.steps  # the pass event
    cycle(fw.world(QUIET))
    assert fw.reports == 1  # nothing new happened: nothing new to show
    _move(upstream, "b")
    fw.report_fails = "disk full"
    state = cycle(fw.world(QUIET))
    assert fw.reports == 2 and "report: not regenerated: disk full" in fw.reporter.steps
    assert state.head == sha_of("b") and ("pass", sha_of("b")[:12]) in _kinds(fw)  # the loop went on
