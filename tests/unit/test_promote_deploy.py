"""promote / rollback / reconcile (ops/promote.py `Mover`) and the deploy loop (ops/deploy.py
`Deployer`) driven through typed fakes: no Docker, a real store on tmp_path, a fake clock.

The engine fake keeps tags as the engine does (a name points at one image id; tagging moves
it); the service fake plays a scripted list of states, one per poll.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.compose import ServiceSpec
from harness.errors import DeployFailed, PromotionRefused, UsageError
from harness.model import Level, Release, RunRecord, Verdict
from harness.naming import LAST_GOOD, PRODUCTION, STATE_LABEL
from harness.ops.deploy import Deployer, deploy, promote_and_deploy
from harness.ops.promote import Mover, promote, reconcile, rollback
from harness.ports import Upstream
from harness.services import ImageInfo, ServiceState
from harness.store import Store
from tests.unit.fakes import SERVICE_SPEC, FakeBuilder, FakeUpstream, Steps, release
from tests.unit.fakes import record as run_record

REPO = "harness-test/prod"
SUITE, CONTRACT = "s" * 16, "k" * 16
A, B, C = ("sha256:" + x * 64 for x in "abc")
COMMITS = {A: "1" * 40, B: "2" * 40, C: "3" * 40}


class Engine(FakeBuilder):
    """The images and tags of one engine (ports.ImageBuilder)."""

    def __init__(self, images: tuple[str, ...], foreign: str = "") -> None:
        super().__init__(expect=())
        self.on_engine = set(images)
        self.tags: dict[str, str] = {}
        self.foreign = foreign  # another state's id on an image of REPO: the repo is not ours
        self.retags: list[tuple[str, str]] = []

    def image_id(self, name: str) -> str | None:
        if name.startswith("sha256:"):
            return name if name in self.on_engine else None
        return self.tags.get(name)

    def tag(self, image_id: str, repo: str, tag: str) -> None:
        assert image_id in self.on_engine, f"tagging {image_id}, which is not on the engine"
        self.tags[f"{repo}:{tag}"] = image_id
        self.retags.append((tag, image_id))

    def repo_images(self, *repos: str) -> list[ImageInfo]:
        if not self.foreign or REPO not in repos:
            return []
        return [ImageInfo(id=A, tags=(f"{REPO}:production",), labels={STATE_LABEL: self.foreign}, created="t")]


def _record(image: str, verdict: Verdict = Verdict.PASS, level: Level = "baseline", n: int = 0) -> RunRecord:
    run_id = f"20250101-00000{n}-{image[7]}{image[7]}{n}"
    commit = COMMITS[image]
    return run_record(commit, image, run_id, verdict, level=level, suite_hash=SUITE, contract_hash=CONTRACT, repo=REPO)


def _no_upstream() -> Upstream:
    return FakeUpstream(expect=())  # every target here is a run id or an image: git is never asked


def _mover(tmp_path: Path, engine: Engine, fault: Callable[[str], None] = lambda point: None) -> Mover:
    return Mover(
        store=Store(tmp_path / "state.db"),
        builder=engine,
        upstream=_no_upstream,
        repo=REPO,
        suite_hash=SUITE,
        contract_hash=CONTRACT,
        requires_level="smoke",
        lock_path=tmp_path / "locks" / "production.lock",
        lock_wait_s=1.0,
        user="tester",
        now=lambda: "2025-01-02T00:00:00+00:00",
        fault=fault,
    )


def _tested(mover: Mover, *records: RunRecord) -> None:
    for record in records:
        mover.store.add_run(record)


def _history(mover: Mover) -> list[tuple[int, str, str, int]]:
    return [(r.revision, r.action, r.image_id, r.based_on) for r in mover.store.releases()]


def test_a_passed_run_is_promoted_recorded_then_tagged(tmp_path: Path) -> None:
    engine = Engine((A,))
    mover = _mover(tmp_path, engine)
    record = _record(A)
    _tested(mover, record)
    release = promote(mover, record.run_id, reason="ship it", force=False)
    assert (release.revision, release.action, release.image_id, release.commit) == (1, "promote", A, COMMITS[A])
    assert (release.user, release.reason, release.forced, release.run_id) == ("tester", "ship it", False, record.run_id)
    assert engine.tags[f"{REPO}:{PRODUCTION}"] == A
    assert mover.store.production() == release


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (_record(A, Verdict.FAIL), "is FAIL"),
        (_record(A, level="contract"), "no run at level smoke or deeper"),
        (dataclasses.replace(_record(A), suite_hash="other"), "only with another suite version"),
    ],
)
def test_the_gate_refuses_and_moves_nothing(tmp_path: Path, record: RunRecord, why: str) -> None:
    engine = Engine((A,))
    mover = _mover(tmp_path, engine)
    _tested(mover, record)
    with pytest.raises(PromotionRefused, match=why):
        promote(mover, A, reason="", force=False)
    assert mover.store.releases() == [] and engine.retags == []


def test_force_takes_a_refused_image_and_keeps_why_in_the_history(tmp_path: Path) -> None:
    engine = Engine((A,))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A, Verdict.FAIL))
    with pytest.raises(UsageError, match="--force needs --reason"):
        promote(mover, A, reason=" ", force=True)
    release = promote(mover, A, reason="hotfix", force=True)
    assert release.forced and release.reason.startswith("hotfix [forced past: the latest baseline run")


def test_rollback_goes_two_promotions_back_after_two_rollbacks(tmp_path: Path) -> None:
    engine = Engine((A, B, C))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A, n=1), _record(B, n=2), _record(C, n=3))
    for image in (A, B, C):
        promote(mover, image, reason="", force=False)
    first = rollback(mover, to=None, reason="")
    assert (first.release.image_id, first.release.based_on, first.skipped) == (B, 2, ())
    second = rollback(mover, to=None, reason="")
    assert second.release.image_id == A and engine.tags[f"{REPO}:{PRODUCTION}"] == A
    assert _history(mover) == [
        (1, "promote", A, 1),
        (2, "promote", B, 2),
        (3, "promote", C, 3),
        (4, "rollback", B, 2),
        (5, "rollback", A, 1),
    ]
    assert [r.from_image_id for r in mover.store.releases()] == ["", A, B, C, B]


def test_rollback_passes_over_an_image_that_failed_since(tmp_path: Path) -> None:
    engine = Engine((A, B, C))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A, n=1), _record(B, n=2), _record(C, n=3))
    for image in (A, B, C):
        promote(mover, image, reason="", force=False)
    _tested(mover, _record(B, Verdict.FAIL, n=4))  # B failed after it was promoted
    back = rollback(mover, to=None, reason="")
    assert back.release.image_id == A
    assert [rev for rev, _ in back.skipped] == [2] and "FAIL" in back.skipped[0][1]
    with pytest.raises(PromotionRefused, match="rollback to revision 2 refused"):
        rollback(mover, to=2, reason="")


def test_rollback_onto_an_image_the_engine_lost_is_refused_naming_the_live_ones(tmp_path: Path) -> None:
    engine = Engine((A, B))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A, n=1), _record(B, n=2))
    promote(mover, A, reason="", force=False)
    promote(mover, B, reason="", force=False)
    engine.on_engine.discard(A)
    with pytest.raises(PromotionRefused, match=r"revision 1's image aaaaaaaaaaaa no longer exists.*\[2\]"):
        rollback(mover, to=None, reason="")
    assert len(mover.store.releases()) == 2 and engine.tags[f"{REPO}:{PRODUCTION}"] == B


def test_reconcile_retags_what_a_killed_move_left_behind(tmp_path: Path) -> None:
    engine = Engine((A, B))
    killed: list[str] = []

    def die_after_the_store_write(point: str) -> None:
        if point == "after-store-write" and not killed:
            killed.append(point)
            raise KeyboardInterrupt  # the process dies between the truth and the tag

    mover = _mover(tmp_path, engine, die_after_the_store_write)
    _tested(mover, _record(A, n=1))
    mover.store.add_run(_record(B, n=2), move_pointer=LAST_GOOD)
    with pytest.raises(KeyboardInterrupt):
        promote(mover, A, reason="", force=False)
    assert mover.store.production() is not None and f"{REPO}:{PRODUCTION}" not in engine.tags
    assert engine.tags == {f"{REPO}:{LAST_GOOD}": B}  # the promote's own reconcile, before it moved
    assert reconcile(mover) == [f"repaired {REPO}:{PRODUCTION} -> {A[7:19]}"]
    assert engine.tags == {f"{REPO}:{PRODUCTION}": A, f"{REPO}:{LAST_GOOD}": B}
    assert reconcile(mover) == []  # nothing left to repair


def test_reconcile_warns_of_a_lost_image_and_refuses_another_states_repo(tmp_path: Path) -> None:
    engine = Engine((A,))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A))
    promote(mover, A, reason="", force=False)
    engine.on_engine.discard(A)
    del engine.tags[f"{REPO}:{PRODUCTION}"]
    (note,) = reconcile(mover)
    assert note.startswith(f"warning: the store's {PRODUCTION} image {A[7:19]} is gone from the engine")
    engine.foreign = "another-state"
    with pytest.raises(UsageError, match="used by another harness state"):
        reconcile(mover)


# The deploy loop: one state per poll, the clock moved only by the loop's own sleeps.

STARTING = ServiceState(status="running", health="starting", restarts=0, log_tail="loading\n")
HEALTHY = ServiceState(status="running", health="healthy", restarts=0, log_tail="ready\n")
UNHEALTHY = ServiceState(status="running", health="unhealthy", restarts=0, log_tail="a\nb\nc\nCUDA error\n")


class Service:
    """Plays `states[image]` one per poll; the last state repeats."""

    def __init__(self, states: dict[str, list[ServiceState]]) -> None:
        self.states = states
        self.deployed: list[tuple[str, dict[str, str]]] = []

    def replace_service(self, spec: ServiceSpec, image: str, *, project: str, labels: dict[str, str]) -> str:
        self.deployed.append((image, labels))
        return f"container-{len(self.deployed)}"

    def service_state(self, container_id: str) -> ServiceState:
        image = self.deployed[int(container_id.rsplit("-", 1)[1]) - 1][0]
        queue = self.states[image]
        return queue.pop(0) if len(queue) > 1 else queue[0]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _deployer(service: Service, clock: Clock, spec: ServiceSpec = SERVICE_SPEC, timeout_s: float = 30.0) -> Deployer:
    return Deployer(
        engine=service,
        spec=spec,
        project="prod",
        timeout_s=timeout_s,
        reporter=Steps(),
        sleep=clock.sleep,
        clock=clock,
    )


def _release(revision: int, image: str) -> Release:
    return release(revision, image, COMMITS[image])


def test_deploy_waits_for_the_health_check_then_reports_healthy(tmp_path: Path) -> None:
    service, clock = Service({A: [STARTING, STARTING, HEALTHY]}), Clock()
    report = deploy(_deployer(service, clock), _release(7, A))
    assert report.healthy and report.container == "container-1" and report.detail == "running, healthy"
    assert clock.sleeps == [1.0, 1.0]
    assert service.deployed == [(A, {"harness.release": "7", "harness.commit": COMMITS[A]})]


def test_without_a_health_check_running_is_healthy(tmp_path: Path) -> None:
    service, clock = Service({A: [ServiceState(status="running", health="", restarts=0, log_tail="")]}), Clock()
    report = deploy(_deployer(service, clock, dataclasses.replace(SERVICE_SPEC, health=None)), _release(1, A))
    assert report.healthy and report.detail == "running, up" and clock.sleeps == []


def test_a_service_that_never_turns_healthy_times_out_on_the_injected_clock(tmp_path: Path) -> None:
    service, clock = Service({A: [STARTING]}), Clock()
    report = deploy(_deployer(service, clock, timeout_s=5.0), _release(1, A))
    assert not report.healthy and report.detail == "timed out waiting for health; last log: loading"
    assert clock.sleeps == [1.0] * 5  # polled once a second until the deadline, then judged


@pytest.mark.parametrize(
    "broken",
    [UNHEALTHY, dataclasses.replace(STARTING, status="exited"), dataclasses.replace(STARTING, restarts=1)],
)
def test_a_broken_service_is_unhealthy_at_once(tmp_path: Path, broken: ServiceState) -> None:
    service, clock = Service({A: [broken]}), Clock()
    report = deploy(_deployer(service, clock), _release(1, A))
    assert not report.healthy and clock.sleeps == []


def test_an_unhealthy_promotion_is_rolled_back_automatically_and_redeployed(tmp_path: Path) -> None:
    engine = Engine((A, B))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A, n=1), _record(B, n=2))
    service, clock = Service({A: [HEALTHY], B: [STARTING, UNHEALTHY]}), Clock()
    d = _deployer(service, clock)
    release, message = promote_and_deploy(mover, d, A, reason="", force=False)
    assert release.revision == 1 and message == "service healthy on revision 1: running, healthy"
    with pytest.raises(DeployFailed) as info:
        promote_and_deploy(mover, d, B, reason="", force=False)
    assert "revision 2 did not turn healthy (running, unhealthy; last log: b | c | CUDA error)" in str(info.value)
    assert f"rolled back automatically to {A[7:19]} as revision 3: service healthy again" in str(info.value)
    assert [image for image, _ in service.deployed] == [A, B, A]
    assert _history(mover)[-1] == (3, "auto-rollback", A, 1)
    assert engine.tags[f"{REPO}:{PRODUCTION}"] == A


def test_an_unhealthy_first_release_has_nothing_to_roll_back_to(tmp_path: Path) -> None:
    engine = Engine((A,))
    mover = _mover(tmp_path, engine)
    _tested(mover, _record(A))
    service, clock = Service({A: [UNHEALTHY]}), Clock()
    first_fails = r"revision 1 did not turn healthy \(.*\) and there is nothing to roll back to"
    with pytest.raises(DeployFailed, match=first_fails):
        promote_and_deploy(mover, _deployer(service, clock), A, reason="", force=False)
    assert _history(mover) == [(1, "promote", A, 1)]  # kept: the history says what happened
