"""reconcile on a fleet: the service checked against the store's production, rolled back in line
only with --deploy (harness/ops/reconcile.py `check_fleet`), over a typed fake of the service."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.compose import ServiceSpec
from harness.errors import EXIT_SKIP, DeployFailed, FleetOutOfLine
from harness.ops.deploy import promote_and_deploy
from harness.ops.fleet_deploy import FleetDeployer
from harness.ops.promote import Mover, promote
from harness.ops.reconcile import check_fleet
from harness.ports import FleetService
from harness.rollout import ServiceImage, ServiceView
from harness.store import Store
from tests.unit.fakes import SERVICE_SPEC, FakeBuilder, FakeUpstream, Quiet, image, mover, record, sha


def ref(letter: str) -> str:
    """How `_deployer`'s publish names image(letter) in the registry."""
    return f"reg:5000/x@sha256:{letter * 64}"


class Service:
    """The Swarm service: what its spec runs; a roll lands there (healthy unless `failing`)."""

    def __init__(self, failing: str = "") -> None:
        self.image, self.state, self.failing = "", "", failing
        self.rolled: list[str] = []

    def roll(self, spec: ServiceSpec, image: str, labels: dict[str, str]) -> None:
        self.rolled.append(image)
        self.image, self.state = image, "paused" if image == self.failing else "completed"

    def view(self, image: str) -> ServiceView:
        running = 3 if image == self.image and self.state == "completed" else 0
        return ServiceView(update_state=self.state, update_message="", replicas=3, running=running)

    def current(self) -> ServiceImage | None:
        return ServiceImage(image=self.image, view=self.view(self.image)) if self.image else None


def _deployer(service: FleetService) -> FleetDeployer:
    return FleetDeployer(
        service=service,
        spec=dataclasses.replace(SERVICE_SPEC, image="harness-test/x:production"),
        name="w",
        publish=lambda release: f"reg:5000/x@sha256:{release.image_id[7:]}",
        timeout_s=5.0,
        reporter=Quiet(),
        sleep=lambda s: None,
    )


def _production_b(tmp_path: Path, service: Service) -> Mover:
    """A then B promoted and deployed to `service`: production is revision 2, B's digest."""
    store = Store(tmp_path / "state.db")
    builder = FakeBuilder({f"harness-test/x:{x * 4}": image(x) for x in "ab"})
    for n, letter in enumerate("ab", 1):
        store.add_run(record(sha(letter), image(letter), f"20260101-00000{n}-{letter * 5}{n}"))
    m = mover(store, builder, FakeUpstream(), tmp_path)
    for letter in "ab":
        promote_and_deploy(m, _deployer(service), image(letter), reason="", force=False)
    return m


def test_a_service_on_productions_digest_is_in_line(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    line = check_fleet(m, service, "w", deployer=None)
    assert line == "fleet: service w runs production (revision 2, digest bbbbbbbbbbbb): 3/3 tasks on it"


def test_a_service_on_another_digest_is_said_with_both_and_exits_125_without_deploy(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    service.image = ref("a")  # someone rolled it by hand
    with pytest.raises(FleetOutOfLine) as info:
        check_fleet(m, service, "w", deployer=None)
    said = str(info.value)
    assert "service w runs digest aaaaaaaaaaaa (revision 1's image)" in said
    assert "production is revision 2 (bbbbbbbbbbbb, digest bbbbbbbbbbbb)" in said
    assert "`harness reconcile --deploy`" in said and info.value.exit_code == EXIT_SKIP
    assert service.rolled == [ref("a"), ref("b")]  # nothing rolled: only said


def test_deploy_rolls_the_service_to_productions_digest(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    service.image = ref("a")
    line = check_fleet(m, service, "w", deployer=_deployer(service))
    assert service.rolled[-1] == ref("b") and service.image == ref("b")
    assert "repaired: service w on production's revision 2" in line
    assert [r.revision for r in m.store.releases()] == [1, 2]  # production did not move
    assert check_fleet(m, service, "w", deployer=None).startswith("fleet: service w runs production")


def test_production_never_deployed_is_deployed_and_its_digest_recorded(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    m.builder.images["harness-test/x:cccc"] = image("c")  # type: ignore[attr-defined]
    m.store.add_run(record(sha("c"), image("c"), "20260101-000003-ccccc3"))
    promote(m, image("c"), reason="", force=False)  # without --deploy
    with pytest.raises(FleetOutOfLine, match=r"revision 3 .* was never deployed to the fleet"):
        check_fleet(m, service, "w", deployer=None)
    check_fleet(m, service, "w", deployer=_deployer(service))
    assert service.image == ref("c")
    production = m.store.production()
    assert production is not None and production.image_digest == f"sha256:{'c' * 64}"


def test_a_missing_service_is_deployed_only_with_deploy(tmp_path: Path) -> None:
    m = _production_b(tmp_path, Service())
    gone = Service()
    with pytest.raises(FleetOutOfLine, match="the fleet has no service w"):
        check_fleet(m, gone, "w", deployer=None)
    check_fleet(m, gone, "w", deployer=_deployer(gone))
    assert gone.rolled == [ref("b")]


def test_no_production_and_no_service_is_fine_and_a_service_without_production_is_not(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    m = mover(store, FakeBuilder({}), FakeUpstream(), tmp_path)
    assert check_fleet(m, Service(), "w", deployer=None) == "fleet: no production release and no service w yet"
    stray = Service()
    stray.image = ref("a")
    with pytest.raises(FleetOutOfLine, match="the store has no production release"):
        check_fleet(m, stray, "w", deployer=_deployer(stray))  # nothing to deploy: said, not repaired
    assert stray.rolled == []


def test_a_stuck_rollout_of_productions_own_digest_is_not_deployed_again(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    service.state = "paused"
    with pytest.raises(FleetOutOfLine, match=r"its update paused.*`harness rollback --deploy`"):
        check_fleet(m, service, "w", deployer=_deployer(service))
    assert service.rolled == [ref("a"), ref("b")]  # rolling the failing digest again would not help


def test_a_repair_that_does_not_turn_healthy_fails_and_production_stays(tmp_path: Path) -> None:
    service = Service()
    m = _production_b(tmp_path, service)
    service.image, service.failing = ref("a"), ref("b")
    with pytest.raises(DeployFailed, match=r"did not turn healthy.*production is unchanged"):
        check_fleet(m, service, "w", deployer=_deployer(service))
    assert [r.revision for r in m.store.releases()] == [1, 2]
