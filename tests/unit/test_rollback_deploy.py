"""rollback + deploy as one use case (harness/ops/deploy.py `rollback_and_deploy`), over fakes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import DeployFailed
from harness.ops.deploy import Deployer, rollback_and_deploy
from harness.ops.promote import RolledBack, promote
from harness.store import Store
from tests.unit.fakes import (
    SERVICE_SPEC,
    FakeBuilder,
    FakeServices,
    FakeUpstream,
    Quiet,
    healthy,
    image,
    mover,
    record,
    sha,
    unhealthy,
)

SPEC = dataclasses.replace(SERVICE_SPEC, image="harness-test/x:production")


def _two_releases(tmp_path: Path) -> tuple[Store, FakeBuilder, list[str]]:
    """Images A then B promoted (revisions 1 and 2), both with a PASS of the current suite."""
    store = Store(tmp_path / "state.db")
    builder = FakeBuilder({"harness-test/x:aaaa": image("a"), "harness-test/x:bbbb": image("b")})
    store.add_run(record(sha("a"), image("a"), "20260101-000001-aaaaa1"))
    store.add_run(record(sha("b"), image("b"), "20260101-000002-bbbbb2"))
    m = mover(store, builder, FakeUpstream(), tmp_path)
    for letter in "ab":
        promote(m, image(letter), reason="", force=False)
    return store, builder, []


def _deployer(services: FakeServices) -> Deployer:
    return Deployer(engine=services, spec=SPEC, project="p", timeout_s=60.0, reporter=Quiet(), sleep=lambda s: None)


def test_rollback_then_deploy_restores_the_earlier_image_and_serves_it(tmp_path: Path) -> None:
    store, builder, events = _two_releases(tmp_path)
    services = FakeServices([healthy()], events)
    heard: list[RolledBack] = []

    def moved(rolled: RolledBack) -> None:
        heard.append(rolled)
        events.append(f"moved to revision {rolled.release.revision}")

    m = mover(store, builder, FakeUpstream(), tmp_path)
    report = rollback_and_deploy(m, _deployer(services), to=None, reason="", force=False, moved=moved)
    assert report.healthy and report.container == "container-1"
    production = store.production()
    assert production is not None and (production.revision, production.action) == (3, "rollback")
    assert production.image_id == image("a") == builder.images["harness-test/x:production"]
    assert [r.release for r in heard] == [production]
    # The move is said before the deploy starts: a failing deploy can never hide it.
    assert events == ["moved to revision 3", f"deploy {image('a')}"]


def test_an_unhealthy_service_after_rollback_fails_and_production_stays_moved(tmp_path: Path) -> None:
    store, builder, events = _two_releases(tmp_path)
    services = FakeServices([unhealthy()], events)
    heard: list[RolledBack] = []
    m = mover(store, builder, FakeUpstream(), tmp_path)
    with pytest.raises(DeployFailed) as info:
        rollback_and_deploy(m, _deployer(services), to=None, reason="", force=False, moved=heard.append)
    assert "service not healthy on revision 3" in str(info.value) and "boom" in str(info.value)
    production = store.production()
    assert production is not None and production.revision == 3 and production.image_id == image("a")
    assert [r.release.revision for r in heard] == [3]
    assert services.deployed == [image("a")]  # no automatic second move: the user asked for this one
