"""Where a Swarm rollout of production stands (harness/rollout.py)."""

from __future__ import annotations

import pytest

from harness.rollout import Rollout, ServiceView, rollout


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
