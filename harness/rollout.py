"""Production on a fleet: how a Swarm rollout of the worker service stands (pure).

Swarm rolls the service to a new digest by its `update_config` and, with `failure_action:
rollback`, back on its own when new tasks fail their health check within the monitor window.
harness reads where that stands: the service's UpdateStatus.State and how many of its tasks run
the digest asked for, healthy. Swarm's words for the update states are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Rollout = Literal["converged", "updating", "rolled_back", "paused", "failed"]

UPDATING = frozenset({"updating", "rollback_started"})  # still moving (forward, or back)
ROLLED_BACK = frozenset({"rollback_completed"})
PAUSED = frozenset({"paused", "rollback_paused"})  # Swarm stopped: failure_action pause, or a rollback that failed


@dataclass(frozen=True, kw_only=True)
class ServiceView:
    """What the manager says of the service, read by the adapter."""

    update_state: str  # UpdateStatus.State ("" before any update: a new service)
    update_message: str
    replicas: int  # asked
    running: int  # tasks running the digest asked for (and healthy, when there is a health check)


def rollout(view: ServiceView) -> Rollout:
    """Where the rollout to the digest asked for stands."""
    if view.update_state in ROLLED_BACK:
        return "rolled_back"
    if view.update_state in PAUSED:
        return "paused"
    if view.update_state in UPDATING:
        return "updating"
    if view.update_state not in ("", "completed"):
        return "failed"  # a state this harness does not know: never taken for success
    return "converged" if view.running >= view.replicas else "updating"
