"""Where a Swarm rollout of production stands, and whether the service runs the store's
production (harness/rollout.py)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.model import Release
from harness.rollout import (
    FINE,
    REPAIRABLE,
    FleetState,
    Rollout,
    ServiceImage,
    ServiceView,
    fleet_check,
    rollout,
)
from tests.unit.fakes import image, release, sha


@pytest.mark.parametrize(
    ("state", "running", "expected"),
    [
        ("", 3, "converged"),  # a new service, every replica up
        ("", 2, "updating"),  # a new service still starting its tasks
        ("completed", 3, "converged"),
        ("completed", 1, "updating"),  # Swarm done, tasks not yet healthy
        ("updating", 3, "updating"),
        ("rollback_started", 0, "updating"),
        ("rollback_completed", 3, "rolled_back"),
        ("paused", 1, "paused"),
        ("rollback_paused", 1, "paused"),
        ("something_new", 3, "failed"),  # unknown: never taken for success
    ],
)
def test_rollout_states(state: str, running: int, expected: Rollout) -> None:
    assert rollout(ServiceView(update_state=state, update_message="", replicas=3, running=running)) == expected


def _rel(revision: int, letter: str, digest: str = "") -> Release:
    return dataclasses.replace(release(revision, image(letter), sha(letter)), image_digest=digest)


def _on(ref: str, state: str = "completed", running: int = 3) -> ServiceImage:
    return ServiceImage(image=ref, view=ServiceView(update_state=state, update_message="", replicas=3, running=running))


A, B = "sha256:" + "1" * 64, "sha256:" + "2" * 64
HISTORY = [_rel(1, "a", A), _rel(2, "b", B)]


@pytest.mark.parametrize(
    ("service", "releases", "state", "said"),
    [
        (None, [], "in_line", "no production release and no service w yet"),
        (_on(f"r/x@{A}"), [], "orphan", "the store has no production release"),
        (None, HISTORY, "missing", "production is revision 2 (bbbbbbbbbbbb) but the fleet has no service w"),
        (_on(f"r/x@{B}"), HISTORY, "in_line", "service w runs production (revision 2, digest 222222222222): 3/3"),
        (_on(f"r/x@{B}", "rollback_completed"), HISTORY, "in_line", "Swarm rolled its last update back"),
        (_on(f"r/x@{B}", "updating", 1), HISTORY, "rolling", "rolling out production (revision 2"),
        (_on(f"r/x@{B}", "paused", 2), HISTORY, "stuck", "(its update paused): 2/3 tasks on it"),
        (_on(f"r/x@{B}", "completed", 2), HISTORY, "short", "but only 2/3 tasks on it"),
        (
            _on(f"r/x@{A}", "rollback_completed"),
            HISTORY,
            "differs",
            "service w runs digest 111111111111 (revision 1's image) (its update rollback_completed), "
            "but production is revision 2 (bbbbbbbbbbbb, digest 222222222222)",
        ),
        (_on("r/x:latest"), HISTORY, "differs", "service w runs r/x:latest (no digest)"),
        # Production moved without --deploy: no digest of its image was ever recorded.
        (_on(f"r/x@{A}"), [_rel(1, "a", A), _rel(2, "b")], "undeployed", "was never deployed to the fleet"),
        # ... or moved without --deploy back to an image a deploy recorded: that digest is its.
        (_on(f"r/x@{A}"), [*HISTORY, _rel(3, "a")], "in_line", "runs production (revision 3, digest 111111111111)"),
    ],
)
def test_the_service_against_the_stores_production(
    service: ServiceImage | None, releases: list[Release], state: FleetState, said: str
) -> None:
    found = fleet_check(service, releases, "w")
    assert (found.state, said in found.line) == (state, True), found.line
    # Only what a deploy of production fixes is repairable; every other finding but a fine one says what to do.
    assert bool(found.todo) == (state not in FINE)
    assert ("reconcile --deploy" in found.todo) == (state in REPAIRABLE)
