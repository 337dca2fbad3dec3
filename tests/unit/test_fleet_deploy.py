"""Production on a fleet (harness/ops/fleet_deploy.py) through promote_and_deploy, over fakes.

A rollout that converges is production; one Swarm rolled back by itself is recorded as an
automatic rollback and deployed nothing again; one that paused or timed out is rolled back by
harness (the previous release's digest rolled out again). Each release records the digest its
deploy rolled the service to (an automatic rollback Swarm made: the digest Swarm put back)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.compose import ServiceSpec
from harness.errors import DeployFailed
from harness.model import Release, Verdict
from harness.ops.deploy import promote_and_deploy, rollback_and_deploy
from harness.ops.fleet_deploy import FleetDeployer
from harness.ops.promote import promote
from harness.rollout import ServiceImage, ServiceView
from harness.store import Store
from tests.unit.fakes import SERVICE_SPEC, FakeBuilder, FakeUpstream, Quiet, image, mover, record, sha

SPEC = dataclasses.replace(SERVICE_SPEC, image="harness-test/x:production")


class Swarm:
    """A FleetService: each roll answers with the next planned rollout state."""

    def __init__(self, states: list[str]) -> None:
        self.states, self.state = states, ""
        self.rolled: list[str] = []

    def roll(self, spec: ServiceSpec, image: str, labels: dict[str, str]) -> None:
        self.rolled.append(image)
        self.state = self.states.pop(0)

    def view(self, image: str) -> ServiceView:
        return ServiceView(
            update_state=self.state,
            update_message="task unhealthy" if "rollback" in self.state else "",
            replicas=3,
            running=3,
        )

    def current(self) -> ServiceImage | None:
        return ServiceImage(image=self.rolled[-1], view=self.view(self.rolled[-1])) if self.rolled else None


def _deployer(swarm: Swarm) -> FleetDeployer:
    return FleetDeployer(
        service=swarm,
        spec=SPEC,
        name="harness-worker",
        publish=lambda release: f"reg:5000/x@sha256:{release.image_id[7:]}",
        timeout_s=5.0,
        reporter=Quiet(),
        sleep=lambda s: None,
    )


def _store(tmp_path: Path) -> tuple[Store, FakeBuilder]:
    store = Store(tmp_path / "state.db")
    builder = FakeBuilder({f"harness-test/x:{x * 4}": image(x) for x in "abc"})
    store.add_run(record(sha("a"), image("a"), "20260101-000001-aaaaa1"))
    store.add_run(record(sha("b"), image("b"), "20260101-000002-bbbbb2"))
    return store, builder


def digest(letter: str) -> str:
    """The digest `_deployer`'s publish gives image(letter)."""
    return "sha256:" + letter * 64


def _digests(store: Store) -> list[tuple[int, str, str]]:
    return [(r.revision, r.action, r.image_digest) for r in store.releases()]


def test_a_converged_rollout_is_production(tmp_path: Path) -> None:
    store, builder = _store(tmp_path)
    swarm = Swarm(["completed"])
    release, detail = promote_and_deploy(
        mover(store, builder, FakeUpstream(), tmp_path), _deployer(swarm), image("a"), reason="", force=False
    )
    assert release.revision == 1 and swarm.rolled == [f"reg:5000/x@sha256:{image('a')[7:]}"]
    assert "3/3 tasks on it, update completed" in detail
    assert release.image_digest == digest("a") and _digests(store) == [(1, "promote", digest("a"))]


def test_a_rollout_swarm_rolled_back_is_an_automatic_rollback_deploying_nothing_again(tmp_path: Path) -> None:
    store, builder = _store(tmp_path)
    m = mover(store, builder, FakeUpstream(), tmp_path)
    swarm = Swarm(["completed", "rollback_completed"])
    promote_and_deploy(m, _deployer(swarm), image("a"), reason="", force=False)
    with pytest.raises(DeployFailed, match="the orchestrator had already put it back"):
        promote_and_deploy(m, _deployer(swarm), image("b"), reason="", force=False)
    releases: list[Release] = store.releases()
    assert [(r.revision, r.action, r.image_id) for r in releases][-1] == (3, "auto-rollback", image("a"))
    assert len(swarm.rolled) == 2  # nothing rolled again: Swarm serves the old digest already
    # The failed revision's digest is the one rolled to; the automatic rollback's, the one Swarm put back.
    assert _digests(store) == [
        (1, "promote", digest("a")),
        (2, "promote", digest("b")),
        (3, "auto-rollback", digest("a")),
    ]


def test_a_rollback_swarm_made_to_a_release_known_to_be_bad_is_rolled_on_to_the_one_harness_restores(
    tmp_path: Path,
) -> None:
    store, builder = _store(tmp_path)
    store.add_run(record(sha("b"), image("b"), "20260101-000003-bbbbb3", Verdict.FAIL))  # B is known bad now
    store.add_run(record(sha("c"), image("c"), "20260101-000004-ccccc4"))
    m = mover(store, builder, FakeUpstream(), tmp_path)
    swarm = Swarm(["completed", "completed", "rollback_completed", "completed"])
    promote_and_deploy(m, _deployer(swarm), image("a"), reason="", force=False)
    promote_and_deploy(m, _deployer(swarm), image("b"), reason="hotfix", force=True)
    # Swarm puts B back (its previous spec); harness's automatic rollback passes B over for A.
    with pytest.raises(DeployFailed, match="service healthy again"):
        promote_and_deploy(m, _deployer(swarm), image("c"), reason="", force=False)
    assert swarm.rolled[-1] == f"reg:5000/x@{digest('a')}"
    assert _digests(store)[-1] == (4, "auto-rollback", digest("a"))


def test_a_paused_rollout_is_rolled_back_by_harness(tmp_path: Path) -> None:
    store, builder = _store(tmp_path)
    m = mover(store, builder, FakeUpstream(), tmp_path)
    promote(m, image("a"), reason="", force=False)
    swarm = Swarm(["paused", "completed"])
    with pytest.raises(DeployFailed, match=r"rollout paused.*service healthy again"):
        promote_and_deploy(m, _deployer(swarm), image("b"), reason="", force=False)
    assert swarm.rolled[-1] == f"reg:5000/x@sha256:{image('a')[7:]}"
    assert store.releases()[-1].action == "auto-rollback"
    assert _digests(store)[-1] == (3, "auto-rollback", digest("a"))  # harness rolled it: its digest


def test_a_rollback_deployed_to_the_fleet_records_its_digest(tmp_path: Path) -> None:
    store, builder = _store(tmp_path)
    m = mover(store, builder, FakeUpstream(), tmp_path)
    for letter in "ab":
        promote(m, image(letter), reason="", force=False)  # not deployed: no digest
    report = rollback_and_deploy(m, _deployer(Swarm(["completed"])), to=None, reason="", force=False)
    assert report.healthy and report.image_ref == f"reg:5000/x@{digest('a')}"
    assert _digests(store) == [(1, "promote", ""), (2, "promote", ""), (3, "rollback", digest("a"))]
